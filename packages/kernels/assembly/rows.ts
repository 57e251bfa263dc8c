// Row-wise training ops for WebAssembly SIMD (AssemblyScript), on the calling thread: layer norm
// forward and backward, and a dense layer's bias + activation gradient. Memory-bound: one or two
// passes over [n, d] rows, four lanes at a time; column sums (dgamma, dbeta, dbias) accumulate
// in float64, as @attnkit/core's reference path sums in float32 over far fewer terms per add.
// The JS side (src/wasm-module.ts) lays inputs and outputs out in this module's memory.

@inline function at(base: usize, i: i32): usize {
  return base + (<usize>i << 2);
}

@inline function lanes(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** acc[j..j+3] (float64) += v, four lanes. */
@inline function addColumns(acc: usize, j: i32, v: v128): void {
  const p = acc + (<usize>j << 3);
  v128.store(p, f64x2.add(v128.load(p), f64x2.promote_low_f32x4(v)));
  v128.store(p, f64x2.add(v128.load(p, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1))), 16);
}

/** Stores the float64 column sums acc[0..d) as float32 at out. */
function storeColumns(acc: usize, d: i32, out: usize): void {
  for (let j = 0; j < d; j++) store<f32>(at(out, j), <f32>load<f64>(acc + (<usize>j << 3)));
}

/**
 * y = (x - mean)·rstd·gamma + beta over rows of x [n, d]; mean [n] and rstd [n] =
 * 1/sqrt(var + epsilon) (biased variance) are written for the backward.
 */
export function layerNormForward(x: usize, gamma: usize, beta: usize, y: usize, mean: usize, rstd: usize, n: i32, d: i32, epsilon: f32): void {
  const d4 = d & ~3;
  const invD: f32 = 1.0 / <f32>d;
  for (let r = 0; r < n; r++) {
    const xr = x + (<usize>(r * d) << 2);
    const yr = y + (<usize>(r * d) << 2);
    let s4 = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) s4 = f32x4.add(s4, v128.load(at(xr, j)));
    let s = lanes(s4);
    for (let j = d4; j < d; j++) s += load<f32>(at(xr, j));
    const m = s * invD;
    const m4 = f32x4.splat(m);
    let q4 = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) {
      const c = f32x4.sub(v128.load(at(xr, j)), m4);
      q4 = f32x4.add(q4, f32x4.mul(c, c));
    }
    let q = lanes(q4);
    for (let j = d4; j < d; j++) {
      const c = load<f32>(at(xr, j)) - m;
      q += c * c;
    }
    const inv: f32 = 1.0 / Mathf.sqrt(q * invD + epsilon);
    store<f32>(at(mean, r), m);
    store<f32>(at(rstd, r), inv);
    const i4 = f32x4.splat(inv);
    for (let j = 0; j < d4; j += 4) {
      const xh = f32x4.mul(f32x4.sub(v128.load(at(xr, j)), m4), i4);
      v128.store(at(yr, j), f32x4.add(f32x4.mul(xh, v128.load(at(gamma, j))), v128.load(at(beta, j))));
    }
    for (let j = d4; j < d; j++) store<f32>(at(yr, j), (load<f32>(at(xr, j)) - m) * inv * load<f32>(at(gamma, j)) + load<f32>(at(beta, j)));
  }
}

/**
 * Layer norm backward: dx = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)) with ĝ = dy·gamma and
 * x̂ = (x - mean)·rstd; dgamma = Σ_rows dy·x̂, dbeta = Σ_rows dy. `acc` is 2·d float64 of scratch.
 */
