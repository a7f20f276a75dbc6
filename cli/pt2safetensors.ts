/**
 * Convert one PyTorch checkpoint to safetensors, streaming each storage
 * straight from the zip into the output (no pickle code runs):
 *
 * ```sh
 * deno run --allow-read --allow-write cli/pt2safetensors.ts model.pt model.safetensors
 * ```
 *
 * Exit codes: 0 done, 2 bad input or usage (one line on stderr, no output file).
 *
 * @module
 */

import { fileSink, withSink } from "../lib/byte_sink.ts";
import { fileSource } from "../lib/byte_source.ts";
import { UsageError } from "../lib/errors.ts";
import { writeSafetensors } from "../formats/safetensors/write_safetensors.ts";
import { openTorch } from "../formats/torch/open_torch.ts";
import { reportError } from "./_command.ts";

/**
 * Convert `input` (.pt/.pth/.bin/.ckpt or a numpy pickle) to `output` (safetensors).
 *
 * @example
 * ```ts ignore
 * import { pt2safetensors } from "./pt2safetensors.ts";
 * await pt2safetensors("model.pt", "model.safetensors");
 * ```
 */
export async function pt2safetensors(input: string, output: string): Promise<number> {
  const file = await openTorch(await fileSource(input));
  try {
    await withSink(
      await fileSink(output, { protect: [input] }),
      (sink) =>
        writeSafetensors({ metadata: { format: "pt", ...file.metadata }, tensors: file.tensors }, sink),
    );
    return file.tensors.length;
  } finally {
    await file.close();
  }
}

if (import.meta.main) {
  try {
    if (Deno.args.length !== 2) throw new UsageError("Usage: pt2safetensors.ts IN.pt OUT.safetensors");
    const count = await pt2safetensors(Deno.args[0], Deno.args[1]);
    console.log(`${Deno.args[1]}: ${count} tensors`);
  } catch (error) {
    Deno.exit(reportError("pt2safetensors", error));
  }
}
