// ONNX models for tests: the committed small ones, ResNet-18 exported by
// tests/data/onnx/make_models.py at test time (cached per script version),
// and tiny ModelProtos built byte by byte for the rejection tests.

import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { DATA, hasPython, PYTHON } from "./_helpers.ts";

export const ONNX_DATA = `${DATA}/onnx`;
export const MLP = `${ONNX_DATA}/mlp.onnx`;
export const MLP_EXTERNAL = `${ONNX_DATA}/mlp_external.onnx`;
export const TYPED = `${ONNX_DATA}/typed.onnx`;

/** True (and a warning printed) when torch, torchvision and onnx are missing. */
export function skipUnlessTorchOnnx(): boolean {
  const missing = !hasPython("torch", "torchvision", "onnx");
  if (missing) console.warn(`skipping: ${PYTHON} with torch, torchvision and onnx is not installed`);
  return missing;
}

let resnet: Promise<string> | undefined;

/** Path of a ResNet-18 exported by make_models.py, made once per version of the script. */
export function resnet18(): Promise<string> {
  resnet ??= (async () => {
    const script = await Deno.readFile(`${ONNX_DATA}/make_models.py`);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", script));
    const tag = Array.from(digest.slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
    const dir = `${Deno.env.get("TMPDIR") ?? "/tmp"}/ckpt-onnx-resnet18-${tag}`;
    const path = `${dir}/resnet18.onnx`;
    try {
      await Deno.stat(path);
      return path;
    } catch {
      // Not made yet.
    }
    const work = await Deno.makeTempDir({ prefix: "ckpt-onnx-resnet18-" });
    const out = await new Deno.Command(PYTHON, {
      args: [`${ONNX_DATA}/make_models.py`, "resnet18", work],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(`make_models.py failed:\n${new TextDecoder().decode(out.stderr)}`);
    try {
      await Deno.rename(work, dir);
    } catch {
      // Another test file made it first.
      await Deno.remove(work, { recursive: true });
    }
    return path;
  })();
  return resnet;
}

/** Fields of a hand-built TensorProto. */
export interface TensorSpec {
  name: string;
  dataType: number;
  dims: number[];
  raw?: Uint8Array;
  floatData?: number[];
  external?: Record<string, string>;
  /** Extra bytes appended to the message as they are. */
  extra?: Uint8Array;
}

/** A TensorProto message. */
export function tensorProto(spec: TensorSpec): Uint8Array {
  const w = new BinaryWriter();
  for (const d of spec.dims) w.tag(1, WireType.Varint).int64(d);
  w.tag(2, WireType.Varint).int32(spec.dataType);
  w.tag(8, WireType.LengthDelimited).string(spec.name);
  if (spec.raw) w.tag(9, WireType.LengthDelimited).bytes(spec.raw);
  if (spec.floatData) {
    w.tag(4, WireType.LengthDelimited).fork();
    for (const v of spec.floatData) w.float(v);
    w.join();
  }
  if (spec.external) {
    for (const [key, value] of Object.entries(spec.external)) {
      w.tag(13, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(key)
        .tag(2, WireType.LengthDelimited).string(value).join();
    }
    w.tag(14, WireType.Varint).int32(1);
  }
  if (spec.extra) w.raw(spec.extra);
  return w.finish();
}

/** A ModelProto with the given initializer messages and nothing else in its graph. */
export function modelProto(initializers: Uint8Array[]): Uint8Array {
  const graph = new BinaryWriter();
  graph.tag(2, WireType.LengthDelimited).string("g");
  for (const t of initializers) graph.tag(5, WireType.LengthDelimited).bytes(t);
  const w = new BinaryWriter();
  w.tag(1, WireType.Varint).int64(8);
  w.tag(2, WireType.LengthDelimited).string("ckpt-test");
  w.tag(7, WireType.LengthDelimited).bytes(graph.finish());
  return w.finish();
}
