// The K-quant kernels in WGSL: the same helpers and super-block loops as the
// CPU references (lib/quant/_kquant.ts and q2_k.ts … q6_k.ts), one
// invocation per super-block (two where the block is not a whole number of
// words). Float work goes through the prelude's fmul/fadd/fsub/div_rn (no
// FMA contraction, correct rounding, IEEE special values); comparisons go
// through NaN-aware helpers because WGSL may assume NaN away; sqrt and the
// fp16 conversions are done on the bits so that they round exactly.

import { wgslF32 } from "./_wgsl.ts";
import { GROUP_MAX_EPS } from "./_kquant.ts";

const EPS = wgslF32(GROUP_MAX_EPS);
const TENTH = wgslF32(Math.fround(0.1));

/**
 * A kernel from its parts, with every constant loop bound `i < 32u` made
 * opaque (`+ params.zero`): fully unrolled, these loops take llvmpipe many
 * seconds to compile, for no speed gained.
 */
export function kquantWgsl(...parts: string[]): string {
  return parts.join("").replace(/(\w+) < (\d+)u;/g, "$1 < ($2u + params.zero);");
}

/** Helpers every K-quant kernel uses, appended after the ggml block frame. */
export const WGSL_KQUANT: string = /* wgsl */ `
fn lt(a: f32, b: f32) -> bool { return !is_nan(a) && !is_nan(b) && a < b; }
fn feq(a: f32, b: f32) -> bool { return !is_nan(a) && !is_nan(b) && a == b; }

// ggml's nearest_int: add 1.5*2^23 and read the low mantissa bits.
fn nearest_int(f: f32) -> i32 {
  let v = fadd(f, 12582912.0);
  return i32(bitcast<u32>(v) & 0x7fffffu) - 0x400000;
}

// GGML_FP32_TO_FP16: round to nearest even; NaN keeps its sign.
fn k_f16(x: f32) -> u32 {
  if (is_nan(x)) { return ((bitcast<u32>(x) >> 16u) & 0x8000u) | 0x7e00u; }
  return f16_bits(x);
}

// GGML_FP16_TO_FP32, exactly, subnormal halves included.
fn k_f16_value(h: u32) -> f32 {
  let s = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0x1fu) { return bitcast<f32>(s | 0x7f800000u | (m << 13u)); }
  if (e == 0u) {
    if (m == 0u) { return bitcast<f32>(s); }
    let sh = countLeadingZeros(m) - 21u;
    return bitcast<f32>(s | ((113u - sh) << 23u) | (((m << sh) & 0x3ffu) << 13u));
  }
  return bitcast<f32>(s | ((e + 112u) << 23u) | (m << 13u));
}

var<private> L: array<i32, 256>;
var<private> SCALES: array<f32, 16>;
fn clampi(v: i32, lo: i32, hi: i32) -> i32 { return max(lo, min(hi, v)); }
`;

