/**
 * `deno task fuzz`: mutation-fuzz every ckpt decoder.
 *
 * ```sh
 * deno task fuzz --seconds 60                 # all targets, one minute
 * deno task fuzz --format gguf --count 5000   # one target, a fixed count
 * deno task fuzz --replay tests/data/fuzz/findings/gguf-0123abcd4567.bin
 * ```
 *
 * Options: `--seed N` (default 1), `--count N` inputs per target, `--seconds S`
 * (default 60 when no count is given), `--format NAME` (repeatable),
 * `--timeout MS` per input (default 2000), `--out DIR` where findings go
 * (default tests/data/fuzz/findings), `--no-minimize`, `--replay FILE…`.
 * Exit code 1 when there are findings.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { checkInput, FuzzExecutor, isFinding, runFuzz, signatureOf } from "./run_fuzz.ts";

const REPO = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

async function replay(files: string[], format: string | undefined, timeoutMs: number): Promise<number> {
  const executor = new FuzzExecutor();
  let bad = 0;
  try {
    for (const file of files) {
      const base = file.slice(file.lastIndexOf("/") + 1);
      const target = format ?? base.slice(0, base.lastIndexOf("-"));
      const outcome = await checkInput(executor, target, await Deno.readFile(file), timeoutMs);
      if (isFinding(outcome)) bad++;
      console.log(`${file}: ${outcome.status} ${outcome.error} ${outcome.message}`);
      if (isFinding(outcome)) console.log(`  ${signatureOf(target, outcome)}\n${outcome.stack}`);
    }
  } finally {
    executor.stop();
  }
  return bad > 0 ? 1 : 0;
}

async function main(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      seed: { type: "string", default: "1" },
      count: { type: "string" },
      seconds: { type: "string" },
      format: { type: "string", multiple: true },
      timeout: { type: "string", default: "2000" },
      out: { type: "string", default: `${REPO}/tests/data/fuzz/findings` },
      "no-minimize": { type: "boolean" },
      verbose: { type: "boolean", short: "v" },
      replay: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(
      "Usage: deno task fuzz [--seed N] [--count N] [--seconds S] [--format NAME]... [--timeout MS] [--out DIR] [--no-minimize]\n" +
        "       deno task fuzz --replay FILE... [--format NAME]",
    );
    return 0;
  }
  const timeoutMs = Number(values.timeout);
  if (values.replay) return await replay(positionals, values.format?.[0], timeoutMs);
  const count = values.count !== undefined ? Number(values.count) : undefined;
  const seconds = values.seconds !== undefined
    ? Number(values.seconds)
    : count === undefined
    ? 60
    : undefined;
  const report = await runFuzz({
    seed: Number(values.seed),
    count,
    seconds,
    targets: values.format,
    timeoutMs,
    minimize: !values["no-minimize"],
    findingsDir: values.out,
    log: (line) => console.log(line),
  });
  console.log(
    `\n${"target".padEnd(14)}${"seeds".padStart(7)}${"runs".padStart(9)}${"ok".padStart(8)}${
      "rejected".padStart(10)
    }${"findings".padStart(10)}`,
  );
  for (const s of report.stats) {
    console.log(
      `${s.target.padEnd(14)}${String(s.seeds).padStart(7)}${String(s.runs).padStart(9)}${
        String(s.ok).padStart(8)
      }${String(s.rejected).padStart(10)}${String(s.findings).padStart(10)}`,
    );
  }
  if (values.verbose) {
    for (const s of report.stats) {
      console.log(`\n${s.target}: most frequent rejections`);
      const top = [...s.reasons].sort((a, b) => b[1] - a[1]).slice(0, 12);
      for (const [reason, n] of top) console.log(`  ${String(n).padStart(6)}  ${reason}`);
    }
  }
  if (report.skipped.length) console.log(`skipped (no seeds): ${report.skipped.join(", ")}`);
  console.log(`${report.findings.length} distinct findings in ${report.seconds.toFixed(1)} s`);
  for (const f of report.findings) {
    console.log(`  ${f.signature}  ${f.file ?? ""}  ${f.outcome.message.slice(0, 160)}`);
  }
  return report.findings.length > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
