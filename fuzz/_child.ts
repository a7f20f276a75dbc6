// The fuzz child process: installs the allocation guard before any decoder
// is loaded, then decodes each input framed on stdin and writes how it
// ended as one marked JSON line on stdout. The parent kills the process
// when an input takes too long (a Worker can't be stopped mid-loop).
//
// Frame: u32 id, u32 flags (1: collect garbage first), u32 name length,
// name (UTF-8), u32 input length, input.

import { allocationReport, installAllocationGuard, resetAllocationGuard } from "./_alloc_guard.ts";

installAllocationGuard();
const { TARGETS, targetByName } = await import("./targets.ts");
const { isInputError } = await import("../lib/errors.ts");

/** Marks result lines, so anything else a decoder prints is ignored. */
const MARK = "\u001eFUZZ ";

function heapBytes(): number {
  const usage = Deno.memoryUsage();
  return usage.heapUsed + usage.external;
}

const gc = (globalThis as { gc?: () => void }).gc;
const encoder = new TextEncoder();

async function send(message: unknown): Promise<void> {
  const line = encoder.encode(`${MARK}${JSON.stringify(message)}\n`);
  let done = 0;
  while (done < line.length) done += await Deno.stdout.write(line.subarray(done));
}

async function decode(id: number, flags: number, name: string, bytes: Uint8Array): Promise<void> {
  const target = targetByName(name);
  if (!target) {
    await send({ id, status: "crash", error: "Error", message: `Unknown target ${name}`, stack: "" });
    return;
  }
  const limit = target.allocFactor * bytes.length + 1024 * 1024;
  // A full collection costs milliseconds: only runs that measure memory ask for one.
  if (flags & 1) gc?.();
  const before = heapBytes();
  resetAllocationGuard(limit);
  let status = "ok";
  let error = "";
  let message = "";
  let stack = "";
  try {
    await target.run(bytes);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    error = err.name;
    message = err.message;
    stack = err.stack ?? "";
    status = isInputError(e) ? "rejected" : "crash";
  }
  const { violation, largest } = allocationReport();
  resetAllocationGuard(Infinity);
  if (violation) {
    status = "alloc";
    error = "AllocationLimitError";
    message =
      `Allocation of ${violation.bytes} bytes exceeds ${violation.limit} (input ${bytes.length} bytes)`;
    stack = violation.stack;
  }
  const growth = heapBytes() - before;
  await send({ id, status, error, message, stack, largest, growth });
}

// A growable input buffer over stdin.
let buffer = new Uint8Array(1 << 20);
let filled = 0;
let start = 0;

function available(): number {
  return filled - start;
}

async function need(n: number): Promise<boolean> {
  while (available() < n) {
    if (start > 0) {
      buffer.copyWithin(0, start, filled);
      filled -= start;
      start = 0;
    }
    if (filled + (n - available()) > buffer.length || filled === buffer.length) {
      const grown = new Uint8Array(Math.max(buffer.length * 2, n + 1024));
      grown.set(buffer.subarray(0, filled));
      buffer = grown;
    }
    const got = await Deno.stdin.read(buffer.subarray(filled));
    if (got === null) return false;
    filled += got;
  }
  return true;
}

function u32(): number {
  const v = new DataView(buffer.buffer, start, 4).getUint32(0, true);
  start += 4;
  return v;
}

await send({ id: -1, status: "ready", targets: TARGETS.map((t) => t.name) });
for (;;) {
  if (!(await need(12))) break;
  const id = u32();
  const flags = u32();
  const nameLength = u32();
  if (!(await need(nameLength + 4))) break;
  const name = new TextDecoder().decode(buffer.subarray(start, start + nameLength));
  start += nameLength;
  const length = u32();
  if (!(await need(length))) break;
  const bytes = buffer.slice(start, start + length);
  start += length;
  await decode(id, flags, name, bytes);
}