/** `make_qkx2_quants` (Q2_K, Q4_K, Q5_K). */
export const WGSL_QKX2: string = /* wgsl */ `
var<private> LAUX: array<i32, 32>;
var<private> KW: array<f32, 32>;
var<private> MINS: array<f32, 16>;
var<private> qkx2_min: f32;

// make_qkx2_quants over x[xo..xo+n) with weights KW, codes into L[lo..lo+n).
fn make_qkx2_quants(n: u32, nmax: i32, xo: u32, lo: u32, rmin: f32, rdelta: f32, nstep: i32, use_mad: bool) -> f32 {
  let fnmax = f32(nmax);
  var mn = ldf(xo);
  var mx = ldf(xo);
  var sum_w = KW[0];
  var sum_x = fmul(sum_w, ldf(xo));
  for (var i = 1u; i < n; i = i + 1u) {
    let xi = ldf(xo + i);
    if (lt(xi, mn)) { mn = xi; }
    if (gt(xi, mx)) { mx = xi; }
    let w = KW[i];
    sum_w = fadd(sum_w, w);
    sum_x = fadd(sum_x, fmul(w, xi));
  }
  if (gt(mn, 0.0)) { mn = 0.0; }
  if (feq(mx, mn)) {
    for (var i = 0u; i < n; i = i + 1u) { L[lo + i] = 0; }
    qkx2_min = neg(mn);
    return 0.0;
  }
  var iscale = div_rn(fnmax, fsub(mx, mn));
  var scale = div_rn(1.0, iscale);
  var best_error = 0.0;
  for (var i = 0u; i < n; i = i + 1u) {
    let xi = ldf(xo + i);
    let l = clampi(nearest_int(fmul(iscale, fsub(xi, mn))), 0, nmax);
    L[lo + i] = l;
    var diff = fsub(fadd(fmul(scale, f32(l)), mn), xi);
    if (use_mad) { diff = fabs(diff); } else { diff = fmul(diff, diff); }
    best_error = fadd(best_error, fmul(KW[i], diff));
  }
  if (nstep < 1) {
    qkx2_min = neg(mn);
    return scale;
  }
  for (var is = 0; is <= nstep; is = is + 1) {
    iscale = div_rn(fadd(fadd(rmin, fmul(rdelta, f32(is))), fnmax), fsub(mx, mn));
    var sum_l = 0.0;
    var sum_l2 = 0.0;
    var sum_xl = 0.0;
    for (var i = 0u; i < n; i = i + 1u) {
      let xi = ldf(xo + i);
      let l = clampi(nearest_int(fmul(iscale, fsub(xi, mn))), 0, nmax);
      LAUX[i] = l;
      let wl = fmul(KW[i], f32(l));
      sum_l = fadd(sum_l, wl);
      sum_l2 = fadd(sum_l2, fmul(wl, f32(l)));
      sum_xl = fadd(sum_xl, fmul(wl, xi));
    }
    let D = fsub(fmul(sum_w, sum_l2), fmul(sum_l, sum_l));
    if (gt(D, 0.0)) {
      var this_scale = div_rn(fsub(fmul(sum_w, sum_xl), fmul(sum_x, sum_l)), D);
      var this_min = div_rn(fsub(fmul(sum_l2, sum_x), fmul(sum_l, sum_xl)), D);
      if (gt(this_min, 0.0)) {
        this_min = 0.0;
        this_scale = div_rn(sum_xl, sum_l2);
      }
      var cur_error = 0.0;
      for (var i = 0u; i < n; i = i + 1u) {
        var diff = fsub(fadd(fmul(this_scale, f32(LAUX[i])), this_min), ldf(xo + i));
        if (use_mad) { diff = fabs(diff); } else { diff = fmul(diff, diff); }
        cur_error = fadd(cur_error, fmul(KW[i], diff));
      }
      if (lt(cur_error, best_error)) {
        for (var i = 0u; i < n; i = i + 1u) { L[lo + i] = LAUX[i]; }
        best_error = cur_error;
        scale = this_scale;
        mn = this_min;
      }
    }
  }
  qkx2_min = neg(mn);
  return scale;
}
`;

