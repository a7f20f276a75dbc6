/**
 * Whether a WebGPU adapter is real hardware or a software rasterizer
 * (llvmpipe, lavapipe, SwiftShader, WARP): `device: "auto"` uses only the
 * former, since a CPU emulating a GPU is slower than the CPU kernels and
 * holds more memory; `device: "gpu"` takes any adapter.
 *
 * @module
 */

/** What an adapter is. */
export type AdapterKind = "hardware" | "software";

/** The adapter fields the classification reads (`GPUAdapterInfo`, with Deno's `isFallbackAdapter`). */
export interface AdapterInfoLike {
  /** Vendor name or PCI vendor id (decimal or 0x hex). */
  readonly vendor?: string;
  /** GPU family, e.g. `rdna-3`. */
  readonly architecture?: string;
  /** PCI device id (decimal or 0x hex). */
  readonly device?: string;
  /** The driver's description, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  readonly description?: string;
  /** True for a fallback (CPU) adapter. */
  readonly isFallbackAdapter?: boolean;
}

/** An adapter's kind, name and the reason for the kind. */
export interface AdapterClass {
  /** `software` for a fallback adapter or a known software rasterizer. */
  readonly kind: AdapterKind;
  /** A name to print: the description, else vendor and architecture. */
  readonly name: string;
  /** Why it is of that kind, e.g. `the adapter reports itself as a fallback adapter`. */
  readonly reason: string;
}

// Software rasterizers by name, as their drivers describe themselves.
const SOFTWARE_NAMES = /llvmpipe|lavapipe|softpipe|swiftshader|\bwarp\b|basic render driver|software/i;
// PCI vendor ids that only software implementations report: Mesa's (0x10005,
// used by llvmpipe and lavapipe), Google's SwiftShader (0x1ae0 with device
// 0xc0de), Microsoft's WARP (0x1414 with device 0x8c).
function softwareVendor(vendor: number, device: number): string | undefined {
  if (vendor === 0x10005) return "Mesa's software vendor id 0x10005";
  if (vendor === 0x1ae0 && device === 0xc0de) return "SwiftShader's vendor and device ids";
  if (vendor === 0x1414 && device === 0x8c) return "WARP's vendor and device ids";
  return undefined;
}

function parseId(text: string | undefined): number {
  if (!text) return NaN;
  const t = text.trim();
  return /^0x[0-9a-f]+$/i.test(t) ? parseInt(t, 16) : /^\d+$/.test(t) ? Number(t) : NaN;
}

/**
 * Classify an adapter from its info: software when it says it is a fallback
 * adapter, when its description, vendor or architecture names a software
 * rasterizer, or when its vendor id is one only software uses.
 *
 * @example
 * ```ts
 * import { classifyAdapter } from "./adapter_kind.ts";
 * import assert from "node:assert/strict";
 * const llvmpipe = { vendor: "65541", description: "llvmpipe (LLVM 15.0.6, 256 bits)", isFallbackAdapter: true };
 * assert.equal(classifyAdapter(llvmpipe).kind, "software");
 * assert.equal(classifyAdapter({ vendor: "4318", description: "NVIDIA H200" }).kind, "hardware");
 * ```
 */
export function classifyAdapter(info: AdapterInfoLike): AdapterClass {
  const description = info.description?.trim() ?? "";
  const name = description || [info.vendor, info.architecture].filter((s) => s).join(" ") || "WebGPU adapter";
  if (info.isFallbackAdapter === true) {
    return { kind: "software", name, reason: "the adapter reports itself as a fallback adapter" };
  }
  for (
    const [field, text] of [["description", description], ["vendor", info.vendor], [
      "architecture",
      info.architecture,
    ]]
  ) {
    const match = text?.match(SOFTWARE_NAMES);
    if (match) return { kind: "software", name, reason: `its ${field} names ${match[0]}` };
  }
  const vendorReason = softwareVendor(parseId(info.vendor), parseId(info.device));
  if (vendorReason) return { kind: "software", name, reason: `it has ${vendorReason}` };
  return { kind: "hardware", name, reason: "no sign of a software adapter" };
}
