// `ckpt convert|quantize IN.safetensors.index.json OUT.safetensors.index.json --jobs N`:
// the flag checks and the one line printed around formats/convert_shards.ts.

import type { ConvertSpec } from "../lib/convert_spec.ts";
import { UsageError } from "../lib/errors.ts";
import { convertShards, serialRunner, workerRunner } from "../formats/convert_shards.ts";
import { EXIT } from "./_command.ts";

/** Parse `--jobs N|auto` (auto: one per core). */
export function parseJobs(text: string | undefined): number {
  const jobsText = text ?? "auto";
  const jobs = jobsText === "auto" ? navigator.hardwareConcurrency || 1 : Number(jobsText);
  if (!Number.isInteger(jobs) || jobs < 1) {
    throw new UsageError(`Invalid --jobs '${jobsText}': use a positive integer or 'auto'`);
  }
  return jobs;
}

/** Convert every shard with `spec`, `--jobs` at a time, and print one line unless quiet. */
export async function convertShardsCommand(
  input: string,
  output: string,
  values: Record<string, unknown>,
  spec: ConvertSpec,
): Promise<number> {
  const text = (key: string) => (typeof values[key] === "string" ? values[key] as string : undefined);
  const jobs = parseJobs(text("jobs"));
  if (!/\.index\.json$/i.test(input)) {
    throw new UsageError(`--jobs needs a sharded input (a .safetensors.index.json), not '${input}'`);
  }
  if (text("max-shard-size") !== undefined) {
    throw new UsageError(
      "--jobs keeps the input's shards (one output shard per input shard); drop --max-shard-size",
    );
  }
  const started = performance.now();
  const result = await convertShards(input, output, {
    runner: jobs === 1 ? serialRunner() : workerRunner(jobs),
    spec,
  });
  if (values.quiet !== true) {
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    console.log(
      `${output}: ${result.shards.length} shards, ${result.tensors} tensors, ${result.bytes} bytes of tensor data written in ${seconds} s with ${jobs} jobs`,
    );
  }
  return EXIT.ok;
}
