// What the K-quant CPU references share: ggml's helpers from ggml-quants.c
// (nearest_int, make_qkx2_quants, make_qx_quants, make_q3_quants) and its
// fp16 conversions, in float32 arithmetic evaluated left to right. Every
// float operation is a double operation rounded with Math.fround, which for
// +, -, *, / and sqrt of float32 values is the float32 operation itself.

const fr = Math.fround;

/** Elements per super-block. */
export const QK_K = 256;

/** ggml's GROUP_MAX_EPS (1e-15f): below it a group counts as all zero. */
export const GROUP_MAX_EPS: number = fr(1e-15);

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);
const F16 = new Float16Array(1);
const U16 = new Uint16Array(F16.buffer);

/**
 * ggml's `nearest_int`: add 1.5·2^23 in float32 and read the low mantissa
 * bits, which is round half to even for |f| < 2^22 and wraps beyond it
 * exactly as the C code does (NaN gives 0).
 */
export function nearestInt(f: number): number {
  if (f > -4194304 && f < 4194304) return fr(f + 12582912) - 12582912;
  F32[0] = f + 12582912;
  return (U32[0] & 0x7fffff) - 0x400000;
}

/** GGML_FP32_TO_FP16: round to nearest even, overflow to ±Inf, NaN → sign | 0x7e00. */
export function fp16Bits(x: number): number {
  if (x !== x) {
    F32[0] = x;
    return ((U32[0] >>> 16) & 0x8000) | 0x7e00;
  }
  F16[0] = x;
  return U16[0];
}

/** GGML_FP16_TO_FP32 of half bits. */
export function fp16Value(bits: number): number {
  U16[0] = bits;
  return F16[0];
}

/** The fp16 round trip of a scale as the references store it and read it back. */
export function fp16Round(x: number): number {
  return fp16Value(fp16Bits(x));
}

/** Store half bits little-endian at `o`. */
export function putF16(out: Uint8Array, o: number, bits: number): void {
  out[o] = bits & 255;
  out[o + 1] = bits >>> 8;
}

const DIFF = new Float32Array(32);

/** The min that {@linkcode makeQkx2Quants} found (ggml's `*the_min`). */
export let qkx2Min = 0;

/**
 * `make_qkx2_quants`: codes 0..nmax in `L[lo..lo+n)` for `x[xo..xo+n)` with
 * weights `w[0..n)`; returns the scale, and sets {@linkcode qkx2Min}.
 */
