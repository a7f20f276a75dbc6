// Python programs the benchmarks run as the baseline, shared so that every
// bench times the same Python route. Run with Debian's /usr/bin/python3.

/** Defines `_peak()`: this process's peak resident memory (VmHWM) in MiB. */
export const PY_PEAK = `
def _peak():
    import re
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024
`;

/**
 * `MAKE_TORCH_MODEL OUT.pt SIZE_MIB`: a transformer-like state dict of 16 MiB
 * F32 matrices with biases, seeded, saved by torch.save.
 */
export const MAKE_TORCH_MODEL = `
import sys, torch, collections
size_mib = int(sys.argv[2])
torch.manual_seed(0)
sd = collections.OrderedDict()
total, i = 0, 0
while total + 16 * 2**20 <= size_mib * 2**20:
    sd[f"layers.{i}.weight"] = torch.randn(4096, 1024)
    sd[f"layers.{i}.bias"] = torch.randn(1024)
    total += 16 * 2**20 + 4096
    i += 1
torch.save(sd, sys.argv[1])
`;

/**
 * `TORCH_TO_SAFETENSORS IN.pt OUT.safetensors`: what a Python user does
 * without ckpt — torch.load the whole state dict, then write each tensor's
 * bytes after a safetensors header, fsync'd. Prints `{"peakMiB": …}`.
 */
export const TORCH_TO_SAFETENSORS = PY_PEAK + `
import sys, json, struct, os, torch
sd = torch.load(sys.argv[1], map_location="cpu")
header, offset, arrays = {}, 0, []
names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}
for k, v in sd.items():
    a = v.contiguous().numpy()
    header[k] = {"dtype": names[v.dtype], "shape": list(v.shape), "data_offsets": [offset, offset + a.nbytes]}
    offset += a.nbytes
    arrays.append(a)
h = json.dumps(header).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[2], "wb") as f:
    f.write(struct.pack("<Q", len(h)))
    f.write(h)
    for a in arrays:
        f.write(a.tobytes())
    f.flush()
    os.fsync(f.fileno())
print(json.dumps({"peakMiB": _peak()}))
`;