/** `make_qx_quants` (Q6_K). */
export const WGSL_QX: string = /* wgsl */ `
// make_qx_quants(n, nmax, x, L, rmse_type = 1, NULL).
fn make_qx_quants(n: u32, nmax: i32, xo: u32, lo: u32) -> f32 {
  let fnmax = f32(nmax);
  var mx = 0.0;
  var amax = 0.0;
  for (var i = 0u; i < n; i = i + 1u) {
    let xi = ldf(xo + i);
    let ax = fabs(xi);
    if (gt(ax, amax)) {
      amax = ax;
      mx = xi;
    }
  }
  if (lt(amax, ${EPS})) {
    for (var i = 0u; i < n; i = i + 1u) { L[lo + i] = 0; }
    return 0.0;
  }
  var iscale = div_rn(neg(fnmax), mx);
  var sumlx = 0.0;
  var suml2 = 0.0;
  for (var i = 0u; i < n; i = i + 1u) {
    let xi = ldf(xo + i);
    let l = clampi(nearest_int(fmul(iscale, xi)), -nmax, nmax - 1);
    L[lo + i] = l + nmax;
    let w = fmul(xi, xi);
    sumlx = fadd(sumlx, fmul(fmul(w, xi), f32(l)));
    suml2 = fadd(suml2, fmul(fmul(w, f32(l)), f32(l)));
  }
  var scale = 0.0;
  if (!is_zero(suml2)) { scale = div_rn(sumlx, suml2); }
  var best = fmul(scale, sumlx);
  for (var is = -9; is <= 9; is = is + 1) {
    if (is == 0) { continue; }
    iscale = div_rn(neg(fadd(fnmax, fmul(${TENTH}, f32(is)))), mx);
    sumlx = 0.0;
    suml2 = 0.0;
    for (var i = 0u; i < n; i = i + 1u) {
      let xi = ldf(xo + i);
      let l = clampi(nearest_int(fmul(iscale, xi)), -nmax, nmax - 1);
      let w = fmul(xi, xi);
      sumlx = fadd(sumlx, fmul(fmul(w, xi), f32(l)));
      suml2 = fadd(suml2, fmul(fmul(w, f32(l)), f32(l)));
    }
    if (gt(suml2, 0.0) && gt(fmul(sumlx, sumlx), fmul(best, suml2))) {
      for (var i = 0u; i < n; i = i + 1u) {
        L[lo + i] = nmax + clampi(nearest_int(fmul(iscale, ldf(xo + i))), -nmax, nmax - 1);
      }
      scale = div_rn(sumlx, suml2);
      best = fmul(scale, sumlx);
    }
  }
  return scale;
}
`;

/** `make_q3_quants` (Q3_K). */
export const WGSL_Q3: string = /* wgsl */ `
// make_q3_quants(n, nmax, x, L, do_rmse = true).
fn make_q3_quants(n: u32, nmax: i32, xo: u32, lo: u32) -> f32 {
  var mx = 0.0;
  var amax = 0.0;
  for (var i = 0u; i < n; i = i + 1u) {
    let xi = ldf(xo + i);
    let ax = fabs(xi);
    if (gt(ax, amax)) {
      amax = ax;
      mx = xi;
    }
  }
  if (lt(amax, ${EPS})) {
    for (var i = 0u; i < n; i = i + 1u) { L[lo + i] = 0; }
    return 0.0;
  }
  let iscale = div_rn(neg(f32(nmax)), mx);
  var sumlx = 0.0;
  var suml2 = 0.0;
  for (var i = 0u; i < n; i = i + 1u) {
    let xi = ldf(xo + i);
    let l = clampi(nearest_int(fmul(iscale, xi)), -nmax, nmax - 1);
    L[lo + i] = l;
    let w = fmul(xi, xi);
    sumlx = fadd(sumlx, fmul(fmul(w, xi), f32(l)));
    suml2 = fadd(suml2, fmul(fmul(w, f32(l)), f32(l)));
  }
  for (var itry = 0; itry < 5; itry = itry + 1) {
    var changed = 0;
    for (var i = 0u; i < n; i = i + 1u) {
      let xi = ldf(xo + i);
      let w = fmul(xi, xi);
      let li = f32(L[lo + i]);
      var slx = fsub(sumlx, fmul(fmul(w, xi), li));
      if (gt(slx, 0.0)) {
        var sl2 = fsub(suml2, fmul(fmul(w, li), li));
        let nl = clampi(nearest_int(div_rn(fmul(xi, sl2), slx)), -nmax, nmax - 1);
        if (nl != L[lo + i]) {
          slx = fadd(slx, fmul(fmul(w, xi), f32(nl)));
          sl2 = fadd(sl2, fmul(fmul(w, f32(nl)), f32(nl)));
          if (gt(sl2, 0.0) && gt(fmul(fmul(slx, slx), suml2), fmul(fmul(sumlx, sumlx), sl2))) {
            L[lo + i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed = changed + 1;
          }
        }
      }
    }
    if (changed == 0) { break; }
  }
  for (var i = 0u; i < n; i = i + 1u) { L[lo + i] = L[lo + i] + nmax; }
  if (gt(suml2, 0.0)) { return div_rn(sumlx, suml2); }
  return 0.0;
}
`;