export function layerNormBackward(
  x: usize,
  gamma: usize,
  mean: usize,
  rstd: usize,
  dy: usize,
  dx: usize,
  dgamma: usize,
  dbeta: usize,
  acc: usize,
  n: i32,
  d: i32,
): void {
  const d4 = d & ~3;
  const invD: f32 = 1.0 / <f32>d;
  const accG = acc;
  const accB = acc + (<usize>d << 3);
  memory.fill(acc, 0, <usize>d << 4);
  for (let r = 0; r < n; r++) {
    const off = <usize>(r * d) << 2;
    const xr = x + off;
    const dyr = dy + off;
    const dxr = dx + off;
    const m4 = f32x4.splat(load<f32>(at(mean, r)));
    const inv = load<f32>(at(rstd, r));
    const i4 = f32x4.splat(inv);
    let a4 = f32x4.splat(0);
    let c4 = f32x4.splat(0);
    for (let j = 0; j < d4; j += 4) {
      const xh = f32x4.mul(f32x4.sub(v128.load(at(xr, j)), m4), i4);
      const g = v128.load(at(dyr, j));
      const gh = f32x4.mul(g, v128.load(at(gamma, j)));
      a4 = f32x4.add(a4, gh);
      c4 = f32x4.add(c4, f32x4.mul(gh, xh));
      addColumns(accG, j, f32x4.mul(g, xh));
      addColumns(accB, j, g);
    }
    let a = lanes(a4);
    let c = lanes(c4);
    const m = f32x4.extract_lane(m4, 0);
    for (let j = d4; j < d; j++) {
      const xh = (load<f32>(at(xr, j)) - m) * inv;
      const g = load<f32>(at(dyr, j));
      const gh = g * load<f32>(at(gamma, j));
      a += gh;
      c += gh * xh;
      const pg = accG + (<usize>j << 3);
      store<f64>(pg, load<f64>(pg) + <f64>(g * xh));
      const pb = accB + (<usize>j << 3);
      store<f64>(pb, load<f64>(pb) + <f64>g);
    }
    a *= invD;
    c *= invD;
    const aa = f32x4.splat(a);
    const cc = f32x4.splat(c);
    for (let j = 0; j < d4; j += 4) {
      const xh = f32x4.mul(f32x4.sub(v128.load(at(xr, j)), m4), i4);
      const gh = f32x4.mul(v128.load(at(dyr, j)), v128.load(at(gamma, j)));
      v128.store(at(dxr, j), f32x4.mul(i4, f32x4.sub(f32x4.sub(gh, aa), f32x4.mul(xh, cc))));
    }
    for (let j = d4; j < d; j++) {
      const xh = (load<f32>(at(xr, j)) - m) * inv;
      store<f32>(at(dxr, j), inv * (load<f32>(at(dyr, j)) * load<f32>(at(gamma, j)) - a - xh * c));
    }
  }
  storeColumns(accG, d, dgamma);
  storeColumns(accB, d, dbeta);
}

/**
 * A dense layer's bias + activation gradient over y [n, u] (the activation's output) and dy:
 * dz = dy, or dy where y > 0 for relu (`relu` != 0); dbias = Σ_rows dz. `acc` is u float64 of scratch.
 */
export function biasActivationBackward(y: usize, dy: usize, dz: usize, dbias: usize, acc: usize, n: i32, u: i32, relu: i32): void {
  const u4 = u & ~3;
  const zero = f32x4.splat(0);
  memory.fill(acc, 0, <usize>u << 3);
  for (let r = 0; r < n; r++) {
    const off = <usize>(r * u) << 2;
    for (let j = 0; j < u4; j += 4) {
      let g = v128.load(at(dy + off, j));
      if (relu) g = v128.and(g, f32x4.gt(v128.load(at(y + off, j)), zero));
      v128.store(at(dz + off, j), g);
      addColumns(acc, j, g);
    }
    for (let j = u4; j < u; j++) {
      const g: f32 = relu && !(load<f32>(at(y + off, j)) > 0) ? 0 : load<f32>(at(dy + off, j));
      store<f32>(at(dz + off, j), g);
      const p = acc + (<usize>j << 3);
      store<f64>(p, load<f64>(p) + <f64>g);
    }
  }
  storeColumns(acc, u, dbias);
}
