// A quantization worker: runs a scheme's CPU reference on the values the pool
// copied into its shared input area and, when asked, measures the error,
// returning the bytes by transfer.

import { errorToData } from "../errors.ts";
import { MetricsAccumulator } from "../metrics.ts";
import type { QuantPlan } from "./scheme.ts";
import { schemeByName } from "./schemes.ts";

// Worker globals, typed locally: the checker sees this file as a window script.
const scope = self as unknown as {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

// The dequantized values for measuring, reused across jobs like the input area.
let decoded: Float32Array | undefined;

scope.onmessage = (event: MessageEvent) => {
  const { id, plan, input, length, measure } = event.data as {
    id: number;
    plan: QuantPlan;
    input: SharedArrayBuffer;
    length: number;
    measure: boolean;
  };
  try {
    const values = new Float32Array(input, 0, length);
    const scheme = schemeByName(plan.scheme);
    const result = scheme.quantize(plan, values);
    let metrics;
    if (measure) {
      const acc = new MetricsAccumulator();
      if (!decoded || decoded.length < length) decoded = new Float32Array(length);
      acc.add(values, scheme.dequantize(plan, result, decoded.subarray(0, length)));
      metrics = acc.result();
    }
    const parts = [result.data, ...result.companions];
    // Each part must own its buffer to be transferred; copy the ones that share one.
    const owned = parts.map((p) =>
      p.byteOffset === 0 && p.byteLength === p.buffer.byteLength ? p : p.slice()
    );
    scope.postMessage(
      { id, data: owned[0], companions: owned.slice(1), metrics },
      owned.map((p) => p.buffer as ArrayBuffer),
    );
  } catch (error) {
    scope.postMessage({ id, error: errorToData(error) });
  }
};