/** Q4_K/Q5_K's scale packing and the two halves of their super-block loop. */
export const WGSL_K4: string = /* wgsl */ `
// Correctly rounded sqrt of x >= 0 (or NaN/Inf) by an integer digit-by-digit root.
fn sqrt_rn(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  if (is_nan(x)) { return qnan(); }
  if ((u & 0x80000000u) != 0u) {
    if (is_zero(x)) { return x; }
    return qnan();
  }
  if (!is_fin(x) || is_zero(x)) { return x; }
  var m = u & 0x7fffffu;
  var e = i32(u >> 23u) - 150;
  if ((u >> 23u) == 0u) {
    let sh = countLeadingZeros(m) - 8u;
    m = m << sh;
    e = -149 - i32(sh);
  } else {
    m = m | 0x800000u;
  }
  // N = m << s with 2^48 <= N < 2^50 and e - s even; its root has 25 bits.
  var s = 26u;
  if ((e & 1) != 0) { s = 25u; }
  let hi = m >> (32u - s);
  let lo = m << s;
  var root = 0u;
  var rem = 0u;
  for (var i = 0u; i < 25u; i = i + 1u) {
    let p = 48u - 2u * i;
    var bits = 0u;
    if (p >= 32u) {
      bits = (hi >> (p - 32u)) & 3u;
    } else {
      bits = (lo >> p) & 3u;
    }
    rem = (rem << 2u) | bits;
    let trial = (root << 2u) | 1u;
    if (rem >= trial) {
      rem = rem - trial;
      root = (root << 1u) | 1u;
    } else {
      root = root << 1u;
    }
  }
  // No exact halfway case exists for a square root, so round = add the guard bit.
  var q = (root >> 1u) + (root & 1u);
  var ex = (e - i32(s)) / 2 + 24 + 127;
  if (q == 0x1000000u) {
    q = q >> 1u;
    ex = ex + 1;
  }
  return bitcast<f32>((u32(ex) << 23u) | (q & 0x7fffffu));
}

// Q4_K/Q5_K: sub-block scales and mins (SCALES/MINS 0..7) packed into the
// 12 bytes at off + 4, d and dmin at off and off + 2.
var<private> SB: array<u32, 12>;
var<private> D_BITS: u32;
var<private> M_BITS: u32;
fn pack_scales_mins_k4(off: u32) {
  var max_scale = 0.0;
  var max_min = 0.0;
  for (var j = 0u; j < 8u; j = j + 1u) {
    if (gt(SCALES[j], max_scale)) { max_scale = SCALES[j]; }
    if (gt(MINS[j], max_min)) { max_min = MINS[j]; }
  }
  var inv_scale = 0.0;
  if (gt(max_scale, 0.0)) { inv_scale = div_rn(63.0, max_scale); }
  var inv_min = 0.0;
  if (gt(max_min, 0.0)) { inv_min = div_rn(63.0, max_min); }
  for (var j = 0u; j < 8u; j = j + 1u) {
    let ls = min(63u, u32(nearest_int(fmul(inv_scale, SCALES[j]))) & 0xffu);
    let lm = min(63u, u32(nearest_int(fmul(inv_min, MINS[j]))) & 0xffu);
    if (j < 4u) {
      SB[j] = ls;
      SB[j + 4u] = lm;
    } else {
      SB[j + 4u] = (ls & 0xfu) | ((lm & 0xfu) << 4u);
      SB[j - 4u] = SB[j - 4u] | ((ls >> 4u) << 6u);
      SB[j] = SB[j] | ((lm >> 4u) << 6u);
    }
  }
  for (var j = 0u; j < 12u; j = j + 1u) { put8(off + 4u + j, SB[j]); }
  D_BITS = k_f16(div_rn(max_scale, 63.0));
  M_BITS = k_f16(div_rn(max_min, 63.0));
  put16(off, D_BITS);
  put16(off + 2u, M_BITS);
}

// get_scale_min_k4 over SB: scale in the low byte, min in the next.
fn scale_min_k4(j: u32) -> vec2<u32> {
  if (j < 4u) { return vec2<u32>(SB[j] & 63u, SB[j + 4u] & 63u); }
  return vec2<u32>((SB[j + 4u] & 0xfu) | ((SB[j - 4u] >> 6u) << 4u), (SB[j + 4u] >> 4u) | ((SB[j] >> 6u) << 4u));
}

// Q4_K/Q5_K's first half: weights sqrt(mean x^2) + |x|, then make_qkx2_quants per sub-block of 32.
fn qkx2_sub_blocks_32(base: u32, nmax: i32, rmin: f32, nstep: i32) {
  for (var j = 0u; j < 8u; j = j + 1u) {
    let xo = base + 32u * j;
    var sum_x2 = 0.0;
    for (var l = 0u; l < 32u; l = l + 1u) { sum_x2 = fadd(sum_x2, fmul(ldf(xo + l), ldf(xo + l))); }
    let av_x = sqrt_rn(div_rn(sum_x2, 32.0));
    for (var l = 0u; l < 32u; l = l + 1u) { KW[l] = fadd(av_x, fabs(ldf(xo + l))); }
    SCALES[j] = make_qkx2_quants(32u, nmax, xo, 32u * j, rmin, ${TENTH}, nstep, false);
    MINS[j] = qkx2_min;
  }
}

// Q4_K/Q5_K's second half: codes against the stored scales; d, dmin from the fp16 bits.
fn requantize_32(base: u32, nmax: i32) {
  let d0 = k_f16_value(D_BITS);
  let m0 = k_f16_value(M_BITS);
  for (var j = 0u; j < 8u; j = j + 1u) {
    let sm = scale_min_k4(j);
    let d = fmul(d0, f32(sm.x));
    if (is_zero(d)) { continue; }
    let dm = fmul(m0, f32(sm.y));
    for (var ii = 0u; ii < 32u; ii = ii + 1u) {
      L[32u * j + ii] = clampi(nearest_int(div_rn(fadd(ldf(base + 32u * j + ii), dm), d)), 0, nmax);
    }
  }
}
`;

