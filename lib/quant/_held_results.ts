// A quantized tensor is one result read as several entries (its codes and
// each companion), and writers read those parts in their own order. These
// classes hold a result until all its parts were read, within a byte bound;
// past the bound a result is dropped and computed again when next read, so
// memory follows a tensor, not the model.

import type { TensorEntry } from "../tensor.ts";
import type { QuantPlan, QuantResult, QuantScheme } from "./scheme.ts";

/** Bytes of a quantized result: its codes and every companion. */
export function resultBytes(result: QuantResult): number {
  return result.companions.reduce((sum, c) => sum + c.byteLength, result.data.byteLength);
}

/** One quantized tensor: its source entry, plan, and result while held. */
export class Group {
  readonly entry: TensorEntry;
  readonly plan: QuantPlan;
  readonly scheme: QuantScheme;
  #result?: Promise<QuantResult>;
  #unread: number;
  started = false;
  finished = false;
  /** The tensor's report was sent (a recomputation sends none). */
  reported = false;

  constructor(entry: TensorEntry, scheme: QuantScheme, plan: QuantPlan) {
    this.entry = entry;
    this.scheme = scheme;
    this.plan = plan;
    this.#unread = 1 + plan.companions.length;
  }

  set(result: Promise<QuantResult>): void {
    this.started = true;
    this.#result = result;
  }

  get result(): Promise<QuantResult> | undefined {
    return this.#result;
  }

  /** One part was read: true when others remain unread. */
  read(): boolean {
    if (--this.#unread > 0) return true;
    this.finished = true;
    this.#unread = 1 + this.plan.companions.length;
    this.drop();
    return false;
  }

  /** Forget the result; a later read computes it again. */
  drop(): void {
    this.#result = undefined;
    this.started = false;
  }
}

/** The results held for parts not yet read, and their total size, within `limit` bytes. */
export class HeldResults {
  readonly #limit: number;
  readonly #held = new Map<Group, number>();
  #bytes = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** A part of `group` was read: keep its result for the other parts if it fits, else drop it. */
  partRead(group: Group, result: QuantResult): void {
    const size = this.#held.get(group);
    if (size !== undefined) {
      this.#held.delete(group);
      this.#bytes -= size;
    }
    if (!group.read()) return;
    const resultSize = resultBytes(result);
    if (this.#bytes + resultSize <= this.#limit) {
      this.#held.set(group, resultSize);
      this.#bytes += resultSize;
    } else {
      group.drop();
    }
  }
}
