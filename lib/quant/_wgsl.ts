// WGSL shared by every quantization kernel: the binding layout, the entry
// point, and float helpers that give the same bits as the CPU reference.
//
// WGSL leaves NaN/Inf results "indeterminate" and allows a*b+c to be fused,
// while it guarantees correctly rounded +, - and * of finite values. So the
// kernels test special values with integer ops, pass each product through
// `opaque` (an xor with a runtime zero the compiler cannot see through, so no
// FMA contraction), divide with an integer long division (WGSL's `/` is only
// accurate to 2.5 ULP) and convert to f16 by bit manipulation.

/** The uniform block every kernel reads; the host fills it as 12 u32 words. */
export const WGSL_PARAMS = /* wgsl */ `
struct Params {
  units: u32,
  stride: u32,
  base: u32,
  count: u32,
  channels: u32,
  inner: u32,
  zero: u32,
  a: u32,
  b: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}
`;

/** The binding layout and helpers; a scheme appends `fn quantize_unit(unit: u32)`. */
export const WGSL_PRELUDE = /* wgsl */ `
${WGSL_PARAMS}@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

fn ldf(i: u32) -> f32 { return bitcast<f32>(src[i]); }
fn is_nan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn is_fin(x: f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }
fn is_zero(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0u; }
fn qnan() -> f32 { return bitcast<f32>(0x7fc00000u); }
fn opaque(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ params.zero); }
fn neg(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ 0x80000000u); }
fn fabs(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) & 0x7fffffffu); }

fn fmul(a: f32, b: f32) -> f32 {
  if (is_fin(a) && is_fin(b)) { return opaque(a * b); }
  if (is_nan(a) || is_nan(b) || is_zero(a) || is_zero(b)) { return qnan(); }
  return bitcast<f32>(((bitcast<u32>(a) ^ bitcast<u32>(b)) & 0x80000000u) | 0x7f800000u);
}

fn fadd(a: f32, b: f32) -> f32 {
  if (is_fin(a) && is_fin(b)) { return opaque(a + b); }
  if (is_nan(a) || is_nan(b)) { return qnan(); }
  if (!is_fin(a) && !is_fin(b) && ((bitcast<u32>(a) ^ bitcast<u32>(b)) & 0x80000000u) != 0u) { return qnan(); }
  if (is_fin(a)) { return b; }
  return a;
}

fn fsub(a: f32, b: f32) -> f32 { return fadd(a, neg(b)); }

// Correctly rounded a / b (round to nearest even), by long division of the
// significands, with IEEE special cases and subnormal inputs and results.
fn div_rn(a: f32, b: f32) -> f32 {
  let ua = bitcast<u32>(a);
  let ub = bitcast<u32>(b);
  let sign = (ua ^ ub) & 0x80000000u;
  if (is_nan(a) || is_nan(b)) { return qnan(); }
  if (!is_fin(a)) {
    if (!is_fin(b)) { return qnan(); }
    return bitcast<f32>(sign | 0x7f800000u);
  }
  if (!is_fin(b)) { return bitcast<f32>(sign); }
  if (is_zero(b)) {
    if (is_zero(a)) { return qnan(); }
    return bitcast<f32>(sign | 0x7f800000u);
  }
  if (is_zero(a)) { return bitcast<f32>(sign); }
  var ea = i32((ua >> 23u) & 0xffu);
  var eb = i32((ub >> 23u) & 0xffu);
  var ma = ua & 0x7fffffu;
  var mb = ub & 0x7fffffu;
  if (ea == 0) {
    let s = countLeadingZeros(ma) - 8u;
    ma = ma << s;
    ea = 1 - i32(s);
  } else {
    ma = ma | 0x800000u;
  }
  if (eb == 0) {
    let s = countLeadingZeros(mb) - 8u;
    mb = mb << s;
    eb = 1 - i32(s);
  } else {
    mb = mb | 0x800000u;
  }
  var e = ea - eb + 127;
  if (ma < mb) {
    ma = ma << 1u;
    e = e - 1;
  }
  // 26 quotient bits: 24 significant, a guard bit and one more; r != 0 is sticky.
  var q = 0u;
  var r = ma;
  for (var i = 0u; i < 26u; i = i + 1u) {
    q = q << 1u;
    if (r >= mb) {
      r = r - mb;
      q = q | 1u;
    }
    r = r << 1u;
  }
  let sticky = r != 0u;
  if (e >= 1) {
    var m = q >> 2u;
    let guard = (q >> 1u) & 1u;
    let rest = ((q & 1u) != 0u) || sticky;
    if (guard == 1u && (rest || (m & 1u) == 1u)) { m = m + 1u; }
    if (m == 0x1000000u) {
      m = m >> 1u;
      e = e + 1;
    }
    if (e >= 255) { return bitcast<f32>(sign | 0x7f800000u); }
    return bitcast<f32>(sign | (u32(e) << 23u) | (m & 0x7fffffu));
  }
  let shift = u32(2 + (1 - e));
  if (shift > 26u) { return bitcast<f32>(sign); }
  var m = q >> shift;
  let rem = q & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (sticky || (m & 1u) == 1u))) { m = m + 1u; }
  return bitcast<f32>(sign | m);
}

// IEEE half bits of x, round to nearest even; NaN keeps its sign.
fn f16_bits(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  let sign = (u >> 16u) & 0x8000u;
  let a = u & 0x7fffffffu;
  if (a > 0x7f800000u) { return sign | 0x7e00u; }
  let e = a >> 23u;
  if (e >= 113u) {
    if (e >= 143u) { return sign | 0x7c00u; }
    let t = a - (112u << 23u);
    let h = (t + 0xfffu + ((t >> 13u) & 1u)) >> 13u;
    return sign | min(h, 0x7c00u);
  }
  if (e < 102u) { return sign; }
  let mant = (a & 0x7fffffu) | 0x800000u;
  let s = 126u - e;
  var h = mant >> s;
  let rem = mant & ((1u << s) - 1u);
  let half = 1u << (s - 1u);
  if (rem > half || (rem == half && (h & 1u) == 1u)) { h = h + 1u; }
  return sign | h;
}

// Half bits as the CPU reference stores a ggml scale: NaN is always 0x7e00.
fn f16_canon(x: f32) -> u32 {
  if (is_nan(x)) { return 0x7e00u; }
  return f16_bits(x);
}

// C's roundf (half away from zero), exact: x - trunc(x) is exact in float32.
fn round_away(x: f32) -> f32 {
  let t = trunc(x);
  let f = fabs(x - t);
  if (f >= 0.5) {
    if (x < 0.0) { return t - 1.0; }
    return t + 1.0;
  }
  return t;
}

// C's (int8_t) conversion of a float, as the reference defines it: truncate;
// non-finite values give 0.
fn to_i8(x: f32) -> i32 {
  if (!is_fin(x)) { return 0; }
  let t = clamp(trunc(x), -2147483648.0, 2147483520.0);
  return (i32(t) << 24u) >> 24u;
}
`;

/** The compute entry point: one invocation per unit, 2-D dispatch folded into one index. */
export const WGSL_ENTRY = /* wgsl */ `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let unit = gid.x + gid.y * params.stride;
  if (unit >= params.units) { return; }
  quantize_unit(unit);
}
`;

/** A float32 constant as a WGSL expression with exactly these bits. */
export function wgslF32(value: number): string {
  const bits = new Uint32Array(new Float32Array([value]).buffer)[0];
  return `bitcast<f32>(0x${bits.toString(16)}u)`;
}
