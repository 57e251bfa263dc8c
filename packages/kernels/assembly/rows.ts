// Row-wise training ops for WebAssembly SIMD (AssemblyScript), on the calling thread: layer norm
// forward and backward, a dense layer's bias + activation gradient, softmax cross-entropy with
// label smoothing forward and backward, a row's log-sum-exp. Memory-bound: one or two passes over [n, d] rows, four
// lanes at a time; column sums (dgamma, dbeta, dbias) and row sums of logits accumulate in float64, as @attnkit/core's reference path sums in float32 over far fewer terms per add.
// The JS side (src/wasm-module.ts) lays inputs and outputs out in this module's memory.

import { hash4, vexp, writeExpTable } from './simd';

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

/**
 * Σ_j e^(x_j - xMax) over one row x [v], in float64, with vexp's constants at `table` (written by
 * writeExpTable); each e^(x_j - xMax) is also stored to p[j] where p is not 0.
 */
@inline function expSum(x: usize, p: usize, v: i32, xMax: f32, table: usize): f64 {
  const lo = v128.load(table, 0);
  const log2e = v128.load(table, 16);
  const shifter = v128.load(table, 32);
  const ln2 = v128.load(table, 48);
  const c5 = v128.load(table, 64);
  const c4 = v128.load(table, 80);
  const c3 = v128.load(table, 96);
  const c2 = v128.load(table, 112);
  const c1 = v128.load(table, 128);
  const c0 = v128.load(table, 144);
  const v4 = v & ~3;
  const m4 = f32x4.splat(xMax);
  let lo2 = f64x2.splat(0);
  let hi2 = f64x2.splat(0);
  for (let j = 0; j < v4; j += 4) {
    const e = vexp(f32x4.sub(v128.load(at(x, j)), m4), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0);
    if (p != 0) v128.store(at(p, j), e);
    lo2 = f64x2.add(lo2, f64x2.promote_low_f32x4(e));
    hi2 = f64x2.add(hi2, f64x2.promote_low_f32x4(v128.shuffle<f32>(e, e, 2, 3, 0, 1)));
  }
  let sum: f64 = f64x2.extract_lane(lo2, 0) + f64x2.extract_lane(lo2, 1) + f64x2.extract_lane(hi2, 0) + f64x2.extract_lane(hi2, 1);
  for (let j = v4; j < v; j++) {
    const e = <f32>Math.exp(<f64>(load<f32>(at(x, j)) - xMax));
    if (p != 0) store<f32>(at(p, j), e);
    sum += <f64>e;
  }
  return sum;
}

/**
 * Softmax cross-entropy with label smoothing ε over logits x [n, v] and int32 labels [n] (a
 * label outside [0, v) has no one-hot part): p = softmax(x) [n, v] is written for the backward,
 * and loss[r] = -Σ_j t_j·(x_j - lse), t = (1-ε)·onehot + ε/v, lse = max x + log Σ_j e^(x_j - max x).
 * The exponentials are vexp's (relative error ~3e-7), with its constants at `table`
 * (EXP_TABLE bytes); the row sums of x and of the exponentials accumulate in float64.
 */
export function crossEntropyForward(x: usize, labels: usize, loss: usize, p: usize, table: usize, n: i32, v: i32, epsilon: f32): void {
  writeExpTable(table);
  const v4 = v & ~3;
  for (let r = 0; r < n; r++) {
    const xr = x + (<usize>(r * v) << 2);
    const pr = p + (<usize>(r * v) << 2);
    let lo2 = f64x2.splat(0);
    let hi2 = f64x2.splat(0);
    let mx = f32x4.splat(-Infinity);
    for (let j = 0; j < v4; j += 4) {
      const xs = v128.load(at(xr, j));
      lo2 = f64x2.add(lo2, f64x2.promote_low_f32x4(xs));
      hi2 = f64x2.add(hi2, f64x2.promote_low_f32x4(v128.shuffle<f32>(xs, xs, 2, 3, 0, 1)));
      mx = f32x4.max(mx, xs);
    }
    let total: f64 = f64x2.extract_lane(lo2, 0) + f64x2.extract_lane(lo2, 1) + f64x2.extract_lane(hi2, 0) + f64x2.extract_lane(hi2, 1);
    let xMax = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
    for (let j = v4; j < v; j++) {
      const xj = load<f32>(at(xr, j));
      total += <f64>xj;
      xMax = max(xMax, xj);
    }
    // e^(x - max) into p, summed
    const sum = expSum(xr, pr, v, xMax, table);
    const inv = f32x4.splat(<f32>(1 / sum));
    for (let j = 0; j < v4; j += 4) v128.store(at(pr, j), f32x4.mul(v128.load(at(pr, j)), inv));
    for (let j = v4; j < v; j++) store<f32>(at(pr, j), load<f32>(at(pr, j)) * <f32>(1 / sum));
    const lse: f64 = <f64>xMax + Math.log(sum);
    const id = load<i32>(labels + (<usize>r << 2));
    const hit = id >= 0 && id < v;
    const e = <f64>epsilon;
    const own: f64 = hit ? (1 - e) * <f64>load<f32>(at(xr, id)) : 0;
    store<f32>(at(loss, r), <f32>(lse * (e + (hit ? 1 - e : 0)) - own - (e / <f64>v) * total));
  }
}

/**
 * out[r] = log Σ_j e^(x_rj) over rows of x [n, v], as max + log Σ_j e^(x_rj - max): vexp's
 * exponentials (constants at `table`, EXP_TABLE bytes) summed in float64 (expSum).
 */
