import { tensorFromBytes } from "./lib/tensor.ts";
import { writeTensorFile } from "./formats/write_tensor_file.ts";
await writeTensorFile("/tmp/tiny.safetensors", {
  metadata: {},
  tensors: [tensorFromBytes("a", "F32", [1], new Uint8Array(4))],
});
