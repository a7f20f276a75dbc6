/**
 * Model reports as a library: {@linkcode collectReport} gathers a tensor
 * file's sizes, weight histograms and (against a changed copy) per-tensor
 * error, one tensor at a time; {@linkcode renderReportHtml} renders that as
 * one self-contained HTML page. `ckpt report` is these two calls.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectReport, renderReportHtml } from "./mod.ts";
 * import { tensorFile, tensorFromBytes } from "../lib/tensor.ts";
 * const w = new Float32Array(256).map((_, i) => Math.cos(i));
 * const file = tensorFile({ format: "memory", metadata: {}, tensors: [tensorFromBytes("w", "F32", [256], new Uint8Array(w.buffer))] });
 * const html = renderReportHtml(await collectReport(file, undefined, { inputName: "w.safetensors" }));
 * assert.match(html, /^<!doctype html>/i);
 * assert.doesNotMatch(html, /<script/i);
 * ```
 *
 * @module
 */

export * from "./collect_report.ts";
export * from "./render_report_html.ts";
