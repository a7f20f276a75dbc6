;; WebAssembly SIMD kernels for the CPU references in lib/cast.ts and
;; lib/quant/*.ts. Each must write exactly the bytes of its TypeScript
;; reference (tests/simd_kernels_test.ts holds them to it). Blocks the vector
;; path cannot match exactly (NaN, Inf, a zero extreme whose sign decides a
;; stored byte, a scale whose reciprocal overflows) are not written: their
;; indices go to `flags` and the caller redoes them with the reference.
;;
;; Rebuild: deno run -A lib/simd/build.ts (pinned wabt; writes kernels.wasm
;; and _wasm.ts). All arithmetic is IEEE float32 with round to nearest even,
;; one rounding per operation and no fused multiply-add, as the references.
(module
  (memory (export "memory") 32)

  ;; ---- helpers (once per block, not per element) ----

  ;; IEEE half bits of a float32, round to nearest even; NaN → sign | 0x7e00
  ;; (what Float16Array stores).
  (func $f16 (param $x f32) (result i32)
    (local $a i32) (local $s i32)
    (local.set $a (i32.and (i32.reinterpret_f32 (local.get $x)) (i32.const 0x7fffffff)))
    (local.set $s (i32.and (i32.shr_u (i32.reinterpret_f32 (local.get $x)) (i32.const 16)) (i32.const 0x8000)))
    (if (i32.gt_u (local.get $a) (i32.const 0x7f800000))
      (then (return (i32.or (local.get $s) (i32.const 0x7e00)))))
    (if (i32.ge_u (local.get $a) (i32.const 0x477ff000))
      (then (return (i32.or (local.get $s) (i32.const 0x7c00)))))
    (if (i32.ge_u (local.get $a) (i32.const 0x38800000))
      (then (return (i32.or (local.get $s)
        (i32.shr_u
          (i32.add (i32.add (i32.sub (local.get $a) (i32.const 0x38000000)) (i32.const 0xfff))
                   (i32.and (i32.shr_u (local.get $a) (i32.const 13)) (i32.const 1)))
          (i32.const 13))))))
    ;; Below 2^-14: adding 0.5 rounds to a multiple of 2^-24, the half subnormal step.
    (i32.or (local.get $s)
      (i32.sub (i32.reinterpret_f32 (f32.add (f32.reinterpret_i32 (local.get $a)) (f32.const 0.5)))
               (i32.const 0x3f000000))))

  ;; Largest lane (NaN propagates, as f32x4.max).
  (func $hmax (param $v v128) (result f32)
    (local.set $v (f32x4.max (local.get $v)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
    (local.set $v (f32x4.max (local.get $v)
      (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $v) (local.get $v))))
    (f32x4.extract_lane 0 (local.get $v)))

  ;; Smallest lane (NaN propagates, −0 below +0, as f32x4.min).
  (func $hmin (param $v v128) (result f32)
    (local.set $v (f32x4.min (local.get $v)
      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))
    (local.set $v (f32x4.min (local.get $v)
      (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $v) (local.get $v))))
    (f32x4.extract_lane 0 (local.get $v)))

  ;; max |x| over a block of 32 at $s (NaN propagates).
  (func $amax32 (param $s i32) (result f32)
    (call $hmax (f32x4.max
      (f32x4.max
        (f32x4.max (f32x4.abs (v128.load offset=0 (local.get $s))) (f32x4.abs (v128.load offset=16 (local.get $s))))
        (f32x4.max (f32x4.abs (v128.load offset=32 (local.get $s))) (f32x4.abs (v128.load offset=48 (local.get $s)))))
      (f32x4.max
        (f32x4.max (f32x4.abs (v128.load offset=64 (local.get $s))) (f32x4.abs (v128.load offset=80 (local.get $s))))
        (f32x4.max (f32x4.abs (v128.load offset=96 (local.get $s))) (f32x4.abs (v128.load offset=112 (local.get $s))))))))

  ;; The value of largest magnitude in a block of 32, the first one on ties
  ;; (what the references' `if (amax < |v|)` scan keeps); +0 when all are zero.
  (func $signedmax32 (param $s i32) (param $amax f32) (result f32)
    (local $m v128) (local $bits i32)
    (if (f32.eq (local.get $amax) (f32.const 0)) (then (return (f32.const 0))))
    (local.set $m (f32x4.splat (local.get $amax)))
    (local.set $bits (i32.or
      (i32.or
        (i32.or (i32x4.bitmask (f32x4.eq (f32x4.abs (v128.load offset=0 (local.get $s))) (local.get $m)))
                (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (v128.load offset=16 (local.get $s))) (local.get $m))) (i32.const 4)))
        (i32.or (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (v128.load offset=32 (local.get $s))) (local.get $m))) (i32.const 8))
                (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (v128.load offset=48 (local.get $s))) (local.get $m))) (i32.const 12))))
      (i32.or
        (i32.or (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (v128.load offset=64 (local.get $s))) (local.get $m))) (i32.const 16))
                (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (v128.load offset=80 (local.get $s))) (local.get $m))) (i32.const 20)))
        (i32.or (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (v128.load offset=96 (local.get $s))) (local.get $m))) (i32.const 24))
                (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (v128.load offset=112 (local.get $s))) (local.get $m))) (i32.const 28))))))
    (f32.load (i32.add (local.get $s) (i32.shl (i32.ctz (local.get $bits)) (i32.const 2)))))

  ;; Record block $i as left for the reference; returns the new count.
  (func $flag (param $flags i32) (param $n i32) (param $i i32) (result i32)
    (i32.store (i32.add (local.get $flags) (i32.shl (local.get $n) (i32.const 2))) (local.get $i))
    (i32.add (local.get $n) (i32.const 1)))

  ;; True unless |x| < Inf (so also for NaN).
  (func $nonfinite (param $x f32) (result i32)
    (i32.eqz (f32.lt (f32.abs (local.get $x)) (f32.const inf))))

  ;; C roundf (ties away from zero) of 4 products with |p| < 2^31, as int32.
  (func $roundaway (param $p v128) (result v128)
    (local $t v128)
    (local.set $t (i32x4.trunc_sat_f32x4_s (local.get $p)))
    (i32x4.add (local.get $t)
      (v128.and
        (f32x4.ge (f32x4.abs (f32x4.sub (local.get $p) (f32x4.convert_i32x4_s (local.get $t)))) (v128.const f32x4 0.5 0.5 0.5 0.5))
        (v128.or (i32x4.shr_s (local.get $p) (i32.const 31)) (v128.const i32x4 1 1 1 1)))))

  ;; trunc(x·id + add) as int32 (the references' (int8_t)/(uint8_t) of an in-range value).
  (func $affine (param $x v128) (param $id v128) (param $add v128) (result v128)
    (i32x4.trunc_sat_f32x4_s (f32x4.add (f32x4.mul (local.get $x) (local.get $id)) (local.get $add))))

  ;; trunc((x − min)·id + 0.5) as int32.
  (func $offset (param $x v128) (param $mn v128) (param $id v128) (result v128)
    (i32x4.trunc_sat_f32x4_s
      (f32x4.add (f32x4.mul (f32x4.sub (local.get $x) (local.get $mn)) (local.get $id)) (v128.const f32x4 0.5 0.5 0.5 0.5))))

  ;; 16 int32 lanes (4 vectors) of values 0..255 to 16 bytes.
  (func $bytes (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (i8x16.narrow_i16x8_u (i16x8.narrow_i32x4_s (local.get $a) (local.get $b))
                          (i16x8.narrow_i32x4_s (local.get $c) (local.get $d))))

  ;; ---- ggml blocks of 32 (lib/quant/q*.ts) ----
  ;; (src, dst, blocks, flags) → number of flagged blocks.

  (func (export "q8_0") (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (result i32)
    (local $i i32) (local $n i32) (local $s i32) (local $o i32)
    (local $amax f32) (local $d f32) (local $id f32) (local $v v128)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 7))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $i) (i32.const 34))))
      (local.set $amax (call $amax32 (local.get $s)))
      (local.set $d (f32.div (local.get $amax) (f32.const 127)))
      (local.set $id (select (f32.div (f32.const 1) (local.get $d)) (f32.const 0) (f32.ne (local.get $d) (f32.const 0))))
      (if (i32.or (call $nonfinite (local.get $amax)) (call $nonfinite (local.get $id)))
        (then (local.set $n (call $flag (local.get $flags) (local.get $n) (local.get $i))))
        (else
          (i32.store16 (local.get $o) (call $f16 (local.get $d)))
          (local.set $v (f32x4.splat (local.get $id)))
          ;; |x·id| ≤ 127·(1 + 2^-22): the codes fit int8 without saturating.
          (v128.store offset=2 align=1 (local.get $o)
            (i8x16.narrow_i16x8_s
              (i16x8.narrow_i32x4_s
                (call $roundaway (f32x4.mul (v128.load offset=0 (local.get $s)) (local.get $v)))
                (call $roundaway (f32x4.mul (v128.load offset=16 (local.get $s)) (local.get $v))))
              (i16x8.narrow_i32x4_s
                (call $roundaway (f32x4.mul (v128.load offset=32 (local.get $s)) (local.get $v)))
                (call $roundaway (f32x4.mul (v128.load offset=48 (local.get $s)) (local.get $v))))))
          (v128.store offset=18 align=1 (local.get $o)
            (i8x16.narrow_i16x8_s
              (i16x8.narrow_i32x4_s
                (call $roundaway (f32x4.mul (v128.load offset=64 (local.get $s)) (local.get $v)))
                (call $roundaway (f32x4.mul (v128.load offset=80 (local.get $s)) (local.get $v))))
              (i16x8.narrow_i32x4_s
                (call $roundaway (f32x4.mul (v128.load offset=96 (local.get $s)) (local.get $v)))
                (call $roundaway (f32x4.mul (v128.load offset=112 (local.get $s)) (local.get $v))))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $n))

  ;; Q4_0 ($bits 4) and Q5_0 ($bits 5): d = max/−2^(bits−1), codes
  ;; min(2^bits − 1, trunc(x·id + 2^(bits−1) + 0.5)).
  (func $sym (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (param $bits i32) (result i32)
    (local $i i32) (local $n i32) (local $s i32) (local $o i32) (local $bb i32)
    (local $amax f32) (local $d f32) (local $id f32) (local $v v128) (local $add v128) (local $top v128)
    (local $lo v128) (local $hi v128)
    (local.set $bb (select (i32.const 18) (i32.const 22) (i32.eq (local.get $bits) (i32.const 4))))
    (local.set $add (select (v128.const f32x4 8.5 8.5 8.5 8.5) (v128.const f32x4 16.5 16.5 16.5 16.5)
      (i32.eq (local.get $bits) (i32.const 4))))
    (local.set $top (select (v128.const i32x4 15 15 15 15) (v128.const i32x4 31 31 31 31)
      (i32.eq (local.get $bits) (i32.const 4))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 7))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $i) (local.get $bb))))
      (local.set $amax (call $amax32 (local.get $s)))
      (local.set $d (f32.div
        (call $signedmax32 (local.get $s) (local.get $amax))
        (select (f32.const -8) (f32.const -16) (i32.eq (local.get $bits) (i32.const 4)))))
      (local.set $id (select (f32.div (f32.const 1) (local.get $d)) (f32.const 0) (f32.ne (local.get $d) (f32.const 0))))
      (if (i32.or (call $nonfinite (local.get $amax)) (call $nonfinite (local.get $id)))
        (then (local.set $n (call $flag (local.get $flags) (local.get $n) (local.get $i))))
        (else
          (i32.store16 (local.get $o) (call $f16 (local.get $d)))
          (local.set $v (f32x4.splat (local.get $id)))
          ;; x·id ≥ −2^(bits−1)·(1 + 2^-22), so x·id + 2^(bits−1) + 0.5 > 0.
          (local.set $lo (call $bytes
            (i32x4.min_s (call $affine (v128.load offset=0 (local.get $s)) (local.get $v) (local.get $add)) (local.get $top))
            (i32x4.min_s (call $affine (v128.load offset=16 (local.get $s)) (local.get $v) (local.get $add)) (local.get $top))
            (i32x4.min_s (call $affine (v128.load offset=32 (local.get $s)) (local.get $v) (local.get $add)) (local.get $top))
            (i32x4.min_s (call $affine (v128.load offset=48 (local.get $s)) (local.get $v) (local.get $add)) (local.get $top))))
          (local.set $hi (call $bytes
            (i32x4.min_s (call $affine (v128.load offset=64 (local.get $s)) (local.get $v) (local.get $add)) (local.get $top))
            (i32x4.min_s (call $affine (v128.load offset=80 (local.get $s)) (local.get $v) (local.get $add)) (local.get $top))
            (i32x4.min_s (call $affine (v128.load offset=96 (local.get $s)) (local.get $v) (local.get $add)) (local.get $top))
            (i32x4.min_s (call $affine (v128.load offset=112 (local.get $s)) (local.get $v) (local.get $add)) (local.get $top))))
          (if (i32.eq (local.get $bits) (i32.const 4))
            (then
              (v128.store offset=2 align=1 (local.get $o) (v128.or (local.get $lo) (i8x16.shl (local.get $hi) (i32.const 4)))))
            (else
              ;; Fifth bits: bit j of qh is bit 4 of element j's code.
              (i32.store offset=2 align=1 (local.get $o)
                (i32.or (i8x16.bitmask (i8x16.shl (local.get $lo) (i32.const 3)))
                        (i32.shl (i8x16.bitmask (i8x16.shl (local.get $hi) (i32.const 3))) (i32.const 16))))
              (v128.store offset=6 align=1 (local.get $o)
                (v128.or (v128.and (local.get $lo) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
                         (i8x16.shl (local.get $hi) (i32.const 4))))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $n))

  (func (export "q4_0") (param i32 i32 i32 i32) (result i32)
    (call $sym (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 4)))
  (func (export "q5_0") (param i32 i32 i32 i32) (result i32)
    (call $sym (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 5)))

  ;; Q4_1 ($bits 4) and Q5_1 ($bits 5): d = (max − min)/(2^bits − 1), fp16 min,
  ;; codes trunc((x − min)·id + 0.5) (clamped to 15 for Q4_1).
  (func $asym (param $src i32) (param $dst i32) (param $nb i32) (param $flags i32) (param $bits i32) (result i32)
    (local $i i32) (local $n i32) (local $s i32) (local $o i32) (local $bb i32)
    (local $mn f32) (local $mx f32) (local $d f32) (local $id f32) (local $v v128) (local $m v128) (local $top v128)
    (local $lo v128) (local $hi v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local $x4 v128) (local $x5 v128) (local $x6 v128) (local $x7 v128)
    (local.set $bb (select (i32.const 20) (i32.const 24) (i32.eq (local.get $bits) (i32.const 4))))
    (local.set $top (select (v128.const i32x4 15 15 15 15) (v128.const i32x4 255 255 255 255)
      (i32.eq (local.get $bits) (i32.const 4))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $nb)))
      (local.set $s (i32.add (local.get $src) (i32.shl (local.get $i) (i32.const 7))))
      (local.set $o (i32.add (local.get $dst) (i32.mul (local.get $i) (local.get $bb))))
      (local.set $x0 (v128.load offset=0 (local.get $s)))
      (local.set $x1 (v128.load offset=16 (local.get $s)))
      (local.set $x2 (v128.load offset=32 (local.get $s)))
      (local.set $x3 (v128.load offset=48 (local.get $s)))
      (local.set $x4 (v128.load offset=64 (local.get $s)))
      (local.set $x5 (v128.load offset=80 (local.get $s)))
      (local.set $x6 (v128.load offset=96 (local.get $s)))
      (local.set $x7 (v128.load offset=112 (local.get $s)))
      (local.set $mn (call $hmin (f32x4.min
        (f32x4.min (f32x4.min (local.get $x0) (local.get $x1)) (f32x4.min (local.get $x2) (local.get $x3)))
        (f32x4.min (f32x4.min (local.get $x4) (local.get $x5)) (f32x4.min (local.get $x6) (local.get $x7))))))
      (local.set $mx (call $hmax (f32x4.max
        (f32x4.max (f32x4.max (local.get $x0) (local.get $x1)) (f32x4.max (local.get $x2) (local.get $x3)))
        (f32x4.max (f32x4.max (local.get $x4) (local.get $x5)) (f32x4.max (local.get $x6) (local.get $x7))))))
      (local.set $d (f32.div (f32.sub (local.get $mx) (local.get $mn))
        (select (f32.const 15) (f32.const 31) (i32.eq (local.get $bits) (i32.const 4)))))
      (local.set $id (select (f32.div (f32.const 1) (local.get $d)) (f32.const 0) (f32.ne (local.get $d) (f32.const 0))))
      ;; A zero extreme is flagged: the scan keeps the first of ±0, whose sign is stored.
      (if (i32.or
            (i32.or (call $nonfinite (local.get $mn)) (call $nonfinite (local.get $mx)))
            (i32.or (i32.or (f32.eq (local.get $mn) (f32.const 0)) (f32.eq (local.get $mx) (f32.const 0)))
                    (i32.or (call $nonfinite (local.get $d)) (call $nonfinite (local.get $id)))))
        (then (local.set $n (call $flag (local.get $flags) (local.get $n) (local.get $i))))
        (else
          (i32.store16 (local.get $o) (call $f16 (local.get $d)))
          (i32.store16 offset=2 (local.get $o) (call $f16 (local.get $mn)))
          (local.set $v (f32x4.splat (local.get $id)))
          (local.set $m (f32x4.splat (local.get $mn)))
          ;; 0 ≤ (x − min)·id ≤ (2^bits − 1)·(1 + 2^-22).
          (local.set $lo (call $bytes
            (i32x4.min_s (call $offset (local.get $x0) (local.get $m) (local.get $v)) (local.get $top))
            (i32x4.min_s (call $offset (local.get $x1) (local.get $m) (local.get $v)) (local.get $top))
            (i32x4.min_s (call $offset (local.get $x2) (local.get $m) (local.get $v)) (local.get $top))
            (i32x4.min_s (call $offset (local.get $x3) (local.get $m) (local.get $v)) (local.get $top))))
          (local.set $hi (call $bytes
            (i32x4.min_s (call $offset (local.get $x4) (local.get $m) (local.get $v)) (local.get $top))
            (i32x4.min_s (call $offset (local.get $x5) (local.get $m) (local.get $v)) (local.get $top))
            (i32x4.min_s (call $offset (local.get $x6) (local.get $m) (local.get $v)) (local.get $top))
            (i32x4.min_s (call $offset (local.get $x7) (local.get $m) (local.get $v)) (local.get $top))))
          (if (i32.eq (local.get $bits) (i32.const 4))
            (then
              (v128.store offset=4 align=1 (local.get $o) (v128.or (local.get $lo) (i8x16.shl (local.get $hi) (i32.const 4)))))
            (else
              (i32.store offset=4 align=1 (local.get $o)
                (i32.or (i8x16.bitmask (i8x16.shl (local.get $lo) (i32.const 3)))
                        (i32.shl (i8x16.bitmask (i8x16.shl (local.get $hi) (i32.const 3))) (i32.const 16))))
              (v128.store offset=8 align=1 (local.get $o)
                (v128.or (v128.and (local.get $lo) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
                         (i8x16.shl (local.get $hi) (i32.const 4))))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $n))

  (func (export "q4_1") (param i32 i32 i32 i32) (result i32)
    (call $asym (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 4)))
  (func (export "q5_1") (param i32 i32 i32 i32) (result i32)
    (call $asym (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 5)))

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

  ;; q = zp + rne(clamp(x·inv, lo, hi)) (NaN → lo) for n (a multiple of 16)
  ;; floats, stored as int8 ($unsigned 0) or uint8 ($unsigned 1).
  (func (export "int8") (param $src i32) (param $dst i32) (param $n i32) (param $inv f32) (param $zp i32)
    (param $lo f32) (param $hi f32) (param $unsigned i32)
    (local $end i32) (local $iv v128) (local $lv v128) (local $hv v128) (local $zv v128)
    (local $a v128) (local $b v128) (local $c v128) (local $d v128)
    (local.set $iv (f32x4.splat (local.get $inv)))
    (local.set $lv (f32x4.splat (local.get $lo)))
    (local.set $hv (f32x4.splat (local.get $hi)))
    (local.set $zv (i32x4.splat (local.get $zp)))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      ;; pmax(lo, p) = lo < p ? p : lo (NaN → lo), then pmin(hi, c) = c < hi ? c : hi.
      (local.set $a (i32x4.add (local.get $zv) (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.pmin (local.get $hv)
        (f32x4.pmax (local.get $lv) (f32x4.mul (v128.load offset=0 (local.get $src)) (local.get $iv))))))))
      (local.set $b (i32x4.add (local.get $zv) (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.pmin (local.get $hv)
        (f32x4.pmax (local.get $lv) (f32x4.mul (v128.load offset=16 (local.get $src)) (local.get $iv))))))))
      (local.set $c (i32x4.add (local.get $zv) (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.pmin (local.get $hv)
        (f32x4.pmax (local.get $lv) (f32x4.mul (v128.load offset=32 (local.get $src)) (local.get $iv))))))))
      (local.set $d (i32x4.add (local.get $zv) (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.pmin (local.get $hv)
        (f32x4.pmax (local.get $lv) (f32x4.mul (v128.load offset=48 (local.get $src)) (local.get $iv))))))))
      (if (local.get $unsigned)
        (then (v128.store align=1 (local.get $dst) (call $bytes (local.get $a) (local.get $b) (local.get $c) (local.get $d))))
        (else (v128.store align=1 (local.get $dst)
          (i8x16.narrow_i16x8_s (i16x8.narrow_i32x4_s (local.get $a) (local.get $b))
                                (i16x8.narrow_i32x4_s (local.get $c) (local.get $d))))))
      (local.set $src (i32.add (local.get $src) (i32.const 64)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (br $next))))

  ;; ---- NF4 (lib/quant/nf4.ts, _bnb4.ts): whole blocks of 64 ----

  ;; The NF4 code of 4 values: how many of the 15 sorted thresholds (the float32
  ;; midpoints nf4.ts sorts from dQuantizeNF4's tree, as bits) each exceeds.
  (func $nf4code (param $p v128) (result v128)
    (local $c v128)
    (local.set $c (f32x4.gt (local.get $p) (v128.const i32x4 0xbf591cd8 0xbf591cd8 0xbf591cd8 0xbf591cd8)))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0xbf1c5270 0xbf1c5270 0xbf1c5270 0xbf1c5270))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0xbeeb8480 0xbeeb8480 0xbeeb8480 0xbeeb8480))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0xbeadea76 0xbeadea76 0xbeadea76 0xbeadea76))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0xbe703cec 0xbe703cec 0xbe703cec 0xbe703cec))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0xbe0d38bc 0xbe0d38bc 0xbe0d38bc 0xbe0d38bc))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0xbd3a7871 0xbd3a7871 0xbd3a7871 0xbd3a7871))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0x3d22faff 0x3d22faff 0x3d22faff 0x3d22faff))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0x3df64862 0x3df64862 0x3df64862 0x3df64862))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0x3e5067e0 0x3e5067e0 0x3e5067e0 0x3e5067e0))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0x3e9582d4 0x3e9582d4 0x3e9582d4 0x3e9582d4))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0x3ec753f9 0x3ec753f9 0x3ec753f9 0x3ec753f9))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0x3f006d04 0x3f006d04 0x3f006d04 0x3f006d04))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0x3f248daf 0x3f248daf 0x3f248daf 0x3f248daf))))
    (local.set $c (i32x4.add (local.get $c) (f32x4.gt (local.get $p) (v128.const i32x4 0x3f5c89da 0x3f5c89da 0x3f5c89da 0x3f5c89da))))
    ;; Each true comparison added −1.
    (i32x4.neg (local.get $c)))

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
  (func (export "f16") (param $src i32) (param $dst i32) (param $n i32)
    (local $end i32) (local $u v128) (local $a v128) (local $r0 v128) (local $r1 v128)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
      (local.set $u (v128.load offset=0 (local.get $src)))
      (local.set $a (v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
      (local.set $r0 (v128.or
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
      (local.set $u (v128.load offset=16 (local.get $src)))
      (local.set $a (v128.and (local.get $u) (v128.const i32x4 0x7fffffff 0x7fffffff 0x7fffffff 0x7fffffff)))
      (local.set $r1 (v128.or
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
)
