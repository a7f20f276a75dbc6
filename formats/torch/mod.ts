/**
 * PyTorch checkpoints without running their pickles: read zip (torch ≥ 1.6)
 * and legacy `.pt/.pth/.bin/.ckpt` files and plain pickles of numpy arrays as
 * lazy tensors (views gathered, shared storages kept apart or deduplicated,
 * torch.ao quantized tensors as int8 codes with scales and zero points),
 * write zip state dicts that `torch.load(weights_only=True)` accepts, and scan
 * any file (zips, 7z archives, pickles of any protocol) for the Python
 * globals its pickles would import, judged as torch 2.x's weights-only loader
 * would judge it.
 *
 * @example
 * ```ts ignore
 * import { openTorch, scanCheckpoint, writeTorch } from "./mod.ts";
 * import { fileSource } from "../../lib/byte_source.ts";
 * import { fileSink, withSink } from "../../lib/byte_sink.ts";
 *
 * const report = await scanCheckpoint(await fileSource("model.pt"));
 * console.log(report.verdict, report.globals.map((g) => g.name));
 *
 * const model = await openTorch(await fileSource("model.pt"));
 * await withSink(await fileSink("copy.pt"), (sink) => writeTorch(model, sink));
 * await model.close();
 * ```
 *
 * @module
 */

export * from "./open_torch.ts";
export * from "./write_torch.ts";
export * from "./scan_checkpoint.ts";
export * from "./format.ts";