/** Q4_K's super-block. */
export const WGSL_Q4_K_BLOCK: string = /* wgsl */ `
fn block(blk: u32, off: u32) {
  let base = blk * 256u;
  qkx2_sub_blocks_32(base, 15, -1.0, 20);
  pack_scales_mins_k4(off);
  requantize_32(base, 15);
  for (var j = 0u; j < 256u; j = j + 64u) {
    for (var l = 0u; l < 32u; l = l + 1u) {
      put8(off + 16u + j / 2u + l, u32(L[j + l]) | (u32(L[j + l + 32u]) << 4u));
    }
  }
}
`;

/** Q5_K's super-block. */
export const WGSL_Q5_K_BLOCK: string = /* wgsl */ `
fn block(blk: u32, off: u32) {
  let base = blk * 256u;
  qkx2_sub_blocks_32(base, 31, -0.5, 15);
  pack_scales_mins_k4(off);
  requantize_32(base, 31);
  var m1 = 1u;
  var m2 = 2u;
  var qh: array<u32, 32>;
  for (var j = 0u; j < 32u; j = j + 1u) { qh[j] = 0u; }
  for (var n = 0u; n < 256u; n = n + 64u) {
    for (var j = 0u; j < 32u; j = j + 1u) {
      var l1 = u32(L[n + j]);
      if (l1 > 15u) {
        l1 = l1 - 16u;
        qh[j] = qh[j] | m1;
      }
      var l2 = u32(L[n + j + 32u]);
      if (l2 > 15u) {
        l2 = l2 - 16u;
        qh[j] = qh[j] | m2;
      }
      put8(off + 48u + n / 2u + j, l1 | (l2 << 4u));
    }
    m1 = m1 << 2u;
    m2 = m2 << 2u;
  }
  for (var j = 0u; j < 32u; j = j + 1u) { put8(off + 16u + j, qh[j]); }
}
`;

