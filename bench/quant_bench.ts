// Deno.bench of every quantization scheme on the CPU (baseline) and the GPU,
// over 4 MiB of float32 (1024×1024); groups by scheme.
//
//   deno bench -A bench/quant_bench.ts

import { SCHEMES } from "../lib/quant/schemes.ts";
import { DEFAULT_SETTINGS } from "../lib/quant/_plan.ts";
import { GpuQuantizer } from "../gpu/gpu_quantizer.ts";

const SHAPE = [1024, 1024];
const values = new Float32Array(SHAPE[0] * SHAPE[1]);
let seed = 1;
for (let i = 0; i < values.length; i++) {
  seed = (seed * 1664525 + 1013904223) >>> 0;
  values[i] = (seed / 2 ** 32 - 0.5) * 0.1;
}
const gpu = await GpuQuantizer.create();

for (const scheme of SCHEMES) {
  const plan = scheme.plan(SHAPE, DEFAULT_SETTINGS);
  Deno.bench({
    name: `${scheme.name} cpu`,
    group: scheme.name,
    baseline: true,
    n: 5,
    fn() {
      scheme.quantize(plan, values);
    },
  });
  Deno.bench({
    name: `${scheme.name} gpu`,
    group: scheme.name,
    ignore: !gpu,
    n: 3,
    async fn() {
      await gpu!.quantize([{ scheme, plan, values }]);
    },
  });
}
