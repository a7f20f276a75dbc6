/**
 * The globals a pickle may name: what `torch.load(weights_only=True)` accepts
 * for tensors and state dicts, plus numpy's array reconstruction. Names are
 * `module.name` strings after Python 3's renaming of Python 2 modules.
 *
 * @module
 */

const STORAGE_TYPES = [
  "Double",
  "Float",
  "Half",
  "BFloat16",
  "Long",
  "Int",
  "Short",
  "Char",
  "Byte",
  "Bool",
  "ComplexFloat",
  "ComplexDouble",
  "QUInt8",
  "QInt8",
  "QInt32",
  "QUInt4x2",
  "QUInt2x4",
  "UInt16",
  "UInt32",
  "UInt64",
  "Float8_e4m3fn",
  "Float8_e5m2",
  "Float8_e4m3fnuz",
  "Float8_e5m2fnuz",
];

const TORCH_DTYPES = [
  "float64",
  "float32",
  "float16",
  "bfloat16",
  "int64",
  "int32",
  "int16",
  "int8",
  "uint8",
  "uint16",
  "uint32",
  "uint64",
  "bool",
  "complex32",
  "complex64",
  "complex128",
  "float8_e4m3fn",
  "float8_e5m2",
  "float8_e4m3fnuz",
  "float8_e5m2fnuz",
];

/**
 * Every global allowed by default. Nothing on this list is ever called:
 * ckpt interprets each one itself.
 *
 * @example
 * ```ts
 * import { DEFAULT_ALLOWED_GLOBALS } from "./allowlist.ts";
 * console.log(DEFAULT_ALLOWED_GLOBALS.has("torch._utils._rebuild_tensor_v2")); // true
 * console.log(DEFAULT_ALLOWED_GLOBALS.has("os.system")); // false
 * ```
 */
export const DEFAULT_ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  "torch._utils._rebuild_tensor",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_tensor_v3",
  "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state",
  "torch._tensor._rebuild_from_type_v2",
  "torch.Tensor",
  "torch.nn.parameter.Parameter",
  "torch.Size",
  "torch.device",
  "torch.UntypedStorage",
  "torch.storage.UntypedStorage",
  ...STORAGE_TYPES.map((t) => `torch.${t}Storage`),
  ...TORCH_DTYPES.map((t) => `torch.${t}`),
  "collections.OrderedDict",
  "_codecs.encode",
  "builtins.set",
  "builtins.bytearray",
  "builtins.complex",
  ...["numpy.core", "numpy._core"].flatMap((root) => [
    `${root}.multiarray._reconstruct`,
    `${root}.numeric._frombuffer`,
  ]),
  "numpy.dtype",
  "numpy.ndarray",
]);

// Python 3 reads protocol 0-2 pickles written by Python 2 with these module
// renames (Lib/_compat_pickle.py IMPORT_MAPPING, the entries that matter here).
const PY2_MODULES: Readonly<Record<string, string>> = {
  __builtin__: "builtins",
  copy_reg: "copyreg",
  cPickle: "pickle",
  commands: "subprocess",
  exceptions: "builtins",
  UserDict: "collections",
  UserList: "collections",
  urllib2: "urllib.request",
  httplib: "http.client",
  SocketServer: "socketserver",
  Queue: "queue",
  StringIO: "io",
  cStringIO: "io",
  _winreg: "winreg",
  thread: "_thread",
  dummy_thread: "_dummy_thread",
};

/**
 * `module.name` as Python 3 resolves it: Python 2 module names (`__builtin__`,
 * `copy_reg`, …) are renamed, as the unpickler does for protocols below 3.
 *
 * @example
 * ```ts
 * import { globalName } from "./allowlist.ts";
 * console.log(globalName("__builtin__", "set")); // builtins.set
 * ```
 */
export function globalName(module: string, name: string): string {
  return `${renameModule(module)}.${name}`;
}

/**
 * A module name as Python 3 resolves it (`__builtin__` → `builtins`).
 *
 * @example
 * ```ts
 * import { renameModule } from "./allowlist.ts";
 * console.log(renameModule("copy_reg"), renameModule("torch")); // copyreg torch
 * ```
 */
export function renameModule(module: string): string {
  return Object.hasOwn(PY2_MODULES, module) ? PY2_MODULES[module] : module;
}
