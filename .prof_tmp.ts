import { writeOnnxVariantPath } from "./formats/onnx/mod.ts";
for (const scheme of ["q8", "q4"] as const) {
  const t = performance.now();
  await writeOnnxVariantPath("/tmp/bb/bench/onnx/model.onnx", `/tmp/bb/x_${scheme}.onnx`, { scheme });
  console.log(scheme, ((performance.now() - t) / 1000).toFixed(2));
}
