// A small deterministic PRNG (sfc32 seeded through splitmix32), so a fuzz
// round is reproducible from its seed alone on every platform.

/** Seeded random numbers: integers, choices and biased positions. */
export class Prng {
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  /** Start a generator from a 32-bit seed (and an optional stream number). */
  constructor(seed: number, stream = 0) {
    let s = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
    const next = () => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#a = next();
    this.#b = next();
    this.#c = next();
    this.#d = next();
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    const t = (((this.#a + this.#b) >>> 0) + this.#d) >>> 0;
    this.#d = (this.#d + 1) >>> 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) >>> 0;
    this.#c = ((this.#c << 21) | (this.#c >>> 11)) >>> 0;
    this.#c = (this.#c + t) >>> 0;
    return t;
  }

  /** A uniform integer in `[0, n)` (0 when `n` ≤ 0). */
  below(n: number): number {
    if (n <= 1) return 0;
    return Math.floor((this.u32() / 4294967296) * n);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.u32() / 4294967296 < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)];
  }

  /**
   * A position in `[0, n)` biased toward the start, where headers live,
   * mostly past the first 4 bytes (magics: breaking them only tests sniffing).
   */
  early(n: number): number {
    if (n <= 1) return 0;
    const r = this.u32() / 4294967296;
    const skip = n > 8 && this.chance(0.85) ? 4 : 0;
    return Math.min(n - 1, skip + Math.floor((n - skip) * r * r * r));
  }
}
