// SIMD helpers shared by the attention kernel (attention.ts) and the row-wise ops (rows.ts):
// multiply-adds that fuse in the relaxed-SIMD build, a vectorised exp, and the dropout hash.

/**
 * a·b + c. In the relaxed-SIMD build (asc --enable relaxed-simd, dist/attention-relaxed.wasm)
 * f32x4.relaxed_madd, one fused multiply-add where the engine has FMA; otherwise a multiply
 * and an add.
 */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** c - a·b (relaxed_nmadd in the relaxed-SIMD build). */
@inline export function nmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_nmadd(a, b, c);
  return f32x4.sub(c, f32x4.mul(a, b));
}

// Constants of vexp, stored at the start of each thread's scratch (EXP_TABLE bytes) and
// loaded into locals before a loop: as v128.const operands inside the loop, V8 would
// rebuild each of them on every iteration.
export const EXP_TABLE: i32 = 10 * 16;
/** 1.5·2^23 + 127: adding it to |y| < 2^22 rounds y to an integer n and leaves n + 127 in the low mantissa bits. */
const SHIFTER: f32 = 12583039.0;

export function writeExpTable(at: usize): void {
  v128.store(at, f32x4.splat(-87.0), 0);
  v128.store(at, f32x4.splat(1.44269504088896341), 16);
  v128.store(at, f32x4.splat(SHIFTER), 32);
  v128.store(at, f32x4.splat(0.693147180559945309), 48);
  // e^r on |r| <= ln2/2: degree-5 polynomial fitted for least maximum relative error
  // (7.5e-8; 2.2e-7 evaluated in float32), recipe: Lawson's iteratively reweighted least
  // squares in float64 on 40001 points of [-0.347, 0.347].
  v128.store(at, f32x4.splat(8.297575401e-3), 64);
  v128.store(at, f32x4.splat(4.191586919e-2), 80);
  v128.store(at, f32x4.splat(1.666757842e-1), 96);
  v128.store(at, f32x4.splat(4.999889054e-1), 112);
  v128.store(at, f32x4.splat(9.999996901e-1), 128);
  v128.store(at, f32x4.splat(1.000000072), 144);
}

/**
 * e^x for 4 lanes with the constants of writeExpTable; exactly 0 for x <= -87, -Infinity
 * and NaN (so -Infinity - -Infinity gives 0). x = n·ln2 + r with n = round(x·log2e) found by
 * adding SHIFTER (no float-to-int conversion), e^r by the degree-5 polynomial, 2^n by
 * shifting n + 127 into the exponent bits. Relative error ~3e-7 where e^x > 1e-7.
 */
@inline export function vexp(x: v128, lo: v128, log2e: v128, shifter: v128, ln2: v128, c5: v128, c4: v128, c3: v128, c2: v128, c1: v128, c0: v128): v128 {
  const valid = f32x4.gt(x, lo);
  const xc = f32x4.pmax(x, lo); // pmax: one maxps (f32x4.max is eight instructions in V8); NaN stays NaN
  const t = madd(xc, log2e, shifter);
  const r = nmadd(f32x4.sub(t, shifter), ln2, xc);
  let p = madd(c5, r, c4);
  p = madd(p, r, c3);
  p = madd(p, r, c2);
  p = madd(p, r, c1);
  p = madd(p, r, c0);
  return v128.and(f32x4.mul(p, i32x4.shl(t, 23)), valid);
}

/** 32-bit hash of x (lowbias32), lane-wise; the JavaScript twin is dropHash in src/dropout.ts. */
@inline export function hash4(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x7feb352d));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(<i32>0x846ca68b));
  return v128.xor(x, i32x4.shr_u(x, 16));
}