export function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  w: Float32Array,
  L: Uint8Array,
  lo: number,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): number {
  let min = x[xo];
  let max = x[xo];
  let sumW = w[0];
  let sumX = fr(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const wi = w[i];
    sumW = fr(sumW + wi);
    sumX = fr(sumX + fr(wi * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    qkx2Min = -min;
    return 0;
  }
  // `min` moves when a step finds a better fit, and later steps start from it.
  let iscale = fr(nmax / fr(max - min));
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = nearestInt(fr(iscale * fr(xi - min)));
    const q = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lo + i] = q;
    let diff = fr(fr(fr(scale * q) + min) - xi);
    diff = useMad ? Math.abs(diff) : fr(diff * diff);
    bestError = fr(bestError + fr(w[i] * diff));
  }
  if (nstep < 1) {
    qkx2Min = -min;
    return scale;
  }
  // x - min rounded to float32 (the Float32Array store rounds), redone when min moves.
  let diffMin = min;
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / fr(max - min));
    // Steps often give the codes of the step before. The sums, the fit and its
    // error depend on the codes alone, and that step was already weighed (best
    // error only falls since), so the outcome is "no change": skip it.
    if (is === 0 || min !== diffMin) {
      for (let i = 0; i < n; i++) DIFF[i] = x[xo + i] - min;
      diffMin = min;
    }
    let same = is > 0;
    for (let i = 0; i < n; i++) {
      const l = nearestInt(fr(iscale * DIFF[i]));
      const q = l < 0 ? 0 : l > nmax ? nmax : l;
      if (Laux[i] !== q) {
        Laux[i] = q;
        same = false;
      }
    }
    if (same) continue;
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const q = Laux[i];
      const wl = fr(w[i] * q);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * q));
      sumXL = fr(sumXL + fr(wl * x[xo + i]));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      // The error adds terms >= 0 (weights are >= 0), so its float32 partial
      // sums never fall: once it reaches the best error it cannot beat it.
      let curError = 0;
      for (let i = 0; i < n && !(curError >= bestError); i++) {
        let diff = fr(fr(fr(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : fr(diff * diff);
        curError = fr(curError + fr(w[i] * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  qkx2Min = -min;
  return scale;
}

const QX_CODES = new Int32Array(32);
const QX_W = new Float32Array(32);
const QX_WX = new Float32Array(32);

/**
 * The value of largest magnitude among x[xo..xo+n), with its sign (the first
 * one wins a tie; NaN never does), as make_qx_quants and make_q3_quants find it.
 */
function signedAbsMax(x: Float32Array, xo: number, n: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const ax = Math.abs(xi);
    if (ax > amax) {
      amax = ax;
      max = xi;
    }
  }
  return max;
}

/**
 * `make_qx_quants` with rmse_type 1 and no importance weights (the only form
 * the K-quant references use): codes 0..2·nmax−1 in `L[lo..lo+n)`; returns the scale.
 */
export function makeQxQuants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  L: Int8Array,
  lo: number,
): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  // The weights x² and their products w·x do not change between steps.
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    QX_W[i] = xi * xi;
    QX_WX[i] = QX_W[i] * xi;
  }
  for (let i = 0; i < n; i++) {
    let l = nearestInt(fr(iscale * x[xo + i]));
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    L[lo + i] = l + nmax;
    sumlx = fr(sumlx + fr(QX_WX[i] * l));
    suml2 = fr(suml2 + fr(fr(QX_W[i] * l) * l));
  }
  let scale = suml2 !== 0 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  // As in makeQkx2Quants: a step whose codes equal the step before's has the
  // same sums, and accepting it again would change nothing, so it is skipped.
  let prev = -1;
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    let same = prev !== -1;
    for (let i = 0; i < n; i++) {
      const l = nearestInt(fr(iscale * x[xo + i]));
      const q = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
      if (QX_CODES[i] !== q) {
        QX_CODES[i] = q;
        same = false;
      }
    }
    prev = is;
    if (same) continue;
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const l = QX_CODES[i];
      sumlx = fr(sumlx + fr(QX_WX[i] * l));
      suml2 = fr(suml2 + fr(fr(QX_W[i] * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = nmax + QX_CODES[i];
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** `make_q3_quants` with do_rmse: codes 0..2·nmax−1 in `L[lo..lo+n)`; returns the scale. */
export function makeQ3Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  L: Int8Array,
  lo: number,
): number {
  const max = signedAbsMax(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const iscale = fr(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    let l = nearestInt(fr(iscale * xi));
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    L[lo + i] = l;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const w = fr(xi * xi);
      const li = L[lo + i];
      let slx = fr(sumlx - fr(fr(w * xi) * li));
      if (slx > 0) {
        let sl2 = fr(suml2 - fr(fr(w * li) * li));
        let nl = nearestInt(fr(fr(xi * sl2) / slx));
        nl = nl < -nmax ? -nmax : nl > nmax - 1 ? nmax - 1 : nl;
        if (nl !== li) {
          slx = fr(slx + fr(fr(w * xi) * nl));
          sl2 = fr(sl2 + fr(fr(w * nl) * nl));
          if (sl2 > 0 && fr(fr(slx * slx) * suml2) > fr(fr(sumlx * sumlx) * sl2)) {
            L[lo + i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] += nmax;
  return suml2 > 0 ? fr(sumlx / suml2) : 0;
}

/** Q4_K/Q5_K's packing of eight 6-bit scales and mins into 12 bytes (`get_scale_min_k4`'s inverse). */
export function packScalesMinsK4(scales: Float32Array, mins: Float32Array, out: Uint8Array, o: number): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    if (scales[j] > maxScale) maxScale = scales[j];
    if (mins[j] > maxMin) maxMin = mins[j];
  }
  const invScale = maxScale > 0 ? fr(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fr(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    let ls = nearestInt(fr(invScale * scales[j])) & 255;
    let lm = nearestInt(fr(invMin * mins[j])) & 255;
    if (ls > 63) ls = 63;
    if (lm > 63) lm = 63;
    if (j < 4) {
      out[o + 4 + j] = ls;
      out[o + 8 + j] = lm;
    } else {
      out[o + 8 + j] = (ls & 0xf) | ((lm & 0xf) << 4);
      out[o + j] |= (ls >> 4) << 6;
      out[o + 4 + j] |= (lm >> 4) << 6;
    }
  }
  putF16(out, o, fp16Bits(fr(maxScale / 63)));
  putF16(out, o + 2, fp16Bits(fr(maxMin / 63)));
}

/** `get_scale_min_k4`: sub-block j's 6-bit scale (low byte) and min (high byte) from the 12 bytes at `o`. */
export function scaleMinK4(j: number, q: Uint8Array, o: number): number {
  if (j < 4) return (q[o + j] & 63) | ((q[o + j + 4] & 63) << 8);
  const d = (q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4);
  const m = (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4);
  return d | (m << 8);
}

const K4_LAUX = new Uint8Array(32);
const K4_WEIGHTS = new Float32Array(32);
const K4_SCALES = new Float32Array(8);
const K4_MINS = new Float32Array(8);

/**
 * One Q4_K or Q5_K super-block's scales and mins (make_qkx2_quants per
 * sub-block of 32, packed as 6 bits with the fp16 d and dmin at `out[o]`)
 * and its codes into `L` (0…nmax), exactly as quantize_row_q4_K_ref and
 * quantize_row_q5_K_ref compute them; the two differ only in nmax, rmin and
 * the number of search steps.
 */
export function quantizeScalesMinsK(
  x: Float32Array,
  xb: number,
  nmax: number,
  rmin: number,
  nstep: number,
  out: Uint8Array,
  o: number,
  L: Uint8Array,
): void {
  for (let j = 0; j < 8; j++) {
    const xo = xb + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = fr(sumX2 + fr(x[xo + l] * x[xo + l]));
    const avX = fr(Math.sqrt(fr(sumX2 / 32)));
    for (let l = 0; l < 32; l++) K4_WEIGHTS[l] = avX + Math.abs(x[xo + l]);
    K4_SCALES[j] = makeQkx2Quants(
      32,
      nmax,
      x,
      xo,
      K4_WEIGHTS,
      L,
      32 * j,
      K4_LAUX,
      rmin,
      fr(0.1),
      nstep,
      false,
    );
    K4_MINS[j] = qkx2Min;
  }
  packScalesMinsK4(K4_SCALES, K4_MINS, out, o);
  const d0 = fp16Value(out[o] | (out[o + 1] << 8));
  const m0 = fp16Value(out[o + 2] | (out[o + 3] << 8));
  for (let j = 0; j < 8; j++) {
    const sm = scaleMinK4(j, out, o + 4);
    const d = fr(d0 * (sm & 255));
    if (d === 0) continue; // C: !d is false for NaN
    const dm = fr(m0 * (sm >> 8));
    const xo = xb + 32 * j;
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fr(fr(x[xo + ii] + dm) / d));
      L[32 * j + ii] = l < 0 ? 0 : l > nmax ? nmax : l;
    }
  }
}