/** Q2_K's super-block. */
export const WGSL_Q2_K_BLOCK: string = /* wgsl */ `
fn block(blk: u32, off: u32) {
  let base = blk * 256u;
  var max_scale = 0.0;
  var max_min = 0.0;
  for (var j = 0u; j < 16u; j = j + 1u) {
    let xo = base + 16u * j;
    for (var l = 0u; l < 16u; l = l + 1u) { KW[l] = fabs(ldf(xo + l)); }
    let scale = make_qkx2_quants(16u, 3, xo, 16u * j, -0.5, ${TENTH}, 15, true);
    SCALES[j] = scale;
    MINS[j] = qkx2_min;
    if (gt(scale, max_scale)) { max_scale = scale; }
    if (gt(qkx2_min, max_min)) { max_min = qkx2_min; }
  }
  var sc: array<u32, 16>;
  var d_bits = 0u;
  var m_bits = 0u;
  for (var j = 0u; j < 16u; j = j + 1u) { sc[j] = 0u; }
  if (gt(max_scale, 0.0)) {
    let iscale = div_rn(15.0, max_scale);
    for (var j = 0u; j < 16u; j = j + 1u) { sc[j] = u32(nearest_int(fmul(iscale, SCALES[j]))) & 0xffu; }
    d_bits = k_f16(div_rn(max_scale, 15.0));
  }
  if (gt(max_min, 0.0)) {
    let iscale = div_rn(15.0, max_min);
    for (var j = 0u; j < 16u; j = j + 1u) {
      sc[j] = (sc[j] | (u32(nearest_int(fmul(iscale, MINS[j]))) << 4u)) & 0xffu;
    }
    m_bits = k_f16(div_rn(max_min, 15.0));
  }
  let d0 = k_f16_value(d_bits);
  let m0 = k_f16_value(m_bits);
  for (var j = 0u; j < 16u; j = j + 1u) {
    let d = fmul(d0, f32(sc[j] & 0xfu));
    if (is_zero(d)) { continue; }
    let dm = fmul(m0, f32(sc[j] >> 4u));
    for (var ii = 0u; ii < 16u; ii = ii + 1u) {
      L[16u * j + ii] = clampi(nearest_int(div_rn(fadd(ldf(base + 16u * j + ii), dm), d)), 0, 3);
    }
  }
  for (var j = 0u; j < 16u; j = j + 1u) { put8(off + j, sc[j]); }
  for (var j = 0u; j < 256u; j = j + 128u) {
    for (var l = 0u; l < 32u; l = l + 1u) {
      let q = u32(L[j + l]) | (u32(L[j + l + 32u]) << 2u) | (u32(L[j + l + 64u]) << 4u) | (u32(L[j + l + 96u]) << 6u);
      put8(off + 16u + j / 4u + l, q);
    }
  }
  put16(off + 80u, d_bits);
  put16(off + 82u, m_bits);
}
`;

