/**
 * Python pickles without Python: a virtual machine for protocols 0-5 that
 * builds plain values and never imports or calls anything, an allowlist of
 * globals (what `torch.load(weights_only=True)` accepts, plus numpy arrays),
 * a scanner that lists every global a file would import, and a protocol-2
 * writer.
 *
 * @example
 * ```ts
 * import { loadPickle, scanPickle } from "./mod.ts";
 * import { UnsafePickleError } from "../../lib/errors.ts";
 *
 * const evil = new TextEncoder().encode("cos\nsystem\n(S'echo hi'\ntR.");
 * console.log(scanPickle(evil).verdict); // dangerous
 * try {
 *   loadPickle(evil);
 * } catch (e) {
 *   if (e instanceof UnsafePickleError) console.log(e.globals); // [ "os.system" ]
 * }
 * // With permissive, the call is kept as an inert record.
 * console.log(loadPickle(evil, { permissive: true }).placeholders); // [ "os.system" ]
 * ```
 *
 * @module
 */

export * from "./values.ts";
export * from "./allowlist.ts";
export * from "./load_pickle.ts";
export * from "./scan_pickle.ts";
export * from "./dump_pickle.ts";
export * from "./opcodes.ts";
export * from "./sniff_pickle.ts";
