/**
 * Where quantization runs: the CPU reference, or a backend (the GPU, see
 * `gpu/`) that gives the same bytes. `gpu/mod.ts` registers how to find a
 * GPU when it is imported; the choice is returned as a value, with the
 * reason, for the caller to show.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import type { QuantPlan, QuantResult, QuantScheme } from "./scheme.ts";

/** One tensor to quantize, for a {@linkcode QuantizeBackend}. */
export interface QuantizeJob {
  /** The scheme. */
  readonly scheme: QuantScheme;
  /** The tensor's plan. */
  readonly plan: QuantPlan;
  /** Its float32 values. */
  readonly values: Float32Array;
}

/** Something that quantizes batches of tensors, e.g. the GPU (`gpu/`). */
export interface QuantizeBackend {
  /** Short description (the adapter's name). */
  readonly name: string;
  /**
   * True when the backend is a software emulation (a fallback WebGPU
   * adapter such as llvmpipe or SwiftShader): `auto` then prefers the CPU,
   * which is faster and needs less memory. @default false
   */
  readonly software?: boolean;
  /** Why the adapter counts as software, for messages. @default none */
  readonly softwareReason?: string;
  /** What runs the work, for reports: a GPU, or CPU workers. @default "gpu" */
  readonly kind?: "gpu" | "cpu";
  /**
   * How a batch should be filled: at least `minTensors` tensors (to keep every
   * worker busy), then more only while the input stays within `bytes`.
   * @default `{ minTensors: 1, bytes: the transform's batchBytes }`
   */
  readonly batching?: { readonly minTensors: number; readonly bytes: number };
  /**
   * Quantize the jobs; results in job order, identical to each scheme's CPU
   * reference. With `measure`, a backend may attach each result's error
   * metrics (computed where the values are) so the caller need not.
   */
  quantize(jobs: readonly QuantizeJob[], options?: { measure?: boolean }): Promise<QuantResult[]>;
}

/** Which device runs the quantization: a name, or a backend object. */
export type QuantizeDevice = "auto" | "gpu" | "cpu" | QuantizeBackend;

/** The device names. */
export const DEVICE_NAMES: readonly ("auto" | "gpu" | "cpu")[] = ["auto", "gpu", "cpu"];

/** What {@linkcode resolveDevice} chose, and why. */
export interface DeviceChoice {
  /** The backend, or undefined for the CPU reference. */
  readonly backend?: QuantizeBackend;
  /** `gpu` when a GPU backend runs the work, else `cpu` (the reference, or CPU workers). */
  readonly device: "gpu" | "cpu";
  /** One line saying what was chosen and why, e.g. `cpu (left the software adapter llvmpipe alone: …)`. */
  readonly reason: string;
}

let gpuProvider: (() => Promise<QuantizeBackend | undefined>) | undefined;
let gpuBackend: Promise<QuantizeBackend | undefined> | undefined;

/**
 * Register how `device: "auto" | "gpu"` finds a GPU backend; `gpu/mod.ts`
 * does this when imported.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerGpuProvider, resolveDevice } from "./device.ts";
 * registerGpuProvider(() => Promise.resolve(undefined)); // pretend there is no GPU
 * assert.equal((await resolveDevice("auto")).device, "cpu");
 * ```
 */
export function registerGpuProvider(provider: () => Promise<QuantizeBackend | undefined>): void {
  gpuProvider = provider;
  gpuBackend = undefined;
}

/**
 * True when `name` is a device name (`auto`, `gpu` or `cpu`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isDeviceName } from "./device.ts";
 * assert.equal(isDeviceName("gpu"), true);
 * assert.equal(isDeviceName("tpu"), false);
 * ```
 */
export function isDeviceName(name: string): name is "auto" | "gpu" | "cpu" {
  return (DEVICE_NAMES as readonly string[]).includes(name);
}

/**
 * Check a device name; an unknown one is a `UsageError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkDevice } from "./device.ts";
 * assert.equal(checkDevice("cpu"), "cpu");
 * assert.throws(() => checkDevice("tpu" as "cpu"), /use auto, gpu or cpu/);
 * ```
 */
export function checkDevice(device: QuantizeDevice): QuantizeDevice {
  if (typeof device === "object" && device !== null) return device;
  if (!(DEVICE_NAMES as readonly unknown[]).includes(device)) {
    throw new UsageError(`Unknown device '${String(device)}'; use auto, gpu or cpu`);
  }
  return device;
}

/**
 * Resolve a device choice. `cpu` is the CPU reference; `gpu` takes any
 * adapter (software ones too: that is how the tests run every kernel) and
 * is a `UsageError` without one; `auto` takes a hardware adapter and
 * otherwise falls back to the CPU, saying why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveDevice } from "./device.ts";
 * const choice = await resolveDevice("cpu");
 * assert.equal(choice.backend, undefined);
 * assert.equal(choice.reason, "cpu");
 * ```
 */
export async function resolveDevice(device: QuantizeDevice): Promise<DeviceChoice> {
  checkDevice(device);
  if (typeof device === "object") {
    const kind = device.kind ?? "gpu";
    return { backend: device, device: kind, reason: `${kind} (${device.name})` };
  }
  if (device === "cpu") return { device: "cpu", reason: "cpu" };
  gpuBackend ??= gpuProvider ? gpuProvider().catch(() => undefined) : Promise.resolve(undefined);
  const backend = await gpuBackend;
  if (device === "gpu") {
    if (!backend) {
      throw new UsageError("No WebGPU adapter is available; use --device cpu (or auto to fall back)");
    }
    return {
      backend,
      device: "gpu",
      reason: `gpu (${backend.name}${backend.software ? ", a software adapter" : ""})`,
    };
  }
  if (!backend) return { device: "cpu", reason: "cpu (no WebGPU adapter)" };
  if (backend.software) {
    const why = backend.softwareReason ? `: ${backend.softwareReason}` : "";
    return {
      device: "cpu",
      reason: `cpu (left the software adapter ${backend.name} alone${why}; --device gpu uses it)`,
    };
  }
  return { backend, device: "gpu", reason: `gpu (${backend.name})` };
}
