/**
 * The globals a pickle may name: exactly what `torch.load(weights_only=True)`
 * accepts (torch 2.x), and apart from it numpy's array reconstruction, which
 * ckpt reads in plain pickles of numpy arrays. Names are `module.name`
 * strings after Python 3's renaming of Python 2 modules.
 *
 * @module
 */

// torch 2.13's torch/_weights_only_unpickler.py _get_allowed_globals(), name
// for name (tests/pickle_allowlist_test.ts compares the two sets in torch).
const TENSOR_TYPES = ["Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool"];
const STORAGE_TYPES = [...TENSOR_TYPES, "ComplexFloat", "ComplexDouble"];
const QUANTIZED_STORAGE_TYPES = ["QInt8", "QUInt8", "QInt32", "QUInt4x2", "QUInt2x4"];
const SPARSE_TENSOR_TYPES = ["Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte"];
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
  "bool",
  "complex32",
  "complex64",
  "complex128",
  "qint8",
  "quint8",
  "qint32",
  "quint4x2",
  "quint2x4",
  "float8_e4m3fn",
  "float8_e5m2",
  "float8_e4m3fnuz",
  "float8_e5m2fnuz",
  "float8_e8m0fnu",
  "float4_e2m1fn_x2",
  "bits8",
  "bits16",
  "bits1x8",
  "bits2x4",
  "bits4x2",
  "uint16",
  "uint32",
  "uint64",
  ...[1, 2, 3, 4, 5, 6, 7].flatMap((bits) => [`uint${bits}`, `int${bits}`]),
];
const QSCHEMES = [
  "per_tensor_affine",
  "per_tensor_symmetric",
  "per_channel_affine",
  "per_channel_symmetric",
  "per_channel_affine_float_qparams",
];
const REBUILD_FUNCTIONS = [
  "_rebuild_parameter",
  "_rebuild_parameter_with_state",
  "_rebuild_qtensor",
  "_rebuild_tensor",
  "_rebuild_tensor_v2",
  "_rebuild_tensor_v3",
  "_rebuild_sparse_tensor",
  "_rebuild_meta_tensor_no_storage",
  "_rebuild_nested_tensor",
  "_rebuild_wrapper_subclass",
  "_rebuild_device_tensor_from_numpy",
  "_rebuild_device_tensor_from_cpu_tensor",
];

/**
 * Exactly the globals `torch.load(weights_only=True)` accepts in torch 2.x
 * (the default since torch 2.6), no more and no less: tensor and storage
 * classes, dtypes, quantization schemes, the `torch._utils` rebuild
 * functions, `collections.OrderedDict`/`Counter`, `builtins.set`,
 * `bytearray`, `complex` and `_codecs.encode`. Names torch does not have
 * (`torch.Float8_e4m3fnStorage`, `torch.UntypedStorage`, numpy's array
 * reconstruction, `builtins.frozenset`) are not on it. torch 1.13, the first
 * with a weights-only loader, accepts a smaller set; where the two differ ckpt
 * follows 2.x. Nothing on this list is ever called: ckpt interprets each one
 * itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_ALLOWED_GLOBALS } from "./allowlist.ts";
 * assert.equal(DEFAULT_ALLOWED_GLOBALS.has("torch._utils._rebuild_qtensor"), true);
 * assert.equal(DEFAULT_ALLOWED_GLOBALS.has("torch.Float8_e4m3fnStorage"), false);
 * assert.equal(DEFAULT_ALLOWED_GLOBALS.has("os.system"), false);
 * ```
 */