/** Q3_K's super-block. */
export const WGSL_Q3_K_BLOCK: string = /* wgsl */ `
fn block(blk: u32, off: u32) {
  let base = blk * 256u;
  var max_scale = 0.0;
  var amax = 0.0;
  for (var j = 0u; j < 16u; j = j + 1u) {
    let scale = make_q3_quants(16u, 4, base + 16u * j, 16u * j);
    SCALES[j] = scale;
    if (gt(fabs(scale), amax)) {
      amax = fabs(scale);
      max_scale = scale;
    }
  }
  var sc: array<u32, 12>;
  for (var j = 0u; j < 12u; j = j + 1u) { sc[j] = 0u; }
  var d_bits = 0u;
  if (!is_zero(max_scale)) {
    let iscale = div_rn(-32.0, max_scale);
    for (var j = 0u; j < 16u; j = j + 1u) {
      let l = u32(clampi((nearest_int(fmul(iscale, SCALES[j])) << 24u) >> 24u, -32, 31) + 32);
      if (j < 8u) {
        sc[j] = l & 0xfu;
      } else {
        sc[j - 8u] = sc[j - 8u] | ((l & 0xfu) << 4u);
      }
      sc[8u + j % 4u] = sc[8u + j % 4u] | ((l >> 4u) << (2u * (j / 4u)));
    }
    d_bits = k_f16(div_rn(1.0, iscale));
  }
  let d0 = k_f16_value(d_bits);
  for (var j = 0u; j < 16u; j = j + 1u) {
    var low = 0u;
    if (j < 8u) { low = sc[j] & 0xfu; } else { low = sc[j - 8u] >> 4u; }
    let s = i32(low | (((sc[8u + j % 4u] >> (2u * (j / 4u))) & 3u) << 4u)) - 32;
    let d = fmul(d0, f32(s));
    if (is_zero(d)) { continue; }
    for (var ii = 0u; ii < 16u; ii = ii + 1u) {
      L[16u * j + ii] = clampi(nearest_int(div_rn(ldf(base + 16u * j + ii), d)), -4, 3) + 4;
    }
  }
  var hm: array<u32, 32>;
  for (var j = 0u; j < 32u; j = j + 1u) { hm[j] = 0u; }
  for (var j = 0u; j < 256u; j = j + 1u) {
    if (L[j] > 3) {
      hm[j & 31u] = hm[j & 31u] | (1u << (j >> 5u));
      L[j] = L[j] - 4;
    }
  }
  for (var j = 0u; j < 32u; j = j + 1u) { put8(off + j, hm[j]); }
  for (var j = 0u; j < 256u; j = j + 128u) {
    for (var l = 0u; l < 32u; l = l + 1u) {
      let q = u32(L[j + l]) | (u32(L[j + l + 32u]) << 2u) | (u32(L[j + l + 64u]) << 4u) | (u32(L[j + l + 96u]) << 6u);
      put8(off + 32u + j / 4u + l, q);
    }
  }
  for (var j = 0u; j < 12u; j = j + 1u) { put8(off + 96u + j, sc[j]); }
  put16(off + 108u, d_bits);
}
`;

/** Q6_K's super-block. */
export const WGSL_Q6_K_BLOCK: string = /* wgsl */ `
fn block(blk: u32, off: u32) {
  let base = blk * 256u;
  var max_scale = 0.0;
  var max_abs_scale = 0.0;
  for (var ib = 0u; ib < 16u; ib = ib + 1u) {
    let scale = make_qx_quants(16u, 32, base + 16u * ib, 16u * ib);
    SCALES[ib] = scale;
    if (gt(fabs(scale), max_abs_scale)) {
      max_abs_scale = fabs(scale);
      max_scale = scale;
    }
  }
  // An all-zero block stays all zero bytes (the frame zeroed them).
  if (lt(max_abs_scale, ${EPS})) { return; }
  let iscale = div_rn(-128.0, max_scale);
  let d_bits = k_f16(div_rn(1.0, iscale));
  let d0 = k_f16_value(d_bits);
  var sc: array<i32, 16>;
  for (var ib = 0u; ib < 16u; ib = ib + 1u) {
    sc[ib] = (min(127, nearest_int(fmul(iscale, SCALES[ib]))) << 24u) >> 24u;
  }
  for (var j = 0u; j < 16u; j = j + 1u) {
    let d = fmul(d0, f32(sc[j]));
    if (is_zero(d)) { continue; }
    for (var ii = 0u; ii < 16u; ii = ii + 1u) {
      L[16u * j + ii] = clampi(nearest_int(div_rn(ldf(base + 16u * j + ii), d)), -32, 31) + 32;
    }
  }
  for (var j = 0u; j < 256u; j = j + 128u) {
    for (var l = 0u; l < 32u; l = l + 1u) {
      let a = u32(L[j + l]);
      let b = u32(L[j + l + 32u]);
      let c = u32(L[j + l + 64u]);
      let e = u32(L[j + l + 96u]);
      put8(off + j / 2u + l, (a & 0xfu) | ((c & 0xfu) << 4u));
      put8(off + j / 2u + l + 32u, (b & 0xfu) | ((e & 0xfu) << 4u));
      put8(off + 128u + j / 4u + l, (a >> 4u) | ((b >> 4u) << 2u) | ((c >> 4u) << 4u) | ((e >> 4u) << 6u));
    }
  }
  for (var ib = 0u; ib < 16u; ib = ib + 1u) { put8(off + 192u + ib, u32(sc[ib])); }
  put16(off + 208u, d_bits);
}
`;
