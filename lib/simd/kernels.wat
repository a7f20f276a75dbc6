;; WebAssembly SIMD kernels for the CPU references in lib/cast.ts and
;; lib/quant/*.ts. Each must write exactly the bytes of its TypeScript
;; reference (tests/simd_kernels_test.ts holds them to it). Blocks the vector
;; path cannot match exactly (NaN, Inf, a zero extreme whose sign decides a
;; stored byte, a scale whose reciprocal overflows) are not finished: their
;; indices go to `flags` and the caller redoes them with the reference.
;;
;; Rebuild: deno run -A lib/simd/build.ts (pinned wabt; writes kernels.wasm
;; and _wasm.ts). All arithmetic is IEEE float32 with round to nearest even,
;; one rounding per operation and no fused multiply-add, as the references.
(module
  (memory (export "memory") 32)

  ;; 32 bytes the ggml kernels keep per group of 4 blocks (reciprocals, minima),
  ;; at the top of memory, away from the caller's buffers.
  (global $scratch i32 (i32.const 2097120))

  ;; ---- helpers ----

;; The reductions use pmin/pmax (one instruction each; pmax(acc, v) =
  ;; acc < v ? v : acc, so a NaN v is skipped exactly as the references'
  ;; `if (v > max)` skips it) and integer max on |x| bits, where NaN ranks
  ;; above Inf and so shows up.

  ;; Largest lane of each of four NaN-free vectors: [max a, max b, max c, max d].
  (func $hmax4 (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (local.set $a (f32x4.pmax
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b))))
    (local.set $c (f32x4.pmax
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $d))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $d))))
    (f32x4.pmax
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $c))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $c))))

  ;; Smallest lane of each of four NaN-free vectors.
  (func $hmin4 (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (local.set $a (f32x4.pmin
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b))))
    (local.set $c (f32x4.pmin
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $d))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $d))))
    (f32x4.pmin
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $c))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $c))))

  ;; Largest int32 lane of each of four vectors.
  (func $hmaxi4 (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (local.set $a (i32x4.max_s
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a) (local.get $b))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a) (local.get $b))))
    (local.set $c (i32x4.max_s
      (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $c) (local.get $d))
      (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $c) (local.get $d))))
    (i32x4.max_s
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $c))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $c))))

  ;; Lane-wise max of the |x| bits over the 8 vectors of a block of 32 at $s
  ;; (as float32: max |x|, or a NaN when there is one).
  (func $absmax8 (param $s i32) (result v128)
    (local $m v128)
    (local.set $m (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
    (i32x4.max_s
      (i32x4.max_s
        (i32x4.max_s (v128.and (v128.load offset=0 (local.get $s)) (local.get $m)) (v128.and (v128.load offset=16 (local.get $s)) (local.get $m)))
        (i32x4.max_s (v128.and (v128.load offset=32 (local.get $s)) (local.get $m)) (v128.and (v128.load offset=48 (local.get $s)) (local.get $m))))
      (i32x4.max_s
        (i32x4.max_s (v128.and (v128.load offset=64 (local.get $s)) (local.get $m)) (v128.and (v128.load offset=80 (local.get $s)) (local.get $m)))
        (i32x4.max_s (v128.and (v128.load offset=96 (local.get $s)) (local.get $m)) (v128.and (v128.load offset=112 (local.get $s)) (local.get $m))))))

  ;; [max, min] lane-wise over a block of 32 at $s, each vector loaded once:
  ;; from ∓FLT_MAX with NaN skipped (the references' scan, per lane), as two
  ;; chains of four.
  (func $mm8 (param $s i32) (result v128 v128)
    (local $lo v128) (local $hi v128) (local $lo2 v128) (local $hi2 v128) (local $v v128)
    (local.set $hi (v128.const i32x4 0xff7fffff 0xff7fffff 0xff7fffff 0xff7fffff))
    (local.set $lo (v128.const i32x4 0x7f7fffff 0x7f7fffff 0x7f7fffff 0x7f7fffff))
    (local.set $hi2 (local.get $hi))
    (local.set $lo2 (local.get $lo))
    (local.set $v (v128.load offset=0 (local.get $s)))
    (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
    (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
    (local.set $v (v128.load offset=16 (local.get $s)))
    (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
    (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
    (local.set $v (v128.load offset=32 (local.get $s)))
    (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
    (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
    (local.set $v (v128.load offset=48 (local.get $s)))
    (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
    (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
    (local.set $v (v128.load offset=64 (local.get $s)))
    (local.set $hi2 (f32x4.pmax (local.get $hi2) (local.get $v)))
    (local.set $lo2 (f32x4.pmin (local.get $lo2) (local.get $v)))
    (local.set $v (v128.load offset=80 (local.get $s)))
    (local.set $hi2 (f32x4.pmax (local.get $hi2) (local.get $v)))
    (local.set $lo2 (f32x4.pmin (local.get $lo2) (local.get $v)))
    (local.set $v (v128.load offset=96 (local.get $s)))
    (local.set $hi2 (f32x4.pmax (local.get $hi2) (local.get $v)))
    (local.set $lo2 (f32x4.pmin (local.get $lo2) (local.get $v)))
    (local.set $v (v128.load offset=112 (local.get $s)))
    (local.set $hi2 (f32x4.pmax (local.get $hi2) (local.get $v)))
    (local.set $lo2 (f32x4.pmin (local.get $lo2) (local.get $v)))
    (f32x4.pmax (local.get $hi) (local.get $hi2))
    (f32x4.pmin (local.get $lo) (local.get $lo2)))

  ;; And with the |x| bits' integer max too: [|x| max, max, min] (for Q4_0/Q5_0).
  (func $amm8 (param $s i32) (result v128 v128 v128)
    (local $lo v128) (local $hi v128) (local $lo2 v128) (local $hi2 v128) (local $a v128) (local $a2 v128)
    (local $v v128)
    (local.set $hi (v128.const i32x4 0xff7fffff 0xff7fffff 0xff7fffff 0xff7fffff))
    (local.set $lo (v128.const i32x4 0x7f7fffff 0x7f7fffff 0x7f7fffff 0x7f7fffff))
    (local.set $hi2 (local.get $hi))
    (local.set $lo2 (local.get $lo))
    (local.set $v (v128.load offset=0 (local.get $s)))
    (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
    (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
    (local.set $a (i32x4.max_s (local.get $a) (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
    (local.set $v (v128.load offset=16 (local.get $s)))
    (local.set $hi2 (f32x4.pmax (local.get $hi2) (local.get $v)))
    (local.set $lo2 (f32x4.pmin (local.get $lo2) (local.get $v)))
    (local.set $a2 (i32x4.max_s (local.get $a2) (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
    (local.set $v (v128.load offset=32 (local.get $s)))
    (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
    (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
    (local.set $a (i32x4.max_s (local.get $a) (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
    (local.set $v (v128.load offset=48 (local.get $s)))
    (local.set $hi2 (f32x4.pmax (local.get $hi2) (local.get $v)))
    (local.set $lo2 (f32x4.pmin (local.get $lo2) (local.get $v)))
    (local.set $a2 (i32x4.max_s (local.get $a2) (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
    (local.set $v (v128.load offset=64 (local.get $s)))
    (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
    (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
    (local.set $a (i32x4.max_s (local.get $a) (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
    (local.set $v (v128.load offset=80 (local.get $s)))
    (local.set $hi2 (f32x4.pmax (local.get $hi2) (local.get $v)))
    (local.set $lo2 (f32x4.pmin (local.get $lo2) (local.get $v)))
    (local.set $a2 (i32x4.max_s (local.get $a2) (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
    (local.set $v (v128.load offset=96 (local.get $s)))
    (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
    (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
    (local.set $a (i32x4.max_s (local.get $a) (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
    (local.set $v (v128.load offset=112 (local.get $s)))
    (local.set $hi2 (f32x4.pmax (local.get $hi2) (local.get $v)))
    (local.set $lo2 (f32x4.pmin (local.get $lo2) (local.get $v)))
    (local.set $a2 (i32x4.max_s (local.get $a2) (v128.and (local.get $v) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))))
    (i32x4.max_s (local.get $a) (local.get $a2))
    (f32x4.pmax (local.get $hi) (local.get $hi2))
    (f32x4.pmin (local.get $lo) (local.get $lo2)))

  ;; All-ones lanes where x is NaN or ±Inf.
  (func $nonfinite4 (param $x v128) (result v128)
    (v128.not (f32x4.lt (f32x4.abs (local.get $x)) (v128.const f32x4 inf inf inf inf))))

  ;; 1/d where d ≠ 0, else +0 (the references' `id = d ? 1/d : 0`).
  (func $recip4 (param $d v128) (result v128)
    (v128.and (f32x4.div (v128.const f32x4 1 1 1 1) (local.get $d))
              (f32x4.ne (local.get $d) (v128.const f32x4 0 0 0 0))))

  ;; IEEE half bits (in the low 16 bits of each lane) of four float32, round to
  ;; nearest even, as Float16Array: with a = |u|, from 2^-14 up rebias the
  ;; exponent and round the mantissa (+ 0xfff + lsb), capped at 0x7c00 (Inf)
  ;; for everything ≥ 65520; below, adding 0.5 rounds to a multiple of 2^-24,
  ;; the subnormal step; NaN gets 0x7e00; the sign is put back. Signed
  ;; compares suffice as a < 2^31. (The "f16" cast below writes this out inline.)
  (func $f16x4 (param $u v128) (result v128)
    (local $a v128)
    (local.set $a (v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
    (v128.or
      (v128.or
        (v128.bitselect
          (i32x4.min_u
            (i32x4.shr_u
              (i32x4.add
                (i32x4.add (local.get $a) (v128.const i32x4 0xc8000fff 0xc8000fff 0xc8000fff 0xc8000fff))
                (v128.and (i32x4.shr_u (local.get $a) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
              (i32.const 13))
            (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
          (i32x4.sub (f32x4.add (local.get $a) (v128.const f32x4 0.5 0.5 0.5 0.5))
                     (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000))
          (i32x4.gt_s (local.get $a) (v128.const i32x4 0x387fffff 0x387fffff 0x387fffff 0x387fffff)))
        (v128.and (i32x4.gt_s (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
                  (v128.const i32x4 0x200 0x200 0x200 0x200)))
      (v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))

  ;; Store lane b of the half bits $h (b = 0…3) at $o + b·$bb.
  (func $store4x16 (param $o i32) (param $bb i32) (param $h v128)
    (v128.store16_lane align=1 0 (local.get $o) (local.get $h))
    (v128.store16_lane align=1 2 (i32.add (local.get $o) (local.get $bb)) (local.get $h))
    (v128.store16_lane align=1 4 (i32.add (local.get $o) (i32.shl (local.get $bb) (i32.const 1))) (local.get $h))
    (v128.store16_lane align=1 6 (i32.add (local.get $o) (i32.mul (local.get $bb) (i32.const 3))) (local.get $h)))

  ;; The value of largest magnitude in a block of 32, the first one on ties
  ;; (what the references' `if (amax < |v|)` scan keeps), given amax > 0.
  (func $firstmax32 (param $s i32) (param $amax f32) (result f32)
    (local $m v128) (local $bits i32) (local $k i32)
    (local.set $m (f32x4.splat (local.get $amax)))
    (loop $vec
      (local.set $bits (i32.or (local.get $bits)
        (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (v128.load (i32.add (local.get $s) (i32.shl (local.get $k) (i32.const 4))))) (local.get $m)))
                 (i32.shl (local.get $k) (i32.const 2)))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $vec (i32.lt_u (local.get $k) (i32.const 8))))
    (f32.load (i32.add (local.get $s) (i32.shl (i32.ctz (local.get $bits)) (i32.const 2)))))

  ;; Record block $i as left for the reference; returns the new count.
  (func $flag (param $flags i32) (param $n i32) (param $i i32) (result i32)
    (i32.store (i32.add (local.get $flags) (i32.shl (local.get $n) (i32.const 2))) (local.get $i))
    (i32.add (local.get $n) (i32.const 1)))

  ;; 16 int32 lanes (4 vectors) of values 0..255 to 16 bytes.
  (func $bytes (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (i8x16.narrow_i16x8_u (i16x8.narrow_i32x4_s (local.get $a) (local.get $b))
                          (i16x8.narrow_i32x4_s (local.get $c) (local.get $d))))

  ;; ---- ggml blocks of 32 (lib/quant/q*.ts) ----
  ;; (src, dst, blocks (a multiple of 4), flags) → number of flagged blocks.
  ;; Four blocks at a time: their scales are reduced, divided and converted to
  ;; fp16 as one vector; then each block's codes, two vectors a turn, written
  ;; out inline. Codes stay floats (small integers, exact) until one magic
  ;; add turns them into int32: for 0 ≤ c < 2^23, the bits of c + 2^23 are
  ;; 0x4b000000 + c (for |c| < 2^22, c + 1.5·2^23 gives 0x4b400000 + c).

  (func (export "q8_0") (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (result i32)
    (local $g i32) (local $n i32) (local $b i32) (local $k i32) (local $s i32) (local $o i32) (local $bad i32)
    (local $amax v128) (local $d v128) (local $id v128) (local $v v128)
    (local $p0 v128) (local $p1 v128) (local $t0 v128) (local $t1 v128)
    (block $done (loop $group
      (br_if $done (i32.ge_u (local.get $g) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $g) (i32.const 7))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $g) (i32.const 34))))
      ;; amax is exact for finite blocks and NaN or Inf otherwise (flagged).
      (local.set $amax (call $hmaxi4
        (call $absmax8 (local.get $s)) (call $absmax8 (i32.add (local.get $s) (i32.const 128)))
        (call $absmax8 (i32.add (local.get $s) (i32.const 256))) (call $absmax8 (i32.add (local.get $s) (i32.const 384)))))
      (local.set $d (f32x4.div (local.get $amax) (v128.const f32x4 127 127 127 127)))
      (local.set $id (call $recip4 (local.get $d)))
      (local.set $bad (i32x4.bitmask (v128.or (call $nonfinite4 (local.get $amax)) (call $nonfinite4 (local.get $id)))))
      (call $store4x16 (local.get $o) (i32.const 34) (call $f16x4 (local.get $d)))
      (v128.store (global.get $scratch) (local.get $id))
      (local.set $b (i32.const 0))
      (loop $block
        (if (i32.and (local.get $bad) (i32.shl (i32.const 1) (local.get $b)))
          (then (local.set $n (call $flag (local.get $flags) (local.get $n) (i32.add (local.get $g) (local.get $b)))))
          (else
            (local.set $v (v128.load32_splat (i32.add (global.get $scratch) (i32.shl (local.get $b) (i32.const 2)))))
            (local.set $k (i32.const 0))
            (loop $vec
              ;; roundf, ties away from zero: trunc(p), plus copysign(1, p) where
              ;; |p − trunc(p)| ≥ 0.5 (that difference is exact). |x·id| ≤
              ;; 127·(1 + 2^-22), so the codes fit int8 without saturating.
              (local.set $p0 (f32x4.mul (v128.load (local.get $s)) (local.get $v)))
              (local.set $p1 (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $v)))
              (local.set $t0 (f32x4.trunc (local.get $p0)))
              (local.set $t1 (f32x4.trunc (local.get $p1)))
              (local.set $t0 (f32x4.add (local.get $t0) (v128.and
                (f32x4.ge (f32x4.abs (f32x4.sub (local.get $p0) (local.get $t0))) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.or (v128.and (local.get $p0) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))
                         (v128.const f32x4 1 1 1 1)))))
              (local.set $t1 (f32x4.add (local.get $t1) (v128.and
                (f32x4.ge (f32x4.abs (f32x4.sub (local.get $p1) (local.get $t1))) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.or (v128.and (local.get $p1) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))
                         (v128.const f32x4 1 1 1 1)))))
              (local.set $t0 (i16x8.narrow_i32x4_s
                (i32x4.sub (f32x4.add (local.get $t0) (v128.const f32x4 12582912 12582912 12582912 12582912))
                           (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))
                (i32x4.sub (f32x4.add (local.get $t1) (v128.const f32x4 12582912 12582912 12582912 12582912))
                           (v128.const i32x4 0x4b400000 0x4b400000 0x4b400000 0x4b400000))))
              (v128.store64_lane offset=2 align=1 0 (i32.add (local.get $o) (i32.shl (local.get $k) (i32.const 3)))
                (i8x16.narrow_i16x8_s (local.get $t0) (local.get $t0)))
              (local.set $s (i32.add (local.get $s) (i32.const 32)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br_if $vec (i32.lt_u (local.get $k) (i32.const 4))))
            (local.set $s (i32.sub (local.get $s) (i32.const 128)))))
        (local.set $s (i32.add (local.get $s) (i32.const 128)))
        (local.set $o (i32.add (local.get $o) (i32.const 34)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br_if $block (i32.lt_u (local.get $b) (i32.const 4))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (br $group)))
    (local.get $n))

  ;; One block's codes, four turns of two vectors (k and k + 4), for the four
  ;; kinds: Q4_0/Q5_0 codes min(top, trunc(x·id + add)); Q4_1/Q5_1 codes
  ;; max(0, trunc((x − min)·id + 0.5)) (Q4_1's min(15, …) never binds: five
  ;; roundings keep (x − min)·id ≤ 15·(1 + 2^-22); max(0, …) is for NaN). $qs is where the nibbles
  ;; go; the 5-bit ones return qh. Separate loops, so none branches per turn.
  (func $block_sym4 (param $s i32) (param $qs i32) (param $v v128) (param $add v128)
    (local $k i32) (local $lo v128)
    (loop $vec
      ;; lo + 16·hi, to int32 by the magic add, to 4 bytes.
      (local.set $lo (i32x4.sub
        (f32x4.add
          (f32x4.add
            (f32x4.pmin (v128.const f32x4 15 15 15 15) (f32x4.trunc
              (f32x4.add (f32x4.mul (v128.load (local.get $s)) (local.get $v)) (local.get $add))))
            (f32x4.mul (v128.const f32x4 16 16 16 16) (f32x4.pmin (v128.const f32x4 15 15 15 15) (f32x4.trunc
              (f32x4.add (f32x4.mul (v128.load offset=64 (local.get $s)) (local.get $v)) (local.get $add))))))
          (v128.const f32x4 8388608 8388608 8388608 8388608))
        (v128.const i32x4 0x4b000000 0x4b000000 0x4b000000 0x4b000000)))
      (local.set $lo (i16x8.narrow_i32x4_s (local.get $lo) (local.get $lo)))
      (v128.store32_lane align=1 0 (i32.add (local.get $qs) (i32.shl (local.get $k) (i32.const 2)))
        (i8x16.narrow_i16x8_u (local.get $lo) (local.get $lo)))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $vec (i32.lt_u (local.get $k) (i32.const 4)))))

  (func $block_sym5 (param $s i32) (param $qs i32) (param $v v128) (param $add v128) (result i32)
    (local $k i32) (local $qh i32) (local $lo v128) (local $hi v128) (local $mlo v128) (local $mhi v128)
    (loop $vec
      (local.set $lo (f32x4.pmin (v128.const f32x4 31 31 31 31) (f32x4.trunc
        (f32x4.add (f32x4.mul (v128.load (local.get $s)) (local.get $v)) (local.get $add)))))
      (local.set $hi (f32x4.pmin (v128.const f32x4 31 31 31 31) (f32x4.trunc
        (f32x4.add (f32x4.mul (v128.load offset=64 (local.get $s)) (local.get $v)) (local.get $add)))))
      (local.set $mlo (f32x4.ge (local.get $lo) (v128.const f32x4 16 16 16 16)))
      (local.set $mhi (f32x4.ge (local.get $hi) (v128.const f32x4 16 16 16 16)))
      ;; Fifth bits to bits 4k… and 16 + 4k… of qh; then (lo mod 16) + 16·(hi mod 16).
      (local.set $qh (i32.or (local.get $qh) (i32.shl
        (i32.or (i32x4.bitmask (local.get $mlo)) (i32.shl (i32x4.bitmask (local.get $mhi)) (i32.const 16)))
        (i32.shl (local.get $k) (i32.const 2)))))
      (local.set $lo (i32x4.sub
        (f32x4.add
          (f32x4.add
            (f32x4.sub (local.get $lo) (v128.and (local.get $mlo) (v128.const f32x4 16 16 16 16)))
            (f32x4.mul (f32x4.sub (local.get $hi) (v128.and (local.get $mhi) (v128.const f32x4 16 16 16 16)))
                       (v128.const f32x4 16 16 16 16)))
          (v128.const f32x4 8388608 8388608 8388608 8388608))
        (v128.const i32x4 0x4b000000 0x4b000000 0x4b000000 0x4b000000)))
      (local.set $lo (i16x8.narrow_i32x4_s (local.get $lo) (local.get $lo)))
      (v128.store32_lane align=1 0 (i32.add (local.get $qs) (i32.shl (local.get $k) (i32.const 2)))
        (i8x16.narrow_i16x8_u (local.get $lo) (local.get $lo)))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $vec (i32.lt_u (local.get $k) (i32.const 4))))
    (local.get $qh))

  (func $block_asym4 (param $s i32) (param $qs i32) (param $v v128) (param $m v128)
    (local $k i32) (local $lo v128)
    (loop $vec
      (local.set $lo (i32x4.sub
        (f32x4.add
          (f32x4.add
            (f32x4.pmax (v128.const f32x4 0 0 0 0) (f32x4.trunc
              (f32x4.add (f32x4.mul (f32x4.sub (v128.load (local.get $s)) (local.get $m)) (local.get $v))
                         (v128.const f32x4 0.5 0.5 0.5 0.5))))
            (f32x4.mul (v128.const f32x4 16 16 16 16)
              (f32x4.pmax (v128.const f32x4 0 0 0 0) (f32x4.trunc
                (f32x4.add (f32x4.mul (f32x4.sub (v128.load offset=64 (local.get $s)) (local.get $m)) (local.get $v))
                           (v128.const f32x4 0.5 0.5 0.5 0.5))))))
          (v128.const f32x4 8388608 8388608 8388608 8388608))
        (v128.const i32x4 0x4b000000 0x4b000000 0x4b000000 0x4b000000)))
      (local.set $lo (i16x8.narrow_i32x4_s (local.get $lo) (local.get $lo)))
      (v128.store32_lane align=1 0 (i32.add (local.get $qs) (i32.shl (local.get $k) (i32.const 2)))
        (i8x16.narrow_i16x8_u (local.get $lo) (local.get $lo)))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $vec (i32.lt_u (local.get $k) (i32.const 4)))))

  (func $block_asym5 (param $s i32) (param $qs i32) (param $v v128) (param $m v128) (result i32)
    (local $k i32) (local $qh i32) (local $lo v128) (local $hi v128) (local $mlo v128) (local $mhi v128)
    (loop $vec
      ;; Q5_1's reference has no clamp; its codes are ≤ 31 anyway.
      (local.set $lo (f32x4.pmax (v128.const f32x4 0 0 0 0) (f32x4.trunc
        (f32x4.add (f32x4.mul (f32x4.sub (v128.load (local.get $s)) (local.get $m)) (local.get $v))
                   (v128.const f32x4 0.5 0.5 0.5 0.5)))))
      (local.set $hi (f32x4.pmax (v128.const f32x4 0 0 0 0) (f32x4.trunc
        (f32x4.add (f32x4.mul (f32x4.sub (v128.load offset=64 (local.get $s)) (local.get $m)) (local.get $v))
                   (v128.const f32x4 0.5 0.5 0.5 0.5)))))
      (local.set $mlo (f32x4.ge (local.get $lo) (v128.const f32x4 16 16 16 16)))
      (local.set $mhi (f32x4.ge (local.get $hi) (v128.const f32x4 16 16 16 16)))
      ;; Fifth bits to bits 4k… and 16 + 4k… of qh; then (lo mod 16) + 16·(hi mod 16).
      (local.set $qh (i32.or (local.get $qh) (i32.shl
        (i32.or (i32x4.bitmask (local.get $mlo)) (i32.shl (i32x4.bitmask (local.get $mhi)) (i32.const 16)))
        (i32.shl (local.get $k) (i32.const 2)))))
      (local.set $lo (i32x4.sub
        (f32x4.add
          (f32x4.add
            (f32x4.sub (local.get $lo) (v128.and (local.get $mlo) (v128.const f32x4 16 16 16 16)))
            (f32x4.mul (f32x4.sub (local.get $hi) (v128.and (local.get $mhi) (v128.const f32x4 16 16 16 16)))
                       (v128.const f32x4 16 16 16 16)))
          (v128.const f32x4 8388608 8388608 8388608 8388608))
        (v128.const i32x4 0x4b000000 0x4b000000 0x4b000000 0x4b000000)))
      (local.set $lo (i16x8.narrow_i32x4_s (local.get $lo) (local.get $lo)))
      (v128.store32_lane align=1 0 (i32.add (local.get $qs) (i32.shl (local.get $k) (i32.const 2)))
        (i8x16.narrow_i16x8_u (local.get $lo) (local.get $lo)))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br_if $vec (i32.lt_u (local.get $k) (i32.const 4))))
    (local.get $qh))

  ;; Q4_0 ($five 0) and Q5_0 ($five 1): d = m/−8 (−16), m the value of largest
  ;; magnitude (the first on ties), codes min(15 (31), trunc(x·id + 8.5 (16.5))).
  (func $sym (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (param $five i32) (result i32)
    (local $g i32) (local $n i32) (local $b i32) (local $k i32) (local $s i32) (local $o i32) (local $bad i32)
    (local $bb i32) (local $tie i32)
    (local $mx v128) (local $mn v128) (local $nmn v128) (local $amax v128) (local $m v128) (local $d v128)
    (local $id v128) (local $v v128) (local $add v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $n0 v128) (local $n1 v128) (local $n2 v128) (local $n3 v128)
    (local.set $bb (select (i32.const 22) (i32.const 18) (local.get $five)))
    (local.set $add (select (v128.const f32x4 16.5 16.5 16.5 16.5) (v128.const f32x4 8.5 8.5 8.5 8.5) (local.get $five)))
    (block $done (loop $group
      (br_if $done (i32.ge_u (local.get $g) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $g) (i32.const 7))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $g) (local.get $bb))))
      (call $amm8 (local.get $s))
      (local.set $n0)
      (local.set $x0)
      (local.set $a0)
      (call $amm8 (i32.add (local.get $s) (i32.const 128)))
      (local.set $n1)
      (local.set $x1)
      (local.set $a1)
      (call $amm8 (i32.add (local.get $s) (i32.const 256)))
      (local.set $n2)
      (local.set $x2)
      (local.set $a2)
      (call $amm8 (i32.add (local.get $s) (i32.const 384)))
      (local.set $n3)
      (local.set $x3)
      (local.set $a3)
      (local.set $amax (call $hmaxi4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))
      (local.set $mx (call $hmax4 (local.get $x0) (local.get $x1) (local.get $x2) (local.get $x3)))
      (local.set $mn (call $hmin4 (local.get $n0) (local.get $n1) (local.get $n2) (local.get $n3)))
      ;; For a finite block m is max where max > −min, min where −min > max, +0
      ;; when all are zero, and on a tie (+a and −a both there) the first,
      ;; found by $firstmax32.
      (local.set $nmn (f32x4.neg (local.get $mn)))
      (local.set $m (v128.andnot
        (v128.bitselect (local.get $mx) (local.get $mn) (f32x4.gt (local.get $mx) (local.get $nmn)))
        (f32x4.eq (local.get $amax) (v128.const f32x4 0 0 0 0))))
      (local.set $tie (i32x4.bitmask (v128.and (f32x4.eq (local.get $mx) (local.get $nmn))
                                               (f32x4.ne (local.get $amax) (v128.const f32x4 0 0 0 0)))))
      (if (local.get $tie)
        (then
          (v128.store (global.get $scratch) (local.get $amax))
          (v128.store offset=16 (global.get $scratch) (local.get $m))
          (local.set $b (i32.const 0))
          (loop $ties
            (if (i32.and (local.get $tie) (i32.shl (i32.const 1) (local.get $b)))
              (then (f32.store offset=16 (i32.add (global.get $scratch) (i32.shl (local.get $b) (i32.const 2)))
                (call $firstmax32 (i32.add (local.get $s) (i32.shl (local.get $b) (i32.const 7)))
                                  (f32.load (i32.add (global.get $scratch) (i32.shl (local.get $b) (i32.const 2))))))))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br_if $ties (i32.lt_u (local.get $b) (i32.const 4))))
          (local.set $m (v128.load offset=16 (global.get $scratch)))))
      (local.set $d (f32x4.div (local.get $m)
        (select (v128.const f32x4 -16 -16 -16 -16) (v128.const f32x4 -8 -8 -8 -8) (local.get $five))))
      (local.set $id (call $recip4 (local.get $d)))
      (local.set $bad (i32x4.bitmask (v128.or (call $nonfinite4 (local.get $amax)) (call $nonfinite4 (local.get $id)))))
      (call $store4x16 (local.get $o) (local.get $bb) (call $f16x4 (local.get $d)))
      (v128.store (global.get $scratch) (local.get $id))
      (local.set $b (i32.const 0))
      (loop $block
        (if (i32.and (local.get $bad) (i32.shl (i32.const 1) (local.get $b)))
          (then (local.set $n (call $flag (local.get $flags) (local.get $n) (i32.add (local.get $g) (local.get $b)))))
          (else
            (local.set $v (v128.load32_splat (i32.add (global.get $scratch) (i32.shl (local.get $b) (i32.const 2)))))
            ;; x·id ≥ −8 (−16)·(1 + 2^-22), so x·id + 8.5 (16.5) > 0 and trunc is floor.
            (if (local.get $five)
              (then (i32.store offset=2 align=1 (local.get $o)
                (call $block_sym5 (local.get $s) (i32.add (local.get $o) (i32.const 6)) (local.get $v) (local.get $add))))
              (else (call $block_sym4 (local.get $s) (i32.add (local.get $o) (i32.const 2)) (local.get $v) (local.get $add))))))
        (local.set $s (i32.add (local.get $s) (i32.const 128)))
        (local.set $o (i32.add (local.get $o) (local.get $bb)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br_if $block (i32.lt_u (local.get $b) (i32.const 4))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (br $group)))
    (local.get $n))

  (func (export "q4_0") (param i32 i32 i32 i32) (result i32)
    (call $sym (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 0)))
  (func (export "q5_0") (param i32 i32 i32 i32) (result i32)
    (call $sym (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 1)))

  ;; Q4_1 ($five 0) and Q5_1 ($five 1): d = (max − min)/15 (31), fp16 min,
  ;; codes trunc((x − min)·id + 0.5) (min 15 for Q4_1, as its reference). A
  ;; NaN x is skipped by min and max, as in the references, and its code is 0
  ;; (their (int8_t)/(uint8_t) of NaN): pmax(0, NaN) = 0.
  (func $asym (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (param $five i32) (result i32)
    (local $g i32) (local $n i32) (local $b i32) (local $k i32) (local $s i32) (local $o i32) (local $bad i32)
    (local $bb i32)
    (local $mx v128) (local $mn v128) (local $d v128) (local $id v128) (local $v v128) (local $m v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $n0 v128) (local $n1 v128) (local $n2 v128) (local $n3 v128)
    (local.set $bb (select (i32.const 24) (i32.const 20) (local.get $five)))
    (block $done (loop $group
      (br_if $done (i32.ge_u (local.get $g) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $g) (i32.const 7))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $g) (local.get $bb))))
      (call $mm8 (local.get $s))
      (local.set $n0)
      (local.set $x0)
      (call $mm8 (i32.add (local.get $s) (i32.const 128)))
      (local.set $n1)
      (local.set $x1)
      (call $mm8 (i32.add (local.get $s) (i32.const 256)))
      (local.set $n2)
      (local.set $x2)
      (call $mm8 (i32.add (local.get $s) (i32.const 384)))
      (local.set $n3)
      (local.set $x3)
      (local.set $mx (call $hmax4 (local.get $x0) (local.get $x1) (local.get $x2) (local.get $x3)))
      (local.set $mn (call $hmin4 (local.get $n0) (local.get $n1) (local.get $n2) (local.get $n3)))
      (local.set $d (f32x4.div (f32x4.sub (local.get $mx) (local.get $mn))
        (select (v128.const f32x4 31 31 31 31) (v128.const f32x4 15 15 15 15) (local.get $five))))
      (local.set $id (call $recip4 (local.get $d)))
      ;; A zero extreme is flagged: the scan keeps the first of ±0, whose sign is stored.
      (local.set $bad (i32x4.bitmask (v128.or
        (v128.or (call $nonfinite4 (local.get $mn)) (call $nonfinite4 (local.get $mx)))
        (v128.or
          (v128.or (f32x4.eq (local.get $mn) (v128.const f32x4 0 0 0 0)) (f32x4.eq (local.get $mx) (v128.const f32x4 0 0 0 0)))
          (v128.or (call $nonfinite4 (local.get $d)) (call $nonfinite4 (local.get $id)))))))
      (call $store4x16 (local.get $o) (local.get $bb) (call $f16x4 (local.get $d)))
      (call $store4x16 (i32.add (local.get $o) (i32.const 2)) (local.get $bb) (call $f16x4 (local.get $mn)))
      (v128.store (global.get $scratch) (local.get $id))
      (v128.store offset=16 (global.get $scratch) (local.get $mn))
      (local.set $b (i32.const 0))
      (loop $block
        (if (i32.and (local.get $bad) (i32.shl (i32.const 1) (local.get $b)))
          (then (local.set $n (call $flag (local.get $flags) (local.get $n) (i32.add (local.get $g) (local.get $b)))))
          (else
            (local.set $v (v128.load32_splat (i32.add (global.get $scratch) (i32.shl (local.get $b) (i32.const 2)))))
            (local.set $m (v128.load32_splat offset=16 (i32.add (global.get $scratch) (i32.shl (local.get $b) (i32.const 2)))))
            ;; 0 ≤ (x − min)·id ≤ 15 (31)·(1 + 2^-22), so trunc is floor.
            (if (local.get $five)
              (then (i32.store offset=4 align=1 (local.get $o)
                (call $block_asym5 (local.get $s) (i32.add (local.get $o) (i32.const 8)) (local.get $v) (local.get $m))))
              (else (call $block_asym4 (local.get $s) (i32.add (local.get $o) (i32.const 4)) (local.get $v) (local.get $m))))))
        (local.set $s (i32.add (local.get $s) (i32.const 128)))
        (local.set $o (i32.add (local.get $o) (local.get $bb)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br_if $block (i32.lt_u (local.get $b) (i32.const 4))))
      (local.set $g (i32.add (local.get $g) (i32.const 4)))
      (br $group)))
    (local.get $n))

  (func (export "q4_1") (param i32 i32 i32 i32) (result i32)
    (call $asym (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 0)))
  (func (export "q5_1") (param i32 i32 i32 i32) (result i32)
    (call $asym (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 1)))

  ;; ---- int8 (lib/quant/int8.ts) ----

  ;; max |x| of the non-NaN values of n (a multiple of 16) floats, from $init.
  (func (export "absmax") (param $src i32) (param $n i32) (param $init f32) (result f32)
    (local $end i32) (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $a (f32x4.splat (local.get $init)))
    (local.set $b (local.get $a)) (local.set $c (local.get $a)) (local.set $d (local.get $a))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      ;; pmax(acc, v) = acc < v ? v : acc: the references' `if (v > hi) hi = v`, NaN skipped.
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=0 (local.get $src)))))
      (local.set $b (f32x4.pmax (local.get $b) (f32x4.abs (v128.load offset=16 (local.get $src)))))
      (local.set $c (f32x4.pmax (local.get $c) (f32x4.abs (v128.load offset=32 (local.get $src)))))
      (local.set $d (f32x4.pmax (local.get $d) (f32x4.abs (v128.load offset=48 (local.get $src)))))
      (local.set $src (i32.add (local.get $src) (i32.const 64)))
      (br $next)))
    (local.set $a (f32x4.pmax (f32x4.pmax (local.get $a) (local.get $b)) (f32x4.pmax (local.get $c) (local.get $d))))
    (local.set $a (f32x4.pmax (local.get $a)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a) (local.get $a))))
    (local.set $a (f32x4.pmax (local.get $a)
      (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $a) (local.get $a))))
    (f32x4.extract_lane 0 (local.get $a)))

  ;; min and max of the non-NaN values of n (a multiple of 16) floats, from
  ;; the two floats at $io, written back there.
  (func (export "minmax") (param $src i32) (param $n i32) (param $io i32)
    (local $end i32) (local $lo v128) (local $hi v128) (local $lo2 v128) (local $hi2 v128) (local $v v128)
    (local.set $lo (f32x4.splat (f32.load (local.get $io))))
    (local.set $hi (f32x4.splat (f32.load offset=4 (local.get $io))))
    (local.set $lo2 (local.get $lo)) (local.set $hi2 (local.get $hi))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      ;; pmin(acc, v) = v < acc ? v : acc; pmax(acc, v) = acc < v ? v : acc.
      (local.set $v (v128.load offset=0 (local.get $src)))
      (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
      (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
      (local.set $v (v128.load offset=16 (local.get $src)))
      (local.set $lo2 (f32x4.pmin (local.get $lo2) (local.get $v)))
      (local.set $hi2 (f32x4.pmax (local.get $hi2) (local.get $v)))
      (local.set $v (v128.load offset=32 (local.get $src)))
      (local.set $lo (f32x4.pmin (local.get $lo) (local.get $v)))
      (local.set $hi (f32x4.pmax (local.get $hi) (local.get $v)))
      (local.set $v (v128.load offset=48 (local.get $src)))
      (local.set $lo2 (f32x4.pmin (local.get $lo2) (local.get $v)))
      (local.set $hi2 (f32x4.pmax (local.get $hi2) (local.get $v)))
      (local.set $src (i32.add (local.get $src) (i32.const 64)))
      (br $next)))
    (local.set $lo (f32x4.pmin (local.get $lo) (local.get $lo2)))
    (local.set $hi (f32x4.pmax (local.get $hi) (local.get $hi2)))
    (local.set $lo (f32x4.pmin (local.get $lo)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $lo) (local.get $lo))))
    (local.set $lo (f32x4.pmin (local.get $lo)
      (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $lo) (local.get $lo))))
    (local.set $hi (f32x4.pmax (local.get $hi)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $hi) (local.get $hi))))
    (local.set $hi (f32x4.pmax (local.get $hi)
      (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $hi) (local.get $hi))))
    (f32.store (local.get $io) (f32x4.extract_lane 0 (local.get $lo)))
    (f32.store offset=4 (local.get $io) (f32x4.extract_lane 0 (local.get $hi))))

  ;; q = zp + rne(clamp(p, lo, hi)) (NaN → lo) for n (a multiple of 16)
  ;; floats, p = x·f, or x/f with $divide (ONNX's x / scale), stored as int8
  ;; ($unsigned 0) or uint8 ($unsigned 1). pmax(lo, p) = lo < p ? p : lo (NaN
  ;; → lo), then pmin(hi, c) = c < hi ? c : hi; adding 1.5·2^23 rounds the
  ;; clamped value (|c| ≤ 256) to an integer, half to even, in the low bits:
  ;; subtracting 0x4b400000 − zp from them gives q. Returns nonzero when some
  ;; p was NaN (for callers whose NaN code is not lo).
  (func (export "int8") (param $src i32) (param $dst i32) (param $n i32) (param $f f32) (param $zp i32)
    (param $lo f32) (param $hi f32) (param $unsigned i32) (param $divide i32) (result i32)
    (local $end i32) (local $fv v128) (local $lv v128) (local $hv v128) (local $zv v128) (local $nan v128)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $fv (f32x4.splat (local.get $f)))
    (local.set $lv (f32x4.splat (local.get $lo)))
    (local.set $hv (f32x4.splat (local.get $hi)))
    (local.set $zv (i32x4.splat (i32.sub (i32.const 0x4b400000) (local.get $zp))))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $a (v128.load offset=0 (local.get $src)))
      (local.set $b (v128.load offset=16 (local.get $src)))
      (local.set $c (v128.load offset=32 (local.get $src)))
      (local.set $d (v128.load offset=48 (local.get $src)))
      (if (local.get $divide)
        (then
          (local.set $a (f32x4.div (local.get $a) (local.get $fv)))
          (local.set $b (f32x4.div (local.get $b) (local.get $fv)))
          (local.set $c (f32x4.div (local.get $c) (local.get $fv)))
          (local.set $d (f32x4.div (local.get $d) (local.get $fv))))
        (else
          (local.set $a (f32x4.mul (local.get $a) (local.get $fv)))
          (local.set $b (f32x4.mul (local.get $b) (local.get $fv)))
          (local.set $c (f32x4.mul (local.get $c) (local.get $fv)))
          (local.set $d (f32x4.mul (local.get $d) (local.get $fv)))))
      ;; NaN products and quotients (Inf/Inf too) are what a caller may code otherwise.
      (local.set $nan (v128.or (local.get $nan) (v128.or
        (v128.or (f32x4.ne (local.get $a) (local.get $a)) (f32x4.ne (local.get $b) (local.get $b)))
        (v128.or (f32x4.ne (local.get $c) (local.get $c)) (f32x4.ne (local.get $d) (local.get $d))))))
      (local.set $a (i32x4.sub (f32x4.add (f32x4.pmin (local.get $hv) (f32x4.pmax (local.get $lv) (local.get $a)))
        (v128.const f32x4 12582912 12582912 12582912 12582912)) (local.get $zv)))
      (local.set $b (i32x4.sub (f32x4.add (f32x4.pmin (local.get $hv) (f32x4.pmax (local.get $lv) (local.get $b)))
        (v128.const f32x4 12582912 12582912 12582912 12582912)) (local.get $zv)))
      (local.set $c (i32x4.sub (f32x4.add (f32x4.pmin (local.get $hv) (f32x4.pmax (local.get $lv) (local.get $c)))
        (v128.const f32x4 12582912 12582912 12582912 12582912)) (local.get $zv)))
      (local.set $d (i32x4.sub (f32x4.add (f32x4.pmin (local.get $hv) (f32x4.pmax (local.get $lv) (local.get $d)))
        (v128.const f32x4 12582912 12582912 12582912 12582912)) (local.get $zv)))
      (if (local.get $unsigned)
        (then (v128.store align=1 (local.get $dst) (call $bytes (local.get $a) (local.get $b) (local.get $c) (local.get $d))))
        (else (v128.store align=1 (local.get $dst)
          (i8x16.narrow_i16x8_s (i16x8.narrow_i32x4_s (local.get $a) (local.get $b))
                                (i16x8.narrow_i32x4_s (local.get $c) (local.get $d))))))
      (local.set $src (i32.add (local.get $src) (i32.const 64)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next)))
    (v128.any_true (local.get $nan)))

  ;; ---- NF4 (lib/quant/nf4.ts, _bnb4.ts): whole blocks of 64 ----

  ;; The NF4 code of 4 values: how many of the 15 sorted thresholds (the float32
  ;; midpoints nf4.ts sorts from dQuantizeNF4's tree, as bits M0…M14) each
  ;; exceeds. In two steps: the quarter q = how many of M3, M7, M11 it
  ;; exceeds, then 4q + how many of M(4q), M(4q+1), M(4q+2), those three
  ;; gathered per lane from tables by a byte swizzle. NaN exceeds none: 0.
  (func $nf4code (param $p v128) (result v128)
    (local $q v128) (local $idx v128)
    ;; Each true comparison is −1: subtracting counts up.
    (local.set $q (i32x4.sub (i32x4.sub (i32x4.sub (v128.const i32x4 0 0 0 0)
      (f32x4.gt (local.get $p) (v128.const i32x4 0xbeadea76 0xbeadea76 0xbeadea76 0xbeadea76)))
      (f32x4.gt (local.get $p) (v128.const i32x4 0x3d22faff 0x3d22faff 0x3d22faff 0x3d22faff)))
      (f32x4.gt (local.get $p) (v128.const i32x4 0x3ec753f9 0x3ec753f9 0x3ec753f9 0x3ec753f9))))
    (local.set $q (i32x4.shl (local.get $q) (i32.const 2)))
    ;; Byte indices 4q, 4q+1, 4q+2, 4q+3 in each lane: lane q of a table.
    (local.set $idx (i8x16.add
      (i8x16.shuffle 0 0 0 0 4 4 4 4 8 8 8 8 12 12 12 12 (local.get $q) (local.get $q))
      (v128.const i8x16 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3)))
    (i32x4.sub (i32x4.sub (i32x4.sub (local.get $q)
      (f32x4.gt (local.get $p) (i8x16.swizzle (v128.const i32x4 0xbf591cd8 0xbe703cec 0x3df64862 0x3f006d04) (local.get $idx))))
      (f32x4.gt (local.get $p) (i8x16.swizzle (v128.const i32x4 0xbf1c5270 0xbe0d38bc 0x3e5067e0 0x3f248daf) (local.get $idx))))
      (f32x4.gt (local.get $p) (i8x16.swizzle (v128.const i32x4 0xbeeb8480 0xbd3a7871 0x3e9582d4 0x3f5c89da) (local.get $idx)))))

  ;; 16 values at $s times inv → 8 bytes (first of a pair in the high nibble),
  ;; as the low 8 lanes of an i16x8 holding byte values.
  (func $nf4pairs (param $s i32) (param $iv v128) (result v128)
    (local $w v128)
    (local.set $w (call $bytes
      (call $nf4code (f32x4.mul (v128.load offset=0 (local.get $s)) (local.get $iv)))
      (call $nf4code (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $iv)))
      (call $nf4code (f32x4.mul (v128.load offset=32 (local.get $s)) (local.get $iv)))
      (call $nf4code (f32x4.mul (v128.load offset=48 (local.get $s)) (local.get $iv)))))
    ;; i16 lane k holds code 2k (low byte) and 2k+1 (high byte).
    (v128.or (v128.and (i16x8.shl (local.get $w) (i32.const 4)) (v128.const i16x8 0xf0 0xf0 0xf0 0xf0 0xf0 0xf0 0xf0 0xf0))
             (i16x8.shr_u (local.get $w) (i32.const 8))))

  (func (export "nf4") (param $src i32) (param $dst i32) (param $nb i32) (param $absmax i32)
    (local $i i32) (local $s i32) (local $o i32) (local $a v128) (local $am f32) (local $iv v128)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 8))))
      (local.set $o (i32.add (local.get $dst) (i32.shl (local.get $i) (i32.const 5))))
      ;; absmax from −FLT_MAX with NaN skipped (pmax), as the reference.
      (local.set $a (v128.const i32x4 0xff7fffff 0xff7fffff 0xff7fffff 0xff7fffff))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=0 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=16 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=32 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=48 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=64 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=80 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=96 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=112 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=128 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=144 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=160 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=176 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=192 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=208 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=224 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a) (f32x4.abs (v128.load offset=240 (local.get $s)))))
      (local.set $a (f32x4.pmax (local.get $a)
        (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $a) (local.get $a))))
      (local.set $a (f32x4.pmax (local.get $a)
        (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $a) (local.get $a))))
      (local.set $am (f32x4.extract_lane 0 (local.get $a)))
      (f32.store (i32.add (local.get $absmax) (i32.shl (local.get $i) (i32.const 2))) (local.get $am))
      (local.set $iv (f32x4.splat (f32.div (f32.const 1) (local.get $am))))
      (v128.store align=1 (local.get $o) (i8x16.narrow_i16x8_u
        (call $nf4pairs (local.get $s) (local.get $iv))
        (call $nf4pairs (i32.add (local.get $s) (i32.const 64)) (local.get $iv))))
      (v128.store offset=16 align=1 (local.get $o) (i8x16.narrow_i16x8_u
        (call $nf4pairs (i32.add (local.get $s) (i32.const 128)) (local.get $iv))
        (call $nf4pairs (i32.add (local.get $s) (i32.const 192)) (local.get $iv))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next))))

  ;; ---- casts (lib/cast.ts): n a multiple of 8 ----

;; float32 → IEEE half, round to nearest even, as Float16Array. With a = |u|:
  ;; from 2^-14 up, rebias the exponent and round the mantissa (RNE: + 0xfff +
  ;; lsb), capped at 0x7c00 (Inf) for everything ≥ 65520; below, adding 0.5
  ;; rounds to a multiple of 2^-24, the subnormal step; NaN gets 0x7e00.
  ;; Signed compares suffice as a < 2^31. Written out (no calls) for speed.
  ;; The cast, $f16x4 rearranged without a select: the normal-range formula
  ;; on max(a, 2^-14) is 0x400 below 2^-14, where the subnormal path is ≤ 0x400,
  ;; and from 2^-14 up never above the subnormal path's value, so the smaller
  ;; of the two is the half.
  (func (export "f16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $u v128) (local $a v128) (local $m v128)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $u (v128.load offset=0 (local.get $src)))
      (local.set $a (v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
      (local.set $m (i32x4.max_u (local.get $a) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000)))
      (local.set $r0 (v128.or
        (v128.or
          (i32x4.min_u
            (i32x4.min_u
              (i32x4.shr_u
                (i32x4.add
                  (i32x4.add (local.get $m) (v128.const i32x4 0xc8000fff 0xc8000fff 0xc8000fff 0xc8000fff))
                  (v128.and (i32x4.shr_u (local.get $m) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
                (i32.const 13))
              (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
            (i32x4.sub (f32x4.add (local.get $a) (v128.const f32x4 0.5 0.5 0.5 0.5))
                       (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000)))
          (v128.and (i32x4.gt_s (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
                    (v128.const i32x4 0x200 0x200 0x200 0x200)))
        (v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))
      (local.set $u (v128.load offset=16 (local.get $src)))
      (local.set $a (v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
      (local.set $m (i32x4.max_u (local.get $a) (v128.const i32x4 0x38800000 0x38800000 0x38800000 0x38800000)))
      (local.set $r1 (v128.or
        (v128.or
          (i32x4.min_u
            (i32x4.min_u
              (i32x4.shr_u
                (i32x4.add
                  (i32x4.add (local.get $m) (v128.const i32x4 0xc8000fff 0xc8000fff 0xc8000fff 0xc8000fff))
                  (v128.and (i32x4.shr_u (local.get $m) (i32.const 13)) (v128.const i32x4 1 1 1 1)))
                (i32.const 13))
              (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
            (i32x4.sub (f32x4.add (local.get $a) (v128.const f32x4 0.5 0.5 0.5 0.5))
                       (v128.const i32x4 0x3f000000 0x3f000000 0x3f000000 0x3f000000)))
          (v128.and (i32x4.gt_s (local.get $a) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
                    (v128.const i32x4 0x200 0x200 0x200 0x200)))
        (v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000))))
      ;; Every lane is ≤ 0xffff, so the unsigned saturating narrow packs exactly.
      (v128.store align=1 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $r0) (local.get $r1)))
      (local.set $src (i32.add (local.get $src) (i32.const 32)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next))))

  ;; float32 → bfloat16: (u + 0x7fff + lsb) >> 16, NaN → (u >> 16) | 0x40.
  (func (export "bf16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $u v128) (local $r0 v128) (local $r1 v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $u (v128.load offset=0 (local.get $src)))
      (local.set $r0 (i32x4.shr_u
        (v128.bitselect
          (v128.or (local.get $u) (v128.const i32x4 0x400000 0x400000 0x400000 0x400000))
          (i32x4.add (i32x4.add (local.get $u) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                     (v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
          (i32x4.gt_s (v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                      (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))
        (i32.const 16)))
      (local.set $u (v128.load offset=16 (local.get $src)))
      (local.set $r1 (i32x4.shr_u
        (v128.bitselect
          (v128.or (local.get $u) (v128.const i32x4 0x400000 0x400000 0x400000 0x400000))
          (i32x4.add (i32x4.add (local.get $u) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff))
                     (v128.and (i32x4.shr_u (local.get $u) (i32.const 16)) (v128.const i32x4 1 1 1 1)))
          (i32x4.gt_s (v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff))
                      (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000)))
        (i32.const 16)))
      (v128.store align=1 (local.get $dst) (i16x8.narrow_i32x4_u (local.get $r0) (local.get $r1)))
      (local.set $src (i32.add (local.get $src) (i32.const 32)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next))))

  ;; ---- K-quants: lib/quant/_kquant.ts and q2_k.ts … q6_k.ts in float32 ----
  ;; Every value the references use is computed with the same float32
  ;; operations on the same operands in the same order (sums included); only
  ;; the searches are rearranged, several steps side by side one a lane, where
  ;; the comments below say why the result cannot change. Super-blocks holding
  ;; a NaN or an Inf are flagged for the reference; from finite input the only
  ;; NaNs are the canonical ones arithmetic makes, which nearest_int reads as
  ;; 0, as the reference does.
  ;;
  ;; Scratch at 1 MiB: L (256 bytes), weights (32 f32), scales and mins (16
  ;; f32 each), x² and x³ (32 f32 each), make_qx_quants' inverse scales and
  ;; sums (20 f32 each), make_qkx2_quants' lane results (20 f32) and codes
  ;; (32 × 4 f32).
  (global $kL i32 (i32.const 0x100000))
  (global $kW i32 (i32.const 0x100200))
  (global $kSc i32 (i32.const 0x100300))
  (global $kMn i32 (i32.const 0x100340))
  (global $kX2 i32 (i32.const 0x100380))
  (global $kX3 i32 (i32.const 0x100400))
  (global $kIsc i32 (i32.const 0x100580))
  (global $kSlx i32 (i32.const 0x100600))
  (global $kSl2 i32 (i32.const 0x100680))
  (global $kLane i32 (i32.const 0x100700))
  (global $kQ i32 (i32.const 0x100800))
  ;; make_qkx2_quants' second result, the min (as −min).
  (global $kMin (mut f32) (f32.const 0))

  ;; nearest_int: add 1.5·2^23, keep the low 23 bits, less 2^22.
  (func $nint (param $f f32) (result i32)
    (i32.sub
      (i32.and (i32.reinterpret_f32 (f32.add (local.get $f) (f32.const 12582912))) (i32.const 0x7fffff))
      (i32.const 0x400000)))

  (func $clamp (param $v i32) (param $lo i32) (param $hi i32) (result i32)
    (select (local.get $lo)
      (select (local.get $hi) (local.get $v) (i32.gt_s (local.get $v) (local.get $hi)))
      (i32.lt_s (local.get $v) (local.get $lo))))

  ;; float32 → half bits, round to nearest even, overflow to ±Inf, NaN → sign | 0x7e00.
  (func $f16bits (param $x f32) (result i32)
    (local $a i32) (local $s i32)
    (local.set $a (i32.reinterpret_f32 (local.get $x)))
    (local.set $s (i32.and (i32.shr_u (local.get $a) (i32.const 16)) (i32.const 0x8000)))
    (local.set $a (i32.and (local.get $a) (i32.const 0x7fffffff)))
    (if (i32.gt_u (local.get $a) (i32.const 0x7f800000))
      (then (return (i32.or (local.get $s) (i32.const 0x7e00)))))
    (if (i32.ge_u (local.get $a) (i32.const 0x477ff000)) ;; 65520 and up round to Inf
      (then (return (i32.or (local.get $s) (i32.const 0x7c00)))))
    (if (i32.lt_u (local.get $a) (i32.const 0x38800000)) ;; below 2^-14: adding 0.5 rounds to 2^-24
      (then (return (i32.or (local.get $s)
        (i32.sub (i32.reinterpret_f32 (f32.add (f32.reinterpret_i32 (local.get $a)) (f32.const 0.5)))
                 (i32.const 0x3f000000))))))
    (i32.or (local.get $s)
      (i32.shr_u
        (i32.add (i32.sub (local.get $a) (i32.const 0x38000000))
                 (i32.add (i32.const 0xfff) (i32.and (i32.shr_u (local.get $a) (i32.const 13)) (i32.const 1))))
        (i32.const 13))))

  ;; half bits → float32.
  (func $f16val (param $h i32) (result f32)
    (local $s i32) (local $e i32) (local $m i32)
    (local.set $s (i32.shl (i32.and (local.get $h) (i32.const 0x8000)) (i32.const 16)))
    (local.set $e (i32.and (i32.shr_u (local.get $h) (i32.const 10)) (i32.const 31)))
    (local.set $m (i32.and (local.get $h) (i32.const 0x3ff)))
    (if (i32.eqz (local.get $e))
      (then (return (f32.reinterpret_i32 (i32.or (local.get $s)
        (i32.reinterpret_f32 (f32.mul (f32.convert_i32_u (local.get $m)) (f32.const 0x1p-24))))))))
    (if (i32.eq (local.get $e) (i32.const 31))
      (then (return (f32.reinterpret_i32
        (i32.or (i32.or (local.get $s) (i32.const 0x7f800000)) (i32.shl (local.get $m) (i32.const 13)))))))
    (f32.reinterpret_i32 (i32.or (local.get $s)
      (i32.or (i32.shl (i32.add (local.get $e) (i32.const 112)) (i32.const 23))
              (i32.shl (local.get $m) (i32.const 13))))))

  ;; 1 when any of the $n values at $s is a NaN or an Inf ($n a multiple of 32).
  (func $nonfinite (param $s i32) (param $n i32) (result i32)
    (local $m v128) (local $end i32)
    (local.set $end (i32.add (local.get $s) (i32.shl (local.get $n) (i32.const 2))))
    (loop $next
      (local.set $m (i32x4.max_s (local.get $m) (call $absmax8 (local.get $s))))
      (local.set $s (i32.add (local.get $s) (i32.const 128)))
      (br_if $next (i32.lt_u (local.get $s) (local.get $end))))
    (v128.any_true (i32x4.ge_s (local.get $m) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))))

  ;; nearest_int of four lanes, and their clamp to [lo, hi].
  (func $vnint (param $v v128) (result v128)
    (i32x4.sub
      (v128.and (f32x4.add (local.get $v) (v128.const f32x4 12582912 12582912 12582912 12582912))
                (v128.const i32x4 0x7fffff 0x7fffff 0x7fffff 0x7fffff))
      (v128.const i32x4 0x400000 0x400000 0x400000 0x400000)))

  (func $vclamp (param $v v128) (param $lo v128) (param $hi v128) (result v128)
    (i32x4.min_s (i32x4.max_s (local.get $v) (local.get $lo)) (local.get $hi)))

  ;; acc + lane 0 + lane 1 + lane 2 + lane 3, left to right as the scalar loops add.
  (func $hadd (param $acc f32) (param $v v128) (result f32)
    (f32.add
      (f32.add
        (f32.add (f32.add (local.get $acc) (f32x4.extract_lane 0 (local.get $v))) (f32x4.extract_lane 1 (local.get $v)))
        (f32x4.extract_lane 2 (local.get $v)))
      (f32x4.extract_lane 3 (local.get $v))))

  ;; Four int32 lanes (0..255) as four bytes at $p.
  (func $store4 (param $p i32) (param $v v128)
    (v128.store32_lane 0 (local.get $p)
      (i8x16.narrow_i16x8_u (i16x8.narrow_i32x4_s (local.get $v) (local.get $v))
                            (i16x8.narrow_i32x4_s (local.get $v) (local.get $v)))))

  ;; makeQkx2Quants: codes 0..nmax at $L (bytes) for the $n values at $x ($n
  ;; a multiple of 4) with the weights at $w; returns the scale and leaves
  ;; −min in $kMin.
  (func $qkx2 (param $n i32) (param $nmax i32) (param $x i32) (param $w i32) (param $L i32)
        (param $rmin f32) (param $rdelta f32) (param $nstep i32) (param $mad i32) (result f32)
    (local $is i32) (local $p i32) (local $nb i32)
    (local $fn f32) (local $min f32) (local $max f32)
    (local $sumW f32) (local $sumX f32) (local $iscale f32) (local $scale f32) (local $best f32)
    (local $vi v128) (local $vmin v128) (local $vs v128) (local $vhi v128) (local $vx v128) (local $vq v128)
    (local $vf v128) (local $vd v128) (local $vwl v128) (local $k i32) (local $kept i32)
    (local $keptIscale f32) (local $keptMin f32) (local $vrd v128) (local $vrm v128) (local $vfn v128)
    (local $vsw v128) (local $vsx v128) (local $sL v128) (local $sL2 v128) (local $sXL v128) (local $vD v128)
    (local $vtm v128) (local $vpos v128) (local $vc v128) (local $ma v128) (local $mb v128)
    (local.set $fn (f32.convert_i32_s (local.get $nmax)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vhi (i32x4.splat (local.get $nmax)))
    ;; min and max per lane (no NaN here; which zero is kept never shows in the
    ;; result), Σw and Σw·x in order from w[0] and w[0]·x[0].
    (local.set $vx (v128.load (local.get $x)))
    (local.set $vq (v128.load (local.get $w)))
    (local.set $ma (local.get $vx))
    (local.set $mb (local.get $vx))
    (local.set $vwl (f32x4.mul (local.get $vq) (local.get $vx)))
    (local.set $sumW (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $vq))
      (f32x4.extract_lane 1 (local.get $vq))) (f32x4.extract_lane 2 (local.get $vq))) (f32x4.extract_lane 3 (local.get $vq))))
    (local.set $sumX (f32.add (f32.add (f32.add (f32x4.extract_lane 0 (local.get $vwl))
      (f32x4.extract_lane 1 (local.get $vwl))) (f32x4.extract_lane 2 (local.get $vwl))) (f32x4.extract_lane 3 (local.get $vwl))))
    (local.set $p (i32.const 16))
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_s (local.get $p) (local.get $nb)))
      (local.set $vx (v128.load (i32.add (local.get $x) (local.get $p))))
      (local.set $vq (v128.load (i32.add (local.get $w) (local.get $p))))
      (local.set $ma (f32x4.pmin (local.get $ma) (local.get $vx)))
      (local.set $mb (f32x4.pmax (local.get $mb) (local.get $vx)))
      (local.set $sumW (call $hadd (local.get $sumW) (local.get $vq)))
      (local.set $sumX (call $hadd (local.get $sumX) (f32x4.mul (local.get $vq) (local.get $vx))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l1)))
    (local.set $min (f32.min
      (f32.min (f32x4.extract_lane 0 (local.get $ma)) (f32x4.extract_lane 1 (local.get $ma)))
      (f32.min (f32x4.extract_lane 2 (local.get $ma)) (f32x4.extract_lane 3 (local.get $ma)))))
    (local.set $max (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $mb)) (f32x4.extract_lane 1 (local.get $mb)))
      (f32.max (f32x4.extract_lane 2 (local.get $mb)) (f32x4.extract_lane 3 (local.get $mb)))))
    (if (f32.gt (local.get $min) (f32.const 0)) (then (local.set $min (f32.const 0))))
    (if (f32.eq (local.get $max) (local.get $min))
      (then
        (memory.fill (local.get $L) (i32.const 0) (local.get $n))
        (global.set $kMin (f32.neg (local.get $min)))
        (return (f32.const 0))))
    (local.set $iscale (f32.div (local.get $fn) (f32.sub (local.get $max) (local.get $min))))
    (local.set $scale (f32.div (f32.const 1) (local.get $iscale)))
    (local.set $vi (f32x4.splat (local.get $iscale)))
    (local.set $vmin (f32x4.splat (local.get $min)))
    (local.set $vs (f32x4.splat (local.get $scale)))
    (local.set $p (i32.const 0))
    (block $e2 (loop $l2
      (br_if $e2 (i32.ge_s (local.get $p) (local.get $nb)))
      (local.set $vx (v128.load (i32.add (local.get $x) (local.get $p))))
      (local.set $vq (call $vclamp
        (call $vnint (f32x4.mul (local.get $vi) (f32x4.sub (local.get $vx) (local.get $vmin))))
        (v128.const i32x4 0 0 0 0) (local.get $vhi)))
      (call $store4 (i32.add (local.get $L) (i32.shr_u (local.get $p) (i32.const 2))) (local.get $vq))
      (local.set $vd (f32x4.sub
        (f32x4.add (f32x4.mul (local.get $vs) (f32x4.convert_i32x4_s (local.get $vq))) (local.get $vmin))
        (local.get $vx)))
      (local.set $vd (if (result v128) (local.get $mad)
        (then (f32x4.abs (local.get $vd))) (else (f32x4.mul (local.get $vd) (local.get $vd)))))
      (local.set $best (call $hadd (local.get $best)
        (f32x4.mul (v128.load (i32.add (local.get $w) (local.get $p))) (local.get $vd))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l2)))
    (if (i32.lt_s (local.get $nstep) (i32.const 1))
      (then
        (global.set $kMin (f32.neg (local.get $min)))
        (return (local.get $scale))))
    ;; The steps, four at a time, one a lane, from the current min: codes,
    ;; sums, fit and error per lane (each lane adds its terms in order), then
    ;; the lanes weighed in order. A step that is taken moves min, which the
    ;; later steps start from: the next group then starts right after it.
    ;; (The reference stops adding an error once it reaches the best; its
    ;; terms are >= 0 or NaN, so the whole sum is then no better either. It
    ;; skips a step whose codes repeat the step before's; weighing that step
    ;; again changes nothing.)
    (local.set $vrd (f32x4.splat (local.get $rdelta)))
    (local.set $vrm (f32x4.splat (local.get $rmin)))
    (local.set $vfn (f32x4.splat (local.get $fn)))
    (local.set $vsw (f32x4.splat (local.get $sumW)))
    (local.set $vsx (f32x4.splat (local.get $sumX)))
    (local.set $is (i32.const 0))
    (block $e3 (loop $l3
      (br_if $e3 (i32.gt_s (local.get $is) (local.get $nstep)))
      (local.set $vi (f32x4.div
        (f32x4.add
          (f32x4.add (local.get $vrm)
            (f32x4.mul (local.get $vrd)
              (f32x4.convert_i32x4_s (i32x4.add (i32x4.splat (local.get $is)) (v128.const i32x4 0 1 2 3)))))
          (local.get $vfn))
        (f32x4.splat (f32.sub (local.get $max) (local.get $min)))))
      (local.set $vmin (f32x4.splat (local.get $min)))
      (local.set $sL (v128.const i32x4 0 0 0 0))
      (local.set $sL2 (v128.const i32x4 0 0 0 0))
      (local.set $sXL (v128.const i32x4 0 0 0 0))
      (local.set $p (i32.const 0))
      (block $e4 (loop $l4
        (br_if $e4 (i32.ge_s (local.get $p) (local.get $nb)))
        (local.set $vx (v128.load32_splat (i32.add (local.get $x) (local.get $p))))
        ;; nearest_int inline ((v + 1.5·2^23) bits & 0x7fffff, less 2^22), clamped to [0, nmax]
        (local.set $vq
          (i32x4.min_s
            (i32x4.max_s
              (i32x4.sub
                (v128.and
                  (f32x4.add
                    (f32x4.mul (local.get $vi) (f32x4.sub (local.get $vx) (local.get $vmin)))
                    (v128.const f32x4 12582912 12582912 12582912 12582912))
                  (v128.const i32x4 0x7fffff 0x7fffff 0x7fffff 0x7fffff))
                (v128.const i32x4 0x400000 0x400000 0x400000 0x400000))
              (v128.const i32x4 0 0 0 0))
            (local.get $vhi)))
        (local.set $vf (f32x4.convert_i32x4_s (local.get $vq)))
        (v128.store (i32.add (global.get $kQ) (i32.shl (local.get $p) (i32.const 2))) (local.get $vf))
        (local.set $vwl (f32x4.mul (v128.load32_splat (i32.add (local.get $w) (local.get $p))) (local.get $vf)))
        (local.set $sL (f32x4.add (local.get $sL) (local.get $vwl)))
        (local.set $sL2 (f32x4.add (local.get $sL2) (f32x4.mul (local.get $vwl) (local.get $vf))))
        (local.set $sXL (f32x4.add (local.get $sXL) (f32x4.mul (local.get $vwl) (local.get $vx))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l4)))
      (local.set $vD (f32x4.sub (f32x4.mul (local.get $vsw) (local.get $sL2)) (f32x4.mul (local.get $sL) (local.get $sL))))
      (local.set $vs (f32x4.div
        (f32x4.sub (f32x4.mul (local.get $vsw) (local.get $sXL)) (f32x4.mul (local.get $vsx) (local.get $sL)))
        (local.get $vD)))
      (local.set $vtm (f32x4.div
        (f32x4.sub (f32x4.mul (local.get $sL2) (local.get $vsx)) (f32x4.mul (local.get $sL) (local.get $sXL)))
        (local.get $vD)))
      (local.set $vpos (f32x4.gt (local.get $vtm) (v128.const i32x4 0 0 0 0)))
      (local.set $vs (v128.bitselect (f32x4.div (local.get $sXL) (local.get $sL2)) (local.get $vs) (local.get $vpos)))
      (local.set $vtm (v128.andnot (local.get $vtm) (local.get $vpos)))
      (local.set $vc (v128.const i32x4 0 0 0 0))
      (local.set $p (i32.const 0))
      (block $e5 (loop $l5
        (br_if $e5 (i32.ge_s (local.get $p) (local.get $nb)))
        (local.set $vd (f32x4.sub
          (f32x4.add
            (f32x4.mul (local.get $vs) (v128.load (i32.add (global.get $kQ) (i32.shl (local.get $p) (i32.const 2)))))
            (local.get $vtm))
          (v128.load32_splat (i32.add (local.get $x) (local.get $p)))))
        (local.set $vd (if (result v128) (local.get $mad)
          (then (f32x4.abs (local.get $vd))) (else (f32x4.mul (local.get $vd) (local.get $vd)))))
        (local.set $vc (f32x4.add (local.get $vc)
          (f32x4.mul (v128.load32_splat (i32.add (local.get $w) (local.get $p))) (local.get $vd))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l5)))
      (v128.store (global.get $kLane) (local.get $vD))
      (v128.store offset=16 (global.get $kLane) (local.get $vs))
      (v128.store offset=32 (global.get $kLane) (local.get $vtm))
      (v128.store offset=48 (global.get $kLane) (local.get $vc))
      (v128.store offset=64 (global.get $kLane) (local.get $vi))
      (local.set $k (i32.const 0))
      (block $e6 (loop $l6
        (br_if $e6 (i32.ge_s (local.get $k) (i32.const 4)))
        (br_if $e6 (i32.gt_s (i32.add (local.get $is) (local.get $k)) (local.get $nstep)))
        (local.set $p (i32.add (global.get $kLane) (i32.shl (local.get $k) (i32.const 2))))
        (if (i32.and (f32.gt (f32.load (local.get $p)) (f32.const 0))
                     (f32.lt (f32.load offset=48 (local.get $p)) (local.get $best)))
          (then
            (local.set $best (f32.load offset=48 (local.get $p)))
            (local.set $scale (f32.load offset=16 (local.get $p)))
            (local.set $keptIscale (f32.load offset=64 (local.get $p)))
            (local.set $keptMin (local.get $min))
            (local.set $kept (i32.const 1))
            (local.set $min (f32.load offset=32 (local.get $p)))
            (br $e6)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $l6)))
      ;; after a step taken at lane k, k + 1 more are done; otherwise all 4 (k is 4, or past nstep)
      (local.set $is (i32.add (local.get $is)
        (select (i32.add (local.get $k) (i32.const 1)) (i32.const 4) (i32.lt_s (local.get $k) (i32.const 4)))))
      (br $l3)))
    ;; The codes of the step taken last, redone from its inverse scale and min.
    (if (local.get $kept)
      (then
        (local.set $vi (f32x4.splat (local.get $keptIscale)))
        (local.set $vmin (f32x4.splat (local.get $keptMin)))
        (local.set $p (i32.const 0))
        (block $e7 (loop $l7
          (br_if $e7 (i32.ge_s (local.get $p) (local.get $nb)))
          (call $store4 (i32.add (local.get $L) (i32.shr_u (local.get $p) (i32.const 2)))
            (call $vclamp
              (call $vnint (f32x4.mul (local.get $vi)
                (f32x4.sub (v128.load (i32.add (local.get $x) (local.get $p))) (local.get $vmin))))
              (v128.const i32x4 0 0 0 0) (local.get $vhi)))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $l7)))))
    (global.set $kMin (f32.neg (local.get $min)))
    (local.get $scale))

  ;; makeQxQuants (rmse_type 1, no importance): codes 0..2·nmax−1 at $L for
  ;; the $n values at $x; returns the scale. The first fit and the 18 steps
  ;; depend only on max, so their sums are computed side by side, one step a
  ;; lane (each lane adds its terms in order, as the scalar loop does); then
  ;; the steps are weighed in order as the reference weighs them. (The
  ;; reference skips a step whose codes repeat the step before's; weighing it
  ;; again changes nothing, so both give the same result.)
  ;; Scratch: the 20 inverse scales (first fit, steps −9..−1, 1..9, a spare
  ;; lane) at $kIsc, their sums Σ x³·l and Σ x²·l² at $kSlx and $kSl2.
  (func $qx (param $n i32) (param $nmax i32) (param $x i32) (param $L i32) (result f32)
    (local $k i32) (local $p i32) (local $nb i32) (local $g i32) (local $bi i32)
    (local $fn f32) (local $max f32)
    (local $slx f32) (local $sl2 f32) (local $scale f32) (local $best f32)
    (local $vi v128) (local $vlo v128) (local $vhi v128) (local $vx v128) (local $vw v128) (local $vf v128)
    (local $a v128) (local $b v128) (local $vflo v128) (local $vfhi v128)
    (local.set $fn (f32.convert_i32_s (local.get $nmax)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $vlo (i32x4.splat (i32.sub (i32.const 0) (local.get $nmax))))
    (local.set $vhi (i32x4.splat (i32.sub (local.get $nmax) (i32.const 1))))
    (local.set $vflo (f32x4.convert_i32x4_s (local.get $vlo)))
    (local.set $vfhi (f32x4.convert_i32x4_s (local.get $vhi)))
    (local.set $max (call $absfirst (local.get $x) (local.get $n)))
    (if (f32.lt (f32.abs (local.get $max)) (f32.const 1e-15))
      (then
        (memory.fill (local.get $L) (i32.const 0) (local.get $n))
        (return (f32.const 0))))
    ;; Lane k's step: 0 for the first fit (−(nmax + 0.1·0) is −nmax exactly),
    ;; then −9..−1, 1..9, and 9 again in the spare lane.
    (local.set $vx (f32x4.splat (local.get $max)))
    (local.set $vw (f32x4.splat (local.get $fn)))
    (local.set $vf (v128.const f32x4 0.1 0.1 0.1 0.1))
    (v128.store offset=0 (global.get $kIsc) (f32x4.div (f32x4.neg (f32x4.add (local.get $vw)
      (f32x4.mul (local.get $vf) (v128.const f32x4 0 -9 -8 -7)))) (local.get $vx)))
    (v128.store offset=16 (global.get $kIsc) (f32x4.div (f32x4.neg (f32x4.add (local.get $vw)
      (f32x4.mul (local.get $vf) (v128.const f32x4 -6 -5 -4 -3)))) (local.get $vx)))
    (v128.store offset=32 (global.get $kIsc) (f32x4.div (f32x4.neg (f32x4.add (local.get $vw)
      (f32x4.mul (local.get $vf) (v128.const f32x4 -2 -1 1 2)))) (local.get $vx)))
    (v128.store offset=48 (global.get $kIsc) (f32x4.div (f32x4.neg (f32x4.add (local.get $vw)
      (f32x4.mul (local.get $vf) (v128.const f32x4 3 4 5 6)))) (local.get $vx)))
    (v128.store offset=64 (global.get $kIsc) (f32x4.div (f32x4.neg (f32x4.add (local.get $vw)
      (f32x4.mul (local.get $vf) (v128.const f32x4 7 8 9 9)))) (local.get $vx)))
    (local.set $p (i32.const 0))
    (block $e3 (loop $l3
      (br_if $e3 (i32.ge_s (local.get $p) (local.get $nb)))
      (local.set $vx (v128.load (i32.add (local.get $x) (local.get $p))))
      (local.set $vw (f32x4.mul (local.get $vx) (local.get $vx)))
      (v128.store (i32.add (global.get $kX2) (local.get $p)) (local.get $vw))
      (v128.store (i32.add (global.get $kX3) (local.get $p)) (f32x4.mul (local.get $vw) (local.get $vx)))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l3)))
    ;; Four steps at a time: lane j of $a and $b sums the codes of step 4g + j.
    (local.set $g (i32.const 0))
    (block $e4 (loop $l4
      (br_if $e4 (i32.ge_s (local.get $g) (i32.const 80)))
      (local.set $vi (v128.load (i32.add (global.get $kIsc) (local.get $g))))
      (local.set $a (v128.const i32x4 0 0 0 0))
      (local.set $b (v128.const i32x4 0 0 0 0))
      (local.set $p (i32.const 0))
      (block $e5 (loop $l5
        (br_if $e5 (i32.ge_s (local.get $p) (local.get $nb)))
        ;; The code as a float: |iscale·x| <= nmax + 0.9 (max is the largest
        ;; magnitude, a finite nonzero), so clamping to [−nmax, nmax − 1] first and
        ;; rounding with (v + 1.5·2^23) − 1.5·2^23 (exact round half to even below
        ;; 2^22, as nearest_int) gives float(clamp(nearest_int(v))).
        (local.set $vf
          (f32x4.sub
            (f32x4.add
              (f32x4.pmin (local.get $vfhi)
                (f32x4.pmax (local.get $vflo)
                  (f32x4.mul (local.get $vi) (v128.load32_splat (i32.add (local.get $x) (local.get $p))))))
              (v128.const f32x4 12582912 12582912 12582912 12582912))
            (v128.const f32x4 12582912 12582912 12582912 12582912)))
        (local.set $a (f32x4.add (local.get $a)
          (f32x4.mul (v128.load32_splat (i32.add (global.get $kX3) (local.get $p))) (local.get $vf))))
        (local.set $b (f32x4.add (local.get $b)
          (f32x4.mul (f32x4.mul (v128.load32_splat (i32.add (global.get $kX2) (local.get $p))) (local.get $vf))
                     (local.get $vf))))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $l5)))
      (v128.store (i32.add (global.get $kSlx) (local.get $g)) (local.get $a))
      (v128.store (i32.add (global.get $kSl2) (local.get $g)) (local.get $b))
      (local.set $g (i32.add (local.get $g) (i32.const 16)))
      (br $l4)))
    (local.set $slx (f32.load (global.get $kSlx)))
    (local.set $sl2 (f32.load (global.get $kSl2)))
    (local.set $scale (select (f32.div (local.get $slx) (local.get $sl2)) (f32.const 0)
      (f32.ne (local.get $sl2) (f32.const 0))))
    (local.set $best (f32.mul (local.get $scale) (local.get $slx)))
    (local.set $k (i32.const 1))
    (block $e6 (loop $l6
      (br_if $e6 (i32.ge_s (local.get $k) (i32.const 19)))
      (local.set $p (i32.shl (local.get $k) (i32.const 2)))
      (local.set $slx (f32.load (i32.add (global.get $kSlx) (local.get $p))))
      (local.set $sl2 (f32.load (i32.add (global.get $kSl2) (local.get $p))))
      (if (i32.and (f32.gt (local.get $sl2) (f32.const 0))
                   (f32.gt (f32.mul (local.get $slx) (local.get $slx)) (f32.mul (local.get $best) (local.get $sl2))))
        (then
          (local.set $scale (f32.div (local.get $slx) (local.get $sl2)))
          (local.set $best (f32.mul (local.get $scale) (local.get $slx)))
          (local.set $bi (local.get $k))))
      (local.set $k (i32.add (local.get $k) (i32.const 1)))
      (br $l6)))
    ;; The codes of the fit kept, redone from its inverse scale.
    (local.set $vi (v128.load32_splat (i32.add (global.get $kIsc) (i32.shl (local.get $bi) (i32.const 2)))))
    (local.set $p (i32.const 0))
    (block $e7 (loop $l7
      (br_if $e7 (i32.ge_s (local.get $p) (local.get $nb)))
      (call $store4 (i32.add (local.get $L) (i32.shr_u (local.get $p) (i32.const 2)))
        (i32x4.add (i32x4.splat (local.get $nmax))
          (call $vclamp (call $vnint (f32x4.mul (local.get $vi) (v128.load (i32.add (local.get $x) (local.get $p)))))
            (local.get $vlo) (local.get $vhi))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l7)))
    (local.get $scale))

  ;; packScalesMinsK4: the 8 scales and mins at $kSc/$kMn as d, dmin and 12 bytes at $o.
  (func $packk4 (param $o i32)
    (local $j i32) (local $ls i32) (local $lm i32) (local $v f32)
    (local $maxS f32) (local $maxM f32) (local $invS f32) (local $invM f32)
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_s (local.get $j) (i32.const 8)))
      (local.set $v (f32.load (i32.add (global.get $kSc) (i32.shl (local.get $j) (i32.const 2)))))
      (if (f32.gt (local.get $v) (local.get $maxS)) (then (local.set $maxS (local.get $v))))
      (local.set $v (f32.load (i32.add (global.get $kMn) (i32.shl (local.get $j) (i32.const 2)))))
      (if (f32.gt (local.get $v) (local.get $maxM)) (then (local.set $maxM (local.get $v))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $l1)))
    (if (f32.gt (local.get $maxS) (f32.const 0))
      (then (local.set $invS (f32.div (f32.const 63) (local.get $maxS)))))
    (if (f32.gt (local.get $maxM) (f32.const 0))
      (then (local.set $invM (f32.div (f32.const 63) (local.get $maxM)))))
    (local.set $j (i32.const 0))
    (block $e2 (loop $l2
      (br_if $e2 (i32.ge_s (local.get $j) (i32.const 8)))
      (local.set $ls (i32.and (call $nint (f32.mul (local.get $invS)
        (f32.load (i32.add (global.get $kSc) (i32.shl (local.get $j) (i32.const 2)))))) (i32.const 255)))
      (local.set $lm (i32.and (call $nint (f32.mul (local.get $invM)
        (f32.load (i32.add (global.get $kMn) (i32.shl (local.get $j) (i32.const 2)))))) (i32.const 255)))
      (if (i32.gt_u (local.get $ls) (i32.const 63)) (then (local.set $ls (i32.const 63))))
      (if (i32.gt_u (local.get $lm) (i32.const 63)) (then (local.set $lm (i32.const 63))))
      (if (i32.lt_s (local.get $j) (i32.const 4))
        (then
          (i32.store8 offset=4 (i32.add (local.get $o) (local.get $j)) (local.get $ls))
          (i32.store8 offset=8 (i32.add (local.get $o) (local.get $j)) (local.get $lm)))
        (else
          (i32.store8 offset=8 (i32.add (local.get $o) (local.get $j))
            (i32.or (i32.and (local.get $ls) (i32.const 15)) (i32.shl (i32.and (local.get $lm) (i32.const 15)) (i32.const 4))))
          (i32.store8 (i32.add (local.get $o) (local.get $j))
            (i32.or (i32.load8_u (i32.add (local.get $o) (local.get $j)))
                    (i32.shl (i32.shr_u (local.get $ls) (i32.const 4)) (i32.const 6))))
          (i32.store8 offset=4 (i32.add (local.get $o) (local.get $j))
            (i32.or (i32.load8_u offset=4 (i32.add (local.get $o) (local.get $j)))
                    (i32.shl (i32.shr_u (local.get $lm) (i32.const 4)) (i32.const 6))))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $l2)))
    (i32.store16 (local.get $o) (call $f16bits (f32.div (local.get $maxS) (f32.const 63))))
    (i32.store16 offset=2 (local.get $o) (call $f16bits (f32.div (local.get $maxM) (f32.const 63)))))

  ;; get_scale_min_k4 of the 12 bytes at $q: scale | min << 8.
  (func $scmink4 (param $j i32) (param $q i32) (result i32)
    (local $p i32)
    (local.set $p (i32.add (local.get $q) (local.get $j)))
    (if (result i32) (i32.lt_s (local.get $j) (i32.const 4))
      (then (i32.or (i32.and (i32.load8_u (local.get $p)) (i32.const 63))
                    (i32.shl (i32.and (i32.load8_u offset=4 (local.get $p)) (i32.const 63)) (i32.const 8))))
      (else (i32.or
        (i32.or (i32.and (i32.load8_u offset=4 (local.get $p)) (i32.const 15))
                (i32.shl (i32.shr_u (i32.load8_u (i32.sub (local.get $p) (i32.const 4))) (i32.const 6)) (i32.const 4)))
        (i32.shl
          (i32.or (i32.shr_u (i32.load8_u offset=4 (local.get $p)) (i32.const 4))
                  (i32.shl (i32.shr_u (i32.load8_u (local.get $p)) (i32.const 6)) (i32.const 4)))
          (i32.const 8))))))

  ;; The sub-block scales and mins of Q4_K/Q5_K for the super-block at $s:
  ;; weights √(mean x²) + |x|, make_qkx2_quants with nmax, rmin, nstep.
  (func $k4scales (param $s i32) (param $nmax i32) (param $rmin f32) (param $nstep i32)
    (local $j i32) (local $l i32) (local $xo i32) (local $v f32) (local $sum f32) (local $av f32)
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_s (local.get $j) (i32.const 8)))
      (local.set $xo (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 7))))
      (local.set $sum (f32.const 0))
      (local.set $l (i32.const 0))
      (block $e2 (loop $l2
        (br_if $e2 (i32.ge_s (local.get $l) (i32.const 32)))
        (local.set $v (f32.load (i32.add (local.get $xo) (i32.shl (local.get $l) (i32.const 2)))))
        (local.set $sum (f32.add (local.get $sum) (f32.mul (local.get $v) (local.get $v))))
        (local.set $l (i32.add (local.get $l) (i32.const 1)))
        (br $l2)))
      (local.set $av (f32.sqrt (f32.div (local.get $sum) (f32.const 32))))
      (local.set $l (i32.const 0))
      (block $e3 (loop $l3
        (br_if $e3 (i32.ge_s (local.get $l) (i32.const 32)))
        (f32.store (i32.add (global.get $kW) (i32.shl (local.get $l) (i32.const 2)))
          (f32.add (local.get $av)
            (f32.abs (f32.load (i32.add (local.get $xo) (i32.shl (local.get $l) (i32.const 2)))))))
        (local.set $l (i32.add (local.get $l) (i32.const 1)))
        (br $l3)))
      (f32.store (i32.add (global.get $kSc) (i32.shl (local.get $j) (i32.const 2)))
        (call $qkx2 (i32.const 32) (local.get $nmax) (local.get $xo) (global.get $kW)
          (i32.add (global.get $kL) (i32.shl (local.get $j) (i32.const 5)))
          (local.get $rmin) (f32.const 0.1) (local.get $nstep) (i32.const 0)))
      (f32.store (i32.add (global.get $kMn) (i32.shl (local.get $j) (i32.const 2))) (global.get $kMin))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $l1))))

  ;; The final codes 0..nmax of Q4_K/Q5_K at $kL against the packed scales at $o.
  (func $k4codes (param $s i32) (param $o i32) (param $nmax i32)
    (local $j i32) (local $ii i32) (local $sm i32) (local $xo i32) (local $d0 f32) (local $m0 f32)
    (local $d f32) (local $dm f32)
    (local.set $d0 (call $f16val (i32.load16_u (local.get $o))))
    (local.set $m0 (call $f16val (i32.load16_u offset=2 (local.get $o))))
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_s (local.get $j) (i32.const 8)))
      (local.set $sm (call $scmink4 (local.get $j) (i32.add (local.get $o) (i32.const 4))))
      (local.set $d (f32.mul (local.get $d0) (f32.convert_i32_u (i32.and (local.get $sm) (i32.const 255)))))
      (if (f32.ne (local.get $d) (f32.const 0)) ;; C: !d is false for NaN
        (then
          (local.set $dm (f32.mul (local.get $m0) (f32.convert_i32_u (i32.shr_u (local.get $sm) (i32.const 8)))))
          (local.set $xo (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 7))))
          (local.set $ii (i32.const 0))
          (block $e2 (loop $l2
            (br_if $e2 (i32.ge_s (local.get $ii) (i32.const 32)))
            (i32.store8
              (i32.add (global.get $kL) (i32.add (i32.shl (local.get $j) (i32.const 5)) (local.get $ii)))
              (call $clamp
                (call $nint (f32.div
                  (f32.add (f32.load (i32.add (local.get $xo) (i32.shl (local.get $ii) (i32.const 2)))) (local.get $dm))
                  (local.get $d)))
                (i32.const 0) (local.get $nmax)))
            (local.set $ii (i32.add (local.get $ii) (i32.const 1)))
            (br $l2)))))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $l1))))

  ;; quantizeRowQ4_K over $nb super-blocks of 144 bytes; returns how many were flagged.
  (func (export "q4_k") (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (result i32)
    (local $b i32) (local $s i32) (local $o i32) (local $nf i32) (local $j i32) (local $l i32) (local $q i32)
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_s (local.get $b) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $b) (i32.const 10))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $b) (i32.const 144))))
      (if (call $nonfinite (local.get $s) (i32.const 256))
        (then
          (i32.store (i32.add (local.get $flags) (i32.shl (local.get $nf) (i32.const 2))) (local.get $b))
          (local.set $nf (i32.add (local.get $nf) (i32.const 1))))
        (else
          (call $k4scales (local.get $s) (i32.const 15) (f32.const -1) (i32.const 20))
          (call $packk4 (local.get $o))
          (call $k4codes (local.get $s) (local.get $o) (i32.const 15))
          ;; qs: 32 bytes per 64 codes, low nibble the first 32.
          (local.set $j (i32.const 0))
          (local.set $q (i32.add (local.get $o) (i32.const 16)))
          (block $e2 (loop $l2
            (br_if $e2 (i32.ge_s (local.get $j) (i32.const 256)))
            (local.set $l (i32.const 0))
            (block $e3 (loop $l3
              (br_if $e3 (i32.ge_s (local.get $l) (i32.const 32)))
              (i32.store8 (i32.add (local.get $q) (local.get $l))
                (i32.or
                  (i32.load8_u (i32.add (global.get $kL) (i32.add (local.get $j) (local.get $l))))
                  (i32.shl (i32.load8_u offset=32 (i32.add (global.get $kL) (i32.add (local.get $j) (local.get $l))))
                           (i32.const 4))))
              (local.set $l (i32.add (local.get $l) (i32.const 1)))
              (br $l3)))
            (local.set $j (i32.add (local.get $j) (i32.const 64)))
            (local.set $q (i32.add (local.get $q) (i32.const 32)))
            (br $l2)))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $l1)))
    (local.get $nf))

  ;; quantizeRowQ6_K over $nb super-blocks of 210 bytes; returns how many were flagged.
  (func (export "q6_k") (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (result i32)
    (local $b i32) (local $s i32) (local $o i32) (local $nf i32) (local $ib i32) (local $ii i32) (local $q i32)
    (local $j i32) (local $l i32) (local $ql i32) (local $qh i32) (local $p i32)
    (local $a i32) (local $bb i32) (local $c i32) (local $e i32)
    (local $scale f32) (local $abs f32) (local $maxS f32) (local $maxA f32) (local $iscale f32)
    (local $d0 f32) (local $d f32) (local $db i32)
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_s (local.get $b) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $b) (i32.const 10))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $b) (i32.const 210))))
      (block $next
        (if (call $nonfinite (local.get $s) (i32.const 256))
          (then
            (i32.store (i32.add (local.get $flags) (i32.shl (local.get $nf) (i32.const 2))) (local.get $b))
            (local.set $nf (i32.add (local.get $nf) (i32.const 1)))
            (br $next)))
        (local.set $maxS (f32.const 0))
        (local.set $maxA (f32.const 0))
        (local.set $ib (i32.const 0))
        (block $e2 (loop $l2
          (br_if $e2 (i32.ge_s (local.get $ib) (i32.const 16)))
          (local.set $scale (call $qx (i32.const 16) (i32.const 32)
            (i32.add (local.get $s) (i32.shl (local.get $ib) (i32.const 6)))
            (i32.add (global.get $kL) (i32.shl (local.get $ib) (i32.const 4)))))
          (f32.store (i32.add (global.get $kSc) (i32.shl (local.get $ib) (i32.const 2))) (local.get $scale))
          (local.set $abs (f32.abs (local.get $scale)))
          (if (f32.gt (local.get $abs) (local.get $maxA))
            (then (local.set $maxA (local.get $abs)) (local.set $maxS (local.get $scale))))
          (local.set $ib (i32.add (local.get $ib) (i32.const 1)))
          (br $l2)))
        (if (f32.lt (local.get $maxA) (f32.const 1e-15))
          (then
            (memory.fill (local.get $o) (i32.const 0) (i32.const 210))
            (br $next)))
        (local.set $iscale (f32.div (f32.const -128) (local.get $maxS)))
        (local.set $db (call $f16bits (f32.div (f32.const 1) (local.get $iscale))))
        (i32.store16 offset=208 (local.get $o) (local.get $db))
        (local.set $d0 (call $f16val (local.get $db)))
        (local.set $ib (i32.const 0))
        (block $e3 (loop $l3
          (br_if $e3 (i32.ge_s (local.get $ib) (i32.const 16)))
          (local.set $q (call $nint (f32.mul (local.get $iscale)
            (f32.load (i32.add (global.get $kSc) (i32.shl (local.get $ib) (i32.const 2)))))))
          (i32.store8 offset=192 (i32.add (local.get $o) (local.get $ib))
            (select (local.get $q) (i32.const 127) (i32.lt_s (local.get $q) (i32.const 127))))
          (local.set $ib (i32.add (local.get $ib) (i32.const 1)))
          (br $l3)))
        (local.set $j (i32.const 0))
        (block $e4 (loop $l4
          (br_if $e4 (i32.ge_s (local.get $j) (i32.const 16)))
          (local.set $d (f32.mul (local.get $d0)
            (f32.convert_i32_s (i32.load8_s offset=192 (i32.add (local.get $o) (local.get $j))))))
          (if (f32.ne (local.get $d) (f32.const 0)) ;; C: !d is false for NaN
            (then
              (local.set $p (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 6))))
              (local.set $ii (i32.const 0))
              (block $e5 (loop $l5
                (br_if $e5 (i32.ge_s (local.get $ii) (i32.const 16)))
                (i32.store8
                  (i32.add (global.get $kL) (i32.add (i32.shl (local.get $j) (i32.const 4)) (local.get $ii)))
                  (i32.add
                    (call $clamp
                      (call $nint (f32.div (f32.load (i32.add (local.get $p) (i32.shl (local.get $ii) (i32.const 2))))
                                           (local.get $d)))
                      (i32.const -32) (i32.const 31))
                    (i32.const 32)))
                (local.set $ii (i32.add (local.get $ii) (i32.const 1)))
                (br $l5)))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $l4)))
        ;; ql: low nibbles, qh: high bit pairs, per half of 128.
        (local.set $j (i32.const 0))
        (local.set $ql (local.get $o))
        (local.set $qh (i32.add (local.get $o) (i32.const 128)))
        (block $e6 (loop $l6
          (br_if $e6 (i32.ge_s (local.get $j) (i32.const 256)))
          (local.set $l (i32.const 0))
          (block $e7 (loop $l7
            (br_if $e7 (i32.ge_s (local.get $l) (i32.const 32)))
            (local.set $p (i32.add (global.get $kL) (i32.add (local.get $j) (local.get $l))))
            (local.set $a (i32.load8_u (local.get $p)))
            (local.set $bb (i32.load8_u offset=32 (local.get $p)))
            (local.set $c (i32.load8_u offset=64 (local.get $p)))
            (local.set $e (i32.load8_u offset=96 (local.get $p)))
            (i32.store8 (i32.add (local.get $ql) (local.get $l))
              (i32.or (i32.and (local.get $a) (i32.const 15)) (i32.shl (i32.and (local.get $c) (i32.const 15)) (i32.const 4))))
            (i32.store8 offset=32 (i32.add (local.get $ql) (local.get $l))
              (i32.or (i32.and (local.get $bb) (i32.const 15)) (i32.shl (i32.and (local.get $e) (i32.const 15)) (i32.const 4))))
            (i32.store8 (i32.add (local.get $qh) (local.get $l))
              (i32.or
                (i32.or (i32.shr_u (local.get $a) (i32.const 4)) (i32.shl (i32.shr_u (local.get $bb) (i32.const 4)) (i32.const 2)))
                (i32.or (i32.shl (i32.shr_u (local.get $c) (i32.const 4)) (i32.const 4))
                        (i32.shl (i32.shr_u (local.get $e) (i32.const 4)) (i32.const 6)))))
            (local.set $l (i32.add (local.get $l) (i32.const 1)))
            (br $l7)))
          (local.set $j (i32.add (local.get $j) (i32.const 128)))
          (local.set $ql (i32.add (local.get $ql) (i32.const 64)))
          (local.set $qh (i32.add (local.get $qh) (i32.const 32)))
          (br $l6))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $l1)))
    (local.get $nf))

  ;; quantizeRowQ5_K over $nb super-blocks of 176 bytes; returns how many were flagged.
  (func (export "q5_k") (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (result i32)
    (local $b i32) (local $s i32) (local $o i32) (local $nf i32) (local $h i32) (local $k i32) (local $p i32)
    (local $va v128) (local $vb v128) (local $qh v128)
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_s (local.get $b) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $b) (i32.const 10))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $b) (i32.const 176))))
      (if (call $nonfinite (local.get $s) (i32.const 256))
        (then
          (i32.store (i32.add (local.get $flags) (i32.shl (local.get $nf) (i32.const 2))) (local.get $b))
          (local.set $nf (i32.add (local.get $nf) (i32.const 1))))
        (else
          (call $k4scales (local.get $s) (i32.const 31) (f32.const -0.5) (i32.const 15))
          (call $packk4 (local.get $o))
          (call $k4codes (local.get $s) (local.get $o) (i32.const 31))
          ;; Per 64 codes k: low nibbles of the two halves in qs, their bit 4
          ;; (a code above 15) as bits 2k and 2k + 1 of qh; 16 bytes at a time.
          (local.set $h (i32.const 0))
          (block $e2 (loop $l2
            (br_if $e2 (i32.ge_s (local.get $h) (i32.const 32)))
            (local.set $qh (v128.const i32x4 0 0 0 0))
            (local.set $k (i32.const 0))
            (block $e3 (loop $l3
              (br_if $e3 (i32.ge_s (local.get $k) (i32.const 4)))
              (local.set $p (i32.add (global.get $kL) (i32.add (i32.shl (local.get $k) (i32.const 6)) (local.get $h))))
              (local.set $va (v128.load (local.get $p)))
              (local.set $vb (v128.load offset=32 (local.get $p)))
              (local.set $qh (v128.or (local.get $qh)
                (v128.or
                  (i8x16.shl (i8x16.shr_u (local.get $va) (i32.const 4)) (i32.shl (local.get $k) (i32.const 1)))
                  (i8x16.shl (i8x16.shr_u (local.get $vb) (i32.const 4))
                             (i32.add (i32.shl (local.get $k) (i32.const 1)) (i32.const 1))))))
              (v128.store offset=48
                (i32.add (local.get $o) (i32.add (i32.shl (local.get $k) (i32.const 5)) (local.get $h)))
                (v128.or (v128.and (local.get $va) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
                         (i8x16.shl (v128.and (local.get $vb) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
                                    (i32.const 4))))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br $l3)))
            (v128.store offset=16 (i32.add (local.get $o) (local.get $h)) (local.get $qh))
            (local.set $h (i32.add (local.get $h) (i32.const 16)))
            (br $l2)))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $l1)))
    (local.get $nf))

  ;; quantizeRowQ2_K over $nb super-blocks of 84 bytes; returns how many were flagged.
  (func (export "q2_k") (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (result i32)
    (local $b i32) (local $s i32) (local $o i32) (local $nf i32) (local $j i32) (local $l i32) (local $xo i32)
    (local $p i32) (local $q i32) (local $sc i32)
    (local $scale f32) (local $mn f32) (local $maxS f32) (local $maxM f32) (local $iscale f32)
    (local $d0 f32) (local $m0 f32) (local $d f32) (local $dm f32) (local $vd v128) (local $vm v128)
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_s (local.get $b) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $b) (i32.const 10))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $b) (i32.const 84))))
      (if (call $nonfinite (local.get $s) (i32.const 256))
        (then
          (i32.store (i32.add (local.get $flags) (i32.shl (local.get $nf) (i32.const 2))) (local.get $b))
          (local.set $nf (i32.add (local.get $nf) (i32.const 1))))
        (else
          (local.set $maxS (f32.const 0))
          (local.set $maxM (f32.const 0))
          (local.set $j (i32.const 0))
          (block $e2 (loop $l2
            (br_if $e2 (i32.ge_s (local.get $j) (i32.const 16)))
            (local.set $xo (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 6))))
            (local.set $p (i32.const 0))
            (block $e3 (loop $l3
              (br_if $e3 (i32.ge_s (local.get $p) (i32.const 64)))
              (v128.store (i32.add (global.get $kW) (local.get $p))
                (f32x4.abs (v128.load (i32.add (local.get $xo) (local.get $p)))))
              (local.set $p (i32.add (local.get $p) (i32.const 16)))
              (br $l3)))
            (local.set $scale (call $qkx2 (i32.const 16) (i32.const 3) (local.get $xo) (global.get $kW)
              (i32.add (global.get $kL) (i32.shl (local.get $j) (i32.const 4)))
              (f32.const -0.5) (f32.const 0.1) (i32.const 15) (i32.const 1)))
            (local.set $mn (global.get $kMin))
            (f32.store (i32.add (global.get $kSc) (i32.shl (local.get $j) (i32.const 2))) (local.get $scale))
            (f32.store (i32.add (global.get $kMn) (i32.shl (local.get $j) (i32.const 2))) (local.get $mn))
            (if (f32.gt (local.get $scale) (local.get $maxS)) (then (local.set $maxS (local.get $scale))))
            (if (f32.gt (local.get $mn) (local.get $maxM)) (then (local.set $maxM (local.get $mn))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $l2)))
          (if (f32.gt (local.get $maxS) (f32.const 0))
            (then
              (local.set $iscale (f32.div (f32.const 15) (local.get $maxS)))
              (local.set $j (i32.const 0))
              (block $e4 (loop $l4
                (br_if $e4 (i32.ge_s (local.get $j) (i32.const 16)))
                (i32.store8 (i32.add (local.get $o) (local.get $j))
                  (call $nint (f32.mul (local.get $iscale)
                    (f32.load (i32.add (global.get $kSc) (i32.shl (local.get $j) (i32.const 2)))))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $l4)))
              (i32.store16 offset=80 (local.get $o) (call $f16bits (f32.div (local.get $maxS) (f32.const 15)))))
            (else
              (v128.store (local.get $o) (v128.const i32x4 0 0 0 0))
              (i32.store16 offset=80 (local.get $o) (i32.const 0))))
          (if (f32.gt (local.get $maxM) (f32.const 0))
            (then
              (local.set $iscale (f32.div (f32.const 15) (local.get $maxM)))
              (local.set $j (i32.const 0))
              (block $e5 (loop $l5
                (br_if $e5 (i32.ge_s (local.get $j) (i32.const 16)))
                (i32.store8 (i32.add (local.get $o) (local.get $j))
                  (i32.or (i32.load8_u (i32.add (local.get $o) (local.get $j)))
                    (i32.shl (call $nint (f32.mul (local.get $iscale)
                      (f32.load (i32.add (global.get $kMn) (i32.shl (local.get $j) (i32.const 2))))))
                      (i32.const 4))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $l5)))
              (i32.store16 offset=82 (local.get $o) (call $f16bits (f32.div (local.get $maxM) (f32.const 15)))))
            (else (i32.store16 offset=82 (local.get $o) (i32.const 0))))
          (local.set $d0 (call $f16val (i32.load16_u offset=80 (local.get $o))))
          (local.set $m0 (call $f16val (i32.load16_u offset=82 (local.get $o))))
          (local.set $j (i32.const 0))
          (block $e6 (loop $l6
            (br_if $e6 (i32.ge_s (local.get $j) (i32.const 16)))
            (local.set $sc (i32.load8_u (i32.add (local.get $o) (local.get $j))))
            (local.set $d (f32.mul (local.get $d0) (f32.convert_i32_u (i32.and (local.get $sc) (i32.const 15)))))
            (if (f32.ne (local.get $d) (f32.const 0)) ;; C: !d is false for NaN
              (then
                (local.set $vd (f32x4.splat (local.get $d)))
                (local.set $vm (f32x4.splat
                  (f32.mul (local.get $m0) (f32.convert_i32_u (i32.shr_u (local.get $sc) (i32.const 4))))))
                (local.set $xo (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 6))))
                (local.set $p (i32.const 0))
                (block $e7 (loop $l7
                  (br_if $e7 (i32.ge_s (local.get $p) (i32.const 64)))
                  (call $store4
                    (i32.add (global.get $kL) (i32.add (i32.shl (local.get $j) (i32.const 4)) (i32.shr_u (local.get $p) (i32.const 2))))
                    (call $vclamp
                      (call $vnint (f32x4.div (f32x4.add (v128.load (i32.add (local.get $xo) (local.get $p))) (local.get $vm))
                                              (local.get $vd)))
                      (v128.const i32x4 0 0 0 0) (v128.const i32x4 3 3 3 3)))
                  (local.set $p (i32.add (local.get $p) (i32.const 16)))
                  (br $l7)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $l6)))
          ;; qs: four codes a byte, 32 bytes per 128 codes, 16 at a time.
          (local.set $q (i32.const 0))
          (block $e8 (loop $l8
            (br_if $e8 (i32.ge_s (local.get $q) (i32.const 64)))
            (local.set $p (i32.add (global.get $kL)
              (i32.add (i32.shl (i32.shr_u (local.get $q) (i32.const 5)) (i32.const 7)) (i32.and (local.get $q) (i32.const 31)))))
            (v128.store offset=16 (i32.add (local.get $o) (local.get $q))
              (v128.or
                (v128.or (v128.load (local.get $p)) (i8x16.shl (v128.load offset=32 (local.get $p)) (i32.const 2)))
                (v128.or (i8x16.shl (v128.load offset=64 (local.get $p)) (i32.const 4))
                         (i8x16.shl (v128.load offset=96 (local.get $p)) (i32.const 6)))))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $l8)))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $l1)))
    (local.get $nf))

  ;; The first of the $n values at $x ($n a multiple of 4, no NaN) whose
  ;; magnitude is the largest, or 0 when all are zero: the `max` of the
  ;; references' `if (ax > amax)` scans.
  (func $absfirst (param $x i32) (param $n i32) (result f32)
    (local $p i32) (local $nb i32) (local $m v128) (local $a f32) (local $mask i32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_s (local.get $p) (local.get $nb)))
      (local.set $m (f32x4.pmax (local.get $m) (f32x4.abs (v128.load (i32.add (local.get $x) (local.get $p))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l1)))
    (local.set $a (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
      (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
    (if (f32.eq (local.get $a) (f32.const 0)) (then (return (f32.const 0))))
    (local.set $m (f32x4.splat (local.get $a)))
    (local.set $p (i32.const 0))
    (block $e2 (loop $l2
      (br_if $e2 (i32.ge_s (local.get $p) (local.get $nb)))
      (local.set $mask (i32x4.bitmask
        (f32x4.eq (f32x4.abs (v128.load (i32.add (local.get $x) (local.get $p)))) (local.get $m))))
      (if (local.get $mask)
        (then (return (f32.load (i32.add (i32.add (local.get $x) (local.get $p))
          (i32.shl (i32.ctz (local.get $mask)) (i32.const 2)))))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l2)))
    (f32.const 0))

  ;; makeQ3Quants (do_rmse): codes 0..2·nmax−1 at $L for the $n values at
  ;; $x ($n 16: the pass masks below shift by up to $n); returns the scale.
  (func $q3 (param $n i32) (param $nmax i32) (param $x i32) (param $L i32) (result f32)
    (local $i i32) (local $p i32) (local $nb i32) (local $li i32) (local $nl i32) (local $itry i32) (local $changed i32)
    (local $lo i32) (local $hi i32) (local $mask i32)
    (local $xi f32) (local $max f32) (local $w f32)
    (local $wx f32) (local $fl f32) (local $sumlx f32) (local $suml2 f32) (local $slx f32) (local $sl2 f32)
    (local $vi v128) (local $vx v128) (local $vw v128) (local $vl v128) (local $vf v128)
    (local.set $lo (i32.sub (i32.const 0) (local.get $nmax)))
    (local.set $hi (i32.sub (local.get $nmax) (i32.const 1)))
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $max (call $absfirst (local.get $x) (local.get $n)))
    (if (f32.lt (f32.abs (local.get $max)) (f32.const 1e-15))
      (then
        (memory.fill (local.get $L) (i32.const 0) (local.get $n))
        (return (f32.const 0))))
    (local.set $vi (f32x4.splat (f32.div (f32.neg (f32.convert_i32_s (local.get $nmax))) (local.get $max))))
    ;; Codes (signed bytes until the end), x² and x³ four at a time; the sums in order.
    (block $e2 (loop $l2
      (br_if $e2 (i32.ge_s (local.get $p) (local.get $nb)))
      (local.set $vx (v128.load (i32.add (local.get $x) (local.get $p))))
      (local.set $vl (call $vclamp (call $vnint (f32x4.mul (local.get $vi) (local.get $vx)))
        (i32x4.splat (local.get $lo)) (i32x4.splat (local.get $hi))))
      (v128.store32_lane 0 (i32.add (local.get $L) (i32.shr_u (local.get $p) (i32.const 2)))
        (i8x16.narrow_i16x8_s (i16x8.narrow_i32x4_s (local.get $vl) (local.get $vl))
                              (i16x8.narrow_i32x4_s (local.get $vl) (local.get $vl))))
      (local.set $vw (f32x4.mul (local.get $vx) (local.get $vx)))
      (v128.store (i32.add (global.get $kX2) (local.get $p)) (local.get $vw))
      (v128.store (i32.add (global.get $kX3) (local.get $p)) (f32x4.mul (local.get $vw) (local.get $vx)))
      (local.set $vf (f32x4.convert_i32x4_s (local.get $vl)))
      (local.set $sumlx (call $hadd (local.get $sumlx)
        (f32x4.mul (f32x4.mul (local.get $vw) (local.get $vx)) (local.get $vf))))
      (local.set $suml2 (call $hadd (local.get $suml2)
        (f32x4.mul (f32x4.mul (local.get $vw) (local.get $vf)) (local.get $vf))))
      (local.set $p (i32.add (local.get $p) (i32.const 16)))
      (br $l2)))
    ;; Each pass first finds, four lanes at a time and with the sums as they
    ;; stand, the codes the pass would try to change; those are then weighed
    ;; one by one in order, exactly as the scalar loop does, and after a
    ;; change (the sums move) the rest are found again. A code found
    ;; unchanged would be unchanged in the scalar loop too: same sums, same
    ;; arithmetic.
    (block $e3 (loop $l3
      (br_if $e3 (i32.ge_s (local.get $itry) (i32.const 5)))
      (local.set $changed (i32.const 0))
      (local.set $i (i32.const 0))
      (block $pass (loop $spec
        (local.set $mask (i32.const 0))
        (local.set $p (i32.const 0))
        (block $e4 (loop $l4
          (br_if $e4 (i32.ge_s (local.get $p) (local.get $nb)))
          (local.set $vl (i32x4.extend_low_i16x8_s (i16x8.extend_low_i8x16_s
            (v128.load32_zero (i32.add (local.get $L) (i32.shr_u (local.get $p) (i32.const 2)))))))
          (local.set $vf (f32x4.convert_i32x4_s (local.get $vl)))
          (local.set $vx (f32x4.sub (f32x4.splat (local.get $sumlx))
            (f32x4.mul (v128.load (i32.add (global.get $kX3) (local.get $p))) (local.get $vf))))
          (local.set $vw (f32x4.sub (f32x4.splat (local.get $suml2))
            (f32x4.mul (f32x4.mul (v128.load (i32.add (global.get $kX2) (local.get $p))) (local.get $vf)) (local.get $vf))))
          (local.set $mask (i32.or (local.get $mask)
            (i32.shl
              (i32x4.bitmask (v128.and
                (f32x4.gt (local.get $vx) (v128.const i32x4 0 0 0 0))
                (i32x4.ne (local.get $vl)
                  (call $vclamp
                    (call $vnint (f32x4.div
                      (f32x4.mul (v128.load (i32.add (local.get $x) (local.get $p))) (local.get $vw))
                      (local.get $vx)))
                    (i32x4.splat (local.get $lo)) (i32x4.splat (local.get $hi))))))
              (i32.shr_u (local.get $p) (i32.const 2)))))
          (local.set $p (i32.add (local.get $p) (i32.const 16)))
          (br $l4)))
        (local.set $mask (i32.and (local.get $mask) (i32.shl (i32.const -1) (local.get $i))))
        (loop $cand
          (br_if $pass (i32.eqz (local.get $mask)))
          (local.set $i (i32.ctz (local.get $mask)))
          (local.set $mask (i32.and (local.get $mask) (i32.sub (local.get $mask) (i32.const 1))))
          (local.set $p (i32.shl (local.get $i) (i32.const 2)))
          (local.set $xi (f32.load (i32.add (local.get $x) (local.get $p))))
          (local.set $w (f32.load (i32.add (global.get $kX2) (local.get $p))))
          (local.set $wx (f32.load (i32.add (global.get $kX3) (local.get $p))))
          (local.set $li (i32.load8_s (i32.add (local.get $L) (local.get $i))))
          (local.set $fl (f32.convert_i32_s (local.get $li)))
          (local.set $slx (f32.sub (local.get $sumlx) (f32.mul (local.get $wx) (local.get $fl))))
          (if (f32.gt (local.get $slx) (f32.const 0))
            (then
              (local.set $sl2 (f32.sub (local.get $suml2) (f32.mul (f32.mul (local.get $w) (local.get $fl)) (local.get $fl))))
              (local.set $nl (call $clamp
                (call $nint (f32.div (f32.mul (local.get $xi) (local.get $sl2)) (local.get $slx)))
                (local.get $lo) (local.get $hi)))
              (if (i32.ne (local.get $nl) (local.get $li))
                (then
                  (local.set $fl (f32.convert_i32_s (local.get $nl)))
                  (local.set $slx (f32.add (local.get $slx) (f32.mul (local.get $wx) (local.get $fl))))
                  (local.set $sl2 (f32.add (local.get $sl2) (f32.mul (f32.mul (local.get $w) (local.get $fl)) (local.get $fl))))
                  (if (i32.and (f32.gt (local.get $sl2) (f32.const 0))
                               (f32.gt (f32.mul (f32.mul (local.get $slx) (local.get $slx)) (local.get $suml2))
                                       (f32.mul (f32.mul (local.get $sumlx) (local.get $sumlx)) (local.get $sl2))))
                    (then
                      (i32.store8 (i32.add (local.get $L) (local.get $i)) (local.get $nl))
                      (local.set $sumlx (local.get $slx))
                      (local.set $suml2 (local.get $sl2))
                      (local.set $changed (i32.add (local.get $changed) (i32.const 1)))
                      (local.set $i (i32.add (local.get $i) (i32.const 1)))
                      (br $spec)))))))
          (br $cand))))
      (br_if $e3 (i32.eqz (local.get $changed)))
      (local.set $itry (i32.add (local.get $itry) (i32.const 1)))
      (br $l3)))
    (local.set $i (i32.const 0))
    (block $e5 (loop $l5
      (br_if $e5 (i32.ge_s (local.get $i) (local.get $n)))
      (v128.store (i32.add (local.get $L) (local.get $i))
        (i8x16.add (v128.load (i32.add (local.get $L) (local.get $i))) (i8x16.splat (local.get $nmax))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l5)))
    (select (f32.div (local.get $sumlx) (local.get $suml2)) (f32.const 0)
      (f32.gt (local.get $suml2) (f32.const 0))))

  ;; quantizeRowQ3_K over $nb super-blocks of 110 bytes; returns how many were flagged.
  (func (export "q3_k") (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (result i32)
    (local $b i32) (local $s i32) (local $o i32) (local $nf i32) (local $j i32) (local $l i32) (local $p i32)
    (local $q i32) (local $h i32) (local $k i32) (local $sc i32)
    (local $scale f32) (local $abs f32) (local $maxS f32) (local $amax f32) (local $iscale f32)
    (local $d0 f32) (local $vd v128) (local $v v128) (local $hm v128)
    (block $e1 (loop $l1
      (br_if $e1 (i32.ge_s (local.get $b) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $b) (i32.const 10))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $b) (i32.const 110))))
      (local.set $sc (i32.add (local.get $o) (i32.const 96)))
      (if (call $nonfinite (local.get $s) (i32.const 256))
        (then
          (i32.store (i32.add (local.get $flags) (i32.shl (local.get $nf) (i32.const 2))) (local.get $b))
          (local.set $nf (i32.add (local.get $nf) (i32.const 1))))
        (else
          (local.set $maxS (f32.const 0))
          (local.set $amax (f32.const 0))
          (local.set $j (i32.const 0))
          (block $e2 (loop $l2
            (br_if $e2 (i32.ge_s (local.get $j) (i32.const 16)))
            (local.set $scale (call $q3 (i32.const 16) (i32.const 4)
              (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 6)))
              (i32.add (global.get $kL) (i32.shl (local.get $j) (i32.const 4)))))
            (f32.store (i32.add (global.get $kSc) (i32.shl (local.get $j) (i32.const 2))) (local.get $scale))
            (local.set $abs (f32.abs (local.get $scale)))
            (if (f32.gt (local.get $abs) (local.get $amax))
              (then (local.set $amax (local.get $abs)) (local.set $maxS (local.get $scale))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $l2)))
          (i64.store (local.get $sc) (i64.const 0))
          (i32.store offset=8 (local.get $sc) (i32.const 0))
          (if (f32.ne (local.get $maxS) (f32.const 0))
            (then
              (local.set $iscale (f32.div (f32.const -32) (local.get $maxS)))
              (local.set $j (i32.const 0))
              (block $e3 (loop $l3
                (br_if $e3 (i32.ge_s (local.get $j) (i32.const 16)))
                (local.set $l (i32.add (call $clamp
                  (i32.extend8_s (call $nint (f32.mul (local.get $iscale)
                    (f32.load (i32.add (global.get $kSc) (i32.shl (local.get $j) (i32.const 2)))))))
                  (i32.const -32) (i32.const 31)) (i32.const 32)))
                (if (i32.lt_s (local.get $j) (i32.const 8))
                  (then (i32.store8 (i32.add (local.get $sc) (local.get $j)) (i32.and (local.get $l) (i32.const 15))))
                  (else
                    (local.set $p (i32.add (local.get $sc) (i32.sub (local.get $j) (i32.const 8))))
                    (i32.store8 (local.get $p) (i32.or (i32.load8_u (local.get $p))
                      (i32.shl (i32.and (local.get $l) (i32.const 15)) (i32.const 4))))))
                (local.set $p (i32.add (local.get $sc) (i32.add (i32.const 8) (i32.and (local.get $j) (i32.const 3)))))
                (i32.store8 (local.get $p) (i32.or (i32.load8_u (local.get $p))
                  (i32.shl (i32.shr_s (local.get $l) (i32.const 4))
                           (i32.shl (i32.shr_u (local.get $j) (i32.const 2)) (i32.const 1)))))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $l3)))
              (i32.store16 offset=108 (local.get $o) (call $f16bits (f32.div (f32.const 1) (local.get $iscale)))))
            (else (i32.store16 offset=108 (local.get $o) (i32.const 0))))
          (local.set $d0 (call $f16val (i32.load16_u offset=108 (local.get $o))))
          (local.set $j (i32.const 0))
          (block $e4 (loop $l4
            (br_if $e4 (i32.ge_s (local.get $j) (i32.const 16)))
            (local.set $l
              (i32.sub
                (i32.or
                  (if (result i32) (i32.lt_s (local.get $j) (i32.const 8))
                    (then (i32.and (i32.load8_u (i32.add (local.get $sc) (local.get $j))) (i32.const 15)))
                    (else (i32.shr_u (i32.load8_u (i32.add (local.get $sc) (i32.sub (local.get $j) (i32.const 8))))
                                     (i32.const 4))))
                  (i32.shl
                    (i32.and
                      (i32.shr_u
                        (i32.load8_u offset=8 (i32.add (local.get $sc) (i32.and (local.get $j) (i32.const 3))))
                        (i32.shl (i32.shr_u (local.get $j) (i32.const 2)) (i32.const 1)))
                      (i32.const 3))
                    (i32.const 4)))
                (i32.const 32)))
            (local.set $scale (f32.mul (local.get $d0) (f32.convert_i32_s (local.get $l))))
            (if (f32.ne (local.get $scale) (f32.const 0)) ;; C: !d is false for NaN
              (then
                (local.set $vd (f32x4.splat (local.get $scale)))
                (local.set $p (i32.const 0))
                (block $e5 (loop $l5
                  (br_if $e5 (i32.ge_s (local.get $p) (i32.const 64)))
                  (call $store4
                    (i32.add (global.get $kL) (i32.add (i32.shl (local.get $j) (i32.const 4)) (i32.shr_u (local.get $p) (i32.const 2))))
                    (i32x4.add
                      (call $vclamp
                        (call $vnint (f32x4.div
                          (v128.load (i32.add (i32.add (local.get $s) (i32.shl (local.get $j) (i32.const 6))) (local.get $p)))
                          (local.get $vd)))
                        (v128.const i32x4 -4 -4 -4 -4) (v128.const i32x4 3 3 3 3))
                      (v128.const i32x4 4 4 4 4)))
                  (local.set $p (i32.add (local.get $p) (i32.const 16)))
                  (br $l5)))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $l4)))
          ;; hmask: bit k of byte i for code 32k + i above 3 (bit 2 of a code 0..7), 16 bytes at a time.
          (local.set $h (i32.const 0))
          (block $e6 (loop $l6
            (br_if $e6 (i32.ge_s (local.get $h) (i32.const 32)))
            (local.set $hm (v128.const i32x4 0 0 0 0))
            (local.set $k (i32.const 0))
            (block $e7 (loop $l7
              (br_if $e7 (i32.ge_s (local.get $k) (i32.const 8)))
              (local.set $p (i32.add (global.get $kL) (i32.add (i32.shl (local.get $k) (i32.const 5)) (local.get $h))))
              (local.set $v (v128.load (local.get $p)))
              (local.set $hm (v128.or (local.get $hm)
                (i8x16.shl (v128.and (i8x16.shr_u (local.get $v) (i32.const 2)) (v128.const i8x16 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1))
                           (local.get $k))))
              (v128.store (local.get $p) (v128.and (local.get $v) (v128.const i8x16 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3)))
              (local.set $k (i32.add (local.get $k) (i32.const 1)))
              (br $l7)))
            (v128.store (i32.add (local.get $o) (local.get $h)) (local.get $hm))
            (local.set $h (i32.add (local.get $h) (i32.const 16)))
            (br $l6)))
          ;; qs: four codes a byte, 32 bytes per 128 codes.
          (local.set $q (i32.const 0))
          (block $e8 (loop $l8
            (br_if $e8 (i32.ge_s (local.get $q) (i32.const 64)))
            (local.set $p (i32.add (global.get $kL)
              (i32.add (i32.shl (i32.shr_u (local.get $q) (i32.const 5)) (i32.const 7)) (i32.and (local.get $q) (i32.const 31)))))
            (v128.store offset=32 (i32.add (local.get $o) (local.get $q))
              (v128.or
                (v128.or (v128.load (local.get $p)) (i8x16.shl (v128.load offset=32 (local.get $p)) (i32.const 2)))
                (v128.or (i8x16.shl (v128.load offset=64 (local.get $p)) (i32.const 4))
                         (i8x16.shl (v128.load offset=96 (local.get $p)) (i32.const 6)))))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $l8)))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $l1)))
    (local.get $nf))
)