export const DEFAULT_ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  "collections.OrderedDict",
  "collections.Counter",
  "torch.nn.parameter.Parameter",
  "torch.serialization._get_layout",
  "torch.Size",
  "torch.Tensor",
  "torch.device",
  "_codecs.encode",
  "builtins.bytearray",
  "builtins.set",
  "builtins.complex",
  ...TORCH_DTYPES.map((t) => `torch.${t}`),
  ...TENSOR_TYPES.flatMap((t) => [`torch.${t}Tensor`, `torch.cuda.${t}Tensor`]),
  ...SPARSE_TENSOR_TYPES.flatMap((t) => [`torch.sparse.${t}Tensor`, `torch.cuda.sparse.${t}Tensor`]),
  ...STORAGE_TYPES.flatMap((t) => [`torch.${t}Storage`, `torch.cuda.${t}Storage`]),
  ...QUANTIZED_STORAGE_TYPES.map((t) => `torch.${t}Storage`),
  "torch.storage.TypedStorage",
  "torch.storage.UntypedStorage",
  ...QSCHEMES.map((q) => `torch.${q}`),
  ...REBUILD_FUNCTIONS.map((f) => `torch._utils.${f}`),
  "torch._tensor._rebuild_from_type_v2",
]);

/**
 * numpy's array reconstruction, which ckpt reads (without calling it) in
 * plain pickles of numpy arrays. Not something torch's weights-only loader
 * accepts, so a scan does not call it safe.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NUMPY_ARRAY_GLOBALS } from "./allowlist.ts";
 * assert.equal(NUMPY_ARRAY_GLOBALS.has("numpy._core.multiarray._reconstruct"), true);
 * ```
 */
export const NUMPY_ARRAY_GLOBALS: ReadonlySet<string> = new Set([
  ...["numpy.core", "numpy._core"].flatMap((root) => [
    `${root}.multiarray._reconstruct`,
    `${root}.numeric._frombuffer`,
  ]),
  "numpy.dtype",
  "numpy.ndarray",
]);

// torch reads Python 2 names through torch/_utils.py IMPORT_MAPPING and
// NAME_MAPPING only (fewer than Python's own _compat_pickle tables).
const TORCH_IMPORT_MAPPING: Readonly<Record<string, string>> = {
  __builtin__: "builtins",
  copy_reg: "copyreg",
  Queue: "queue",
  repr: "reprlib",
  _abcoll: "collections.abc",
  UserDict: "collections",
  UserList: "collections",
  UserString: "collections",
  whichdb: "dbm",
  StringIO: "io",
  cStringIO: "io",
};
const TORCH_NAME_MAPPING: Readonly<Record<string, string>> = {
  "__builtin__.xrange": "builtins.range",
  "__builtin__.reduce": "functools.reduce",
  "__builtin__.intern": "sys.intern",
  "__builtin__.unichr": "builtins.chr",
  "__builtin__.unicode": "builtins.str",
  "__builtin__.long": "builtins.int",
  "__builtin__.basestring": "builtins.str",
  "itertools.izip": "builtins.zip",
  "itertools.imap": "builtins.map",
  "itertools.ifilter": "builtins.filter",
  "itertools.ifilterfalse": "itertools.filterfalse",
  "itertools.izip_longest": "itertools.zip_longest",
  "UserDict.IterableUserDict": "collections.UserDict",
  "UserDict.UserDict": "collections.UserDict",
  "UserList.UserList": "collections.UserList",
  "UserString.UserString": "collections.UserString",
  "exceptions.StandardError": "builtins.Exception",
};

/**
 * `module.name` as torch's weights-only loader resolves a GLOBAL (its own
 * Python 2 renames), the name it looks up in its allowlist.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { torchGlobalName } from "./allowlist.ts";
 * assert.equal(torchGlobalName("__builtin__", "set"), "builtins.set");
 * assert.equal(torchGlobalName("exceptions", "set"), "exceptions.set");
 * ```
 */
export function torchGlobalName(module: string, name: string): string {
  const mapped = TORCH_NAME_MAPPING[`${module}.${name}`];
  if (mapped !== undefined && Object.hasOwn(TORCH_NAME_MAPPING, `${module}.${name}`)) return mapped;
  const renamed = Object.hasOwn(TORCH_IMPORT_MAPPING, module) ? TORCH_IMPORT_MAPPING[module] : module;
  return `${renamed}.${name}`;
}

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
