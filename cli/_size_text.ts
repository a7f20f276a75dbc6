/**
 * The size analysis as `ckpt inspect` prints it.
 *
 * @module
 */

import { formatTable } from "./_output.ts";
import { type SizedTensor, type SizeReport, sizeReport, TENSOR_ROLES } from "../lib/size_report.ts";
import { formatBytes, formatCount } from "../lib/units.ts";

function percent(value: number | null): string {
  return value === null ? "" : `${(value * 100).toFixed(1)}%`;
}

/**
 * Lines describing a size report: bytes by dtype, the lower bound against
 * the file, groups by role with their share of the file, and what shrinking
 * would save.
 *
 * @example
 * ```ts ignore
 * import { formatSizeLines } from "./_size_text.ts";
 * console.log(formatSizeLines(sizeReport(file.tensors, file.fileBytes)).join("\n"));
 * ```
 */
export function formatSizeLines(size: SizeReport): string[] {
  const lines = ["", "size"];
  const rows: string[][] = Object.entries(size.byDtype).map(([dtype, d]) => [
    `  ${dtype}`,
    `${d.tensors} tensors`,
    `${formatCount(d.parameters)} parameters`,
    formatBytes(d.bytes),
  ]);
  rows.push(["  lower bound", "", "Σ elements × bytes", formatBytes(size.lowerBoundBytes)]);
  if (size.fileBytes !== null) {
    rows.push(["  file", "", "", formatBytes(size.fileBytes)]);
    rows.push([
      "  overhead",
      "",
      size.overheadPercent === null ? "" : `${size.overheadPercent.toFixed(2)}% of the file`,
      `${formatBytes(size.overheadBytes!)} (${size.overheadBytes})`,
    ]);
  }
  lines.push(formatTable(rows, { align: ["left", "right", "right", "right"] }));
  lines.push("", "groups");
  lines.push(formatTable(
    TENSOR_ROLES.map((role) => {
      const g = size.groups[role];
      return [`  ${role}`, `${g.tensors} tensors`, formatBytes(g.bytes), percent(g.share)];
    }),
    { align: ["left", "right", "right", "right"] },
  ));
  const opt = size.groups.optimizer;
  const data = TENSOR_ROLES.reduce((sum, role) => sum + size.groups[role].bytes, 0);
  if (opt.bytes > 0 && data > 0) {
    // Said in words: the share of the tensor data (for TensorFlow, the data files) that is optimizer state.
    const kind = size.optimizers?.length ? ` (${size.optimizers.join(", ")} slots)` : "";
    lines.push(
      "",
      `optimizer state${kind}: ${opt.tensors} tensors, ${formatBytes(opt.bytes)}, ${
        ((opt.bytes / data) * 100).toFixed(1)
      }% of the tensor data; stripping it leaves ${formatBytes(data - opt.bytes)}`,
    );
  }
  const s = size.savings;
  const parts = [
    ...(s.stripOptimizer > 0 ? [`stripping the optimizer saves ${formatBytes(s.stripOptimizer)}`] : []),
    `casting weights to F16/BF16 saves ${formatBytes(s.F16)}`,
    `int8 ${formatBytes(s.int8)}`,
    `4-bit ${formatBytes(s["4bit"])}`,
  ];
  lines.push("", `savings: ${parts.join("; ")}`);
  return lines;
}

/**
 * The size analysis fields `ckpt inspect --json` adds to its object:
 * lowerBoundBytes, overheadBytes, overheadPercent, byDtype, groups, savings.
 *
 * @example
 * ```ts ignore
 * import { inspectSizeFields } from "./_size_text.ts";
 * const fields = inspectSizeFields(file.tensors, file.fileBytes);
 * ```
 */
export function inspectSizeFields(
  tensors: readonly SizedTensor[],
  fileBytes: number | undefined,
): Omit<SizeReport, "parameters" | "fileBytes"> {
  const { parameters: _p, fileBytes: _f, ...fields } = sizeReport(tensors, fileBytes);
  return fields;
}

/** Lines for an inspect report that carries the size fields; none when it does not. */
export function formatInspectSizeLines(report: Record<string, unknown>): string[] {
  return "groups" in report && "byDtype" in report ? formatSizeLines(report as unknown as SizeReport) : [];
}
