/**
 * Open any supported tensor file — a path or an HTTP(S) URL — by sniffing its
 * first bytes (never trusting its extension).
 *
 * @module
 */

import { type ByteSource, bytesSource, fileSource, urlSource } from "../lib/byte_source.ts";
import { FormatError } from "../lib/errors.ts";
import type { OpenOptions } from "../lib/format.ts";
import type { OpenTorchOptions } from "./torch/open_torch.ts";
import type { TensorFile } from "../lib/tensor.ts";
import { FORMATS } from "./registry.ts";

const SNIFF_BYTES = 65536;

/**
 * Options for {@linkcode openTensorFile}: the ones every format takes, and
 * each format's own under its name, used only when that format opens the
 * input.
 */
export interface OpenTensorFileOptions extends OpenOptions {
  /** For PyTorch checkpoints and pickles (`torch` and `pickle` formats). @default {} */
  torch?: Omit<OpenTorchOptions, keyof OpenOptions>;
}

/** The options the format called `name` opens with. */
function optionsFor(name: string, options: OpenTensorFileOptions): OpenOptions {
  const common: OpenOptions = options.maxHeaderBytes !== undefined
    ? { maxHeaderBytes: options.maxHeaderBytes }
    : {};
  if (name === "torch" || name === "pickle") return { ...common, ...options.torch };
  return common;
}

/**
 * Open a tensor file of any shipped format. URLs are read with Range requests.
 *
 * @example
 * ```ts ignore
 * import { openTensorFile } from "./open_tensor_file.ts";
 * const file = await openTensorFile("model.safetensors");
 * console.log(file.format, file.tensors.length);
 * await file.close();
 * ```
 */
export async function openTensorFile(
  input: string | URL | Uint8Array,
  options: OpenTensorFileOptions = {},
): Promise<TensorFile> {
  if (typeof input === "string" && !/^https?:\/\//i.test(input)) {
    for (const format of FORMATS) {
      if (format.openPath && format.claimsPath?.(input)) {
        return await format.openPath(input, optionsFor(format.name, options));
      }
    }
  }
  const source = input instanceof Uint8Array
    ? bytesSource(input)
    : typeof input === "string" && !/^https?:\/\//i.test(input)
    ? await fileSource(input)
    : await urlSource(input);
  try {
    return await openSource(source, options);
  } catch (error) {
    await source.close();
    throw error;
  }
}

/**
 * Open a tensor file from a byte source, sniffing its format.
 *
 * @example
 * ```ts ignore
 * import { openSource } from "./open_tensor_file.ts";
 * import { bytesSource } from "../lib/byte_source.ts";
 * const file = await openSource(bytesSource(bytes));
 * ```
 */
export async function openSource(
  source: ByteSource,
  options: OpenTensorFileOptions = {},
): Promise<TensorFile> {
  const head = await source.read(0, Math.min(SNIFF_BYTES, source.size));
  for (const format of FORMATS) {
    if (format.sniff(head, source.size)) return await format.open(source, optionsFor(format.name, options));
  }
  throw new FormatError(
    `Cannot tell the format of ${source.name}: its first bytes match none of ${
      FORMATS.map((f) => f.name).join(", ")
    }`,
    { offset: 0 },
  );
}
