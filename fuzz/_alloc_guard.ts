// Catches allocations sized by unchecked fields: the ArrayBuffer, typed
// array and Array constructors are wrapped (in the fuzz worker only, before
// any decoder is imported) so that one allocation larger than the current
// limit is recorded with its stack and refused instead of being made.

/** The first allocation over the limit seen since the last reset. */
export interface AllocationViolation {
  /** Bytes the allocation asked for. */
  readonly bytes: number;
  /** The limit at the time. */
  readonly limit: number;
  /** Where it was asked for. */
  readonly stack: string;
}

/** Thrown in place of an allocation over the limit. */
export class AllocationLimitError extends Error {
  constructor(bytes: number, limit: number) {
    super(`Allocation of ${bytes} bytes exceeds the fuzz limit of ${limit}`);
    this.name = "AllocationLimitError";
  }
}

let limit = Infinity;
let violation: AllocationViolation | undefined;
let largest = 0;
let installed = false;

/** Set the per-allocation byte limit and forget earlier violations. */
export function resetAllocationGuard(bytes: number): void {
  limit = bytes;
  violation = undefined;
  largest = 0;
}

/** The violation recorded since the last reset, if any, and the largest allocation seen. */
export function allocationReport(): { violation?: AllocationViolation; largest: number } {
  return { violation, largest };
}

function requestedBytes(args: unknown[], bytesPerElement: number): number {
  const first = args[0];
  if (typeof first === "number") return first * bytesPerElement;
  if (typeof first === "bigint") return Number(first) * bytesPerElement;
  if (first instanceof ArrayBuffer || first instanceof SharedArrayBuffer) return 0;
  if (first !== null && typeof first === "object" && "length" in first) {
    const length = (first as { length: unknown }).length;
    if (typeof length === "number") return length * bytesPerElement;
  }
  return 0;
}

function check(bytes: number): void {
  if (bytes > largest) largest = bytes;
  if (bytes > limit) {
    violation ??= { bytes, limit, stack: new Error("allocation").stack ?? "" };
    throw new AllocationLimitError(bytes, limit);
  }
}

// deno-lint-ignore no-explicit-any
type Ctor = any;

function wrap(name: string, bytesPerElement: number, callable: boolean): void {
  const g = globalThis as unknown as Record<string, Ctor>;
  const original = g[name];
  if (typeof original !== "function") return;
  const proxy: Ctor = new Proxy(original, {
    construct(target: Ctor, args: unknown[], newTarget: Ctor) {
      check(requestedBytes(args, bytesPerElement));
      return Reflect.construct(target, args, newTarget === proxy ? target : newTarget);
    },
    apply(target: Ctor, self: unknown, args: unknown[]) {
      // Array(n) without `new` allocates too; typed arrays throw as usual.
      if (callable && args.length === 1) check(requestedBytes(args, bytesPerElement));
      return Reflect.apply(target, self, args);
    },
  });
  g[name] = proxy;
}

/** Wrap the allocating constructors on `globalThis` (once). */
export function installAllocationGuard(): void {
  if (installed) return;
  installed = true;
  wrap("ArrayBuffer", 1, false);
  wrap("SharedArrayBuffer", 1, false);
  for (
    const [name, size] of [
      ["Uint8Array", 1],
      ["Int8Array", 1],
      ["Uint8ClampedArray", 1],
      ["Uint16Array", 2],
      ["Int16Array", 2],
      ["Float16Array", 2],
      ["Uint32Array", 4],
      ["Int32Array", 4],
      ["Float32Array", 4],
      ["Float64Array", 8],
      ["BigInt64Array", 8],
      ["BigUint64Array", 8],
    ] as const
  ) wrap(name, size, false);
  wrap("Array", 8, true);
}