export function logSumExp(x: usize, out: usize, table: usize, n: i32, v: i32): void {
  writeExpTable(table);
  const v4 = v & ~3;
  for (let r = 0; r < n; r++) {
    const xr = x + (<usize>(r * v) << 2);
    let mx = f32x4.splat(-Infinity);
    for (let j = 0; j < v4; j += 4) mx = f32x4.max(mx, v128.load(at(xr, j)));
    let xMax = max(max(f32x4.extract_lane(mx, 0), f32x4.extract_lane(mx, 1)), max(f32x4.extract_lane(mx, 2), f32x4.extract_lane(mx, 3)));
    for (let j = v4; j < v; j++) xMax = max(xMax, load<f32>(at(xr, j)));
    store<f32>(at(out, r), <f32>(<f64>xMax + Math.log(expSum(xr, 0, v, xMax, table))));
  }
}

/**
 * Its gradient times the upstream dy [n]: dx_j = ((Σt)·p_j - t_j)·dy, from the softmax p [n, v]
 * and labels [n] alone.
 */
export function crossEntropyBackward(p: usize, labels: usize, dy: usize, dx: usize, n: i32, v: i32, epsilon: f32): void {
  const v4 = v & ~3;
  const floor: f32 = epsilon / <f32>v;
  for (let r = 0; r < n; r++) {
    const pr = p + (<usize>(r * v) << 2);
    const dr = dx + (<usize>(r * v) << 2);
    const g = load<f32>(at(dy, r));
    const id = load<i32>(labels + (<usize>r << 2));
    const hit = id >= 0 && id < v;
    const scale: f32 = (epsilon + (hit ? 1 - epsilon : 0)) * g;
    const off: f32 = floor * g;
    const s4 = f32x4.splat(scale);
    const o4 = f32x4.splat(off);
    for (let j = 0; j < v4; j += 4) v128.store(at(dr, j), f32x4.sub(f32x4.mul(v128.load(at(pr, j)), s4), o4));
    for (let j = v4; j < v; j++) store<f32>(at(dr, j), load<f32>(at(pr, j)) * scale - off);
    if (hit) store<f32>(at(dr, id), load<f32>(at(dr, id)) - (1 - epsilon) * g);
  }
}

/**
 * One Adam step over n values in place, in float32 with tf.train.adam's order of operations:
 * m = m·β1 + g·(1 - β1), v = v·β2 + g²·(1 - β2), value += (m/c1) / (sqrt(v/c2) + ε) · -lr, with
 * c1 = 1 - β1^t and c2 = 1 - β2^t; ob1 = 1 - β1 and ob2 = 1 - β2 rounded to float32 by the caller.
 */
export function adamUpdate(value: usize, m: usize, v: usize, g: usize, n: i32, lr: f32, b1: f32, b2: f32, ob1: f32, ob2: f32, epsilon: f32, c1: f32, c2: f32): void {
  const n4 = n & ~3;
  const B1 = f32x4.splat(b1);
  const B2 = f32x4.splat(b2);
  const OB1 = f32x4.splat(ob1);
  const OB2 = f32x4.splat(ob2);
  const EPS = f32x4.splat(epsilon);
  const C1 = f32x4.splat(c1);
  const C2 = f32x4.splat(c2);
  const NLR = f32x4.splat(-lr);
  for (let j = 0; j < n4; j += 4) {
    const gj = v128.load(at(g, j));
    const m1 = f32x4.add(f32x4.mul(v128.load(at(m, j)), B1), f32x4.mul(gj, OB1));
    const v1 = f32x4.add(f32x4.mul(v128.load(at(v, j)), B2), f32x4.mul(f32x4.mul(gj, gj), OB2));
    v128.store(at(m, j), m1);
    v128.store(at(v, j), v1);
    const step = f32x4.mul(f32x4.div(f32x4.div(m1, C1), f32x4.add(f32x4.sqrt(f32x4.div(v1, C2)), EPS)), NLR);
    v128.store(at(value, j), f32x4.add(v128.load(at(value, j)), step));
  }
  for (let j = n4; j < n; j++) {
    const gj = load<f32>(at(g, j));
    const m1 = load<f32>(at(m, j)) * b1 + gj * ob1;
    const v1 = load<f32>(at(v, j)) * b2 + gj * gj * ob2;
    store<f32>(at(m, j), m1);
    store<f32>(at(v, j), v1);
    store<f32>(at(value, j), load<f32>(at(value, j)) + (m1 / c1 / (Mathf.sqrt(v1 / c2) + epsilon)) * -lr);
  }
}

/**
 * Inverted dropout over n values: y[i] = x[i]·scale where the hash of i·0x9e3779b9 + seed is at
 * least threshold (unsigned), else 0: the attention kernel's pattern over a flat index.
 */
export function dropout(x: usize, y: usize, n: i32, threshold: u32, scale: f32, seed: i32): void {
  const thr = i32x4.splat(<i32>threshold);
  const keep = f32x4.splat(scale);
  const golden = i32x4.splat(<i32>0x9e3779b9);
  const s = i32x4.splat(seed);
  const lanes = i32x4(0, 1, 2, 3);
  // the last group may run past n: x's region is padded to 16 bytes (src/wasm-layout.ts), and only its first n - i lanes are stored
  for (let i = 0; i < n; i += 4) {
    const u = hash4(i32x4.add(i32x4.mul(i32x4.add(i32x4.splat(i), lanes), golden), s));
    const out = v128.and(f32x4.mul(v128.load(at(x, i)), keep), i32x4.ge_u(u, thr));
    const left = n - i;
    if (left >= 4) {
      v128.store(at(y, i), out);
      continue;
    }
    store<f32>(at(y, i), f32x4.extract_lane(out, 0));
    if (left > 1) store<f32>(at(y, i + 1), f32x4.extract_lane(out, 1));
    if (left > 2) store<f32>(at(y, i + 2), f32x4.extract_lane(out, 2));
  }
}
