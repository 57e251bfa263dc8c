// Fused scaled-dot-product attention for WebAssembly SIMD (AssemblyScript).
//
// Flash algorithm: each query head is processed R = 4 rows at a time against key blocks of
// up to C columns, with a running row max, normaliser and output (online softmax), so no
// [Tq, Tk] matrix exists beyond one R x C tile. The backward pass recomputes each tile from
// the saved row logsumexp.
//
// Semantics are those of @attnkit/core's reference path: logits (scale·q)·kᵀ + bias; masked
// entries (user mask AND causal/window band AND bias != -Infinity) are filled with MASK_FILL = -1e9 and count in
// the softmax normaliser, then their weights are zeroed, so a row with nothing to attend to
// gives 0. Masked entries are tracked here as a count per row and folded in at the end.
//
// The JS side (src/wasm.ts) writes a parameter block and the inputs into this module's
// memory; scratch space starts at `scratch` and is grown here as needed.

const R: i32 = 4; // query rows per tile (register block)
const C: i32 = 128; // key columns per tile
const MASK_FILL: f32 = -1e9;
const NEG_INF: f32 = -Infinity;

// Parameter block layout (i32 / f32 slots): one source, shared with the JS side.
import {
  P_B,
  P_HQ,
  P_HKV,
  P_TQ,
  P_TK,
  P_DK,
  P_DV,
  P_SCALE,
  P_LEFT,
  P_RIGHT,
  P_OFFSET,
  P_Q,
  P_K,
  P_V,
  P_MASK,
  P_BIAS,
  P_OUT,
  P_LSE,
  P_SCRATCH,
  P_DY,
  P_O,
  P_DQ,
  P_DK_OUT,
  P_DV_OUT,
  P_DBIAS,
  P_COUNTER,
  P_DROP_RATE,
  P_DROP_SEED,
} from '../src/slots';
import { EXP_TABLE, hash4, madd, nmadd, vexp, writeExpTable } from './simd';

/** Query rows per forward work item (a multiple of R). */
const FWD_ROWS: i32 = 64;

export function heapBase(): usize {
  return __heap_base;
}

@inline function pi(params: usize, slot: i32): i32 {
  return load<i32>(params + (<usize>slot << 2));
}

@inline function roundUp(n: i32, m: i32): i32 {
  return ((n + m - 1) / m) * m;
}

/** Traps unless [0, end) is addressable: the (shared) memory is grown by the caller, never here. */
function ensure(end: usize): void {
  if (end > (<usize>memory.size() << 16)) unreachable();
}

// Layouts. 4 query rows travel together:
// - interleaved [rowsP/4][nP][4]: rows i0..i0+3 of a [rows, n] matrix, feature d's 4 values
//   contiguous (query, dO: broadcast one row's value at a constant offset);
// - key panels [rowsP/8][nP][8]: 8 keys at a time, all features, each feature's 8 keys
//   contiguous (K for the scores, V for dP = dO·Vᵀ);
// - value panels [nP/8][rowsP][8]: 8 features at a time, all keys (V for the output, K for dQ);
// - tiles S, P, dP, dS: row-major [R][C], row r at s + r·ROW_BYTES, keys in the lanes;
//   output and dQ accumulators row-major [rows][nP].
// The micro-kernels broadcast the 4 rows' values (4 loads at constant offsets, whose
// addresses V8 keeps in registers) against two vectors of 8 keys or features: 8 multiply-adds
// per 6 loads. (Rows in the lanes instead, broadcasting 8 keys' values at 8 offsets, needs 9
// loads per 8 multiply-adds, and V8 recomputes most of those addresses on every step: measured
// 20-40 % slower, more with FMA.)

/** Bytes from one row of a tile [R][C] to the next. */
const ROW_BYTES: i32 = C * 4;

/**
 * S[r][c] = Σ_d X[d][r] · K[c0 + c][d] for r < 4, c < cols (a multiple of 8), into the tile
 * S [R][C]: X the 4 rows interleaved [n][4], K key panels of n features (n a multiple of 8).
 */
function scores(x: usize, k: usize, n: i32, c0: i32, cols: i32, s: usize): void {
  const panel = <usize>n << 5;
  const end = x + (<usize>n << 4);
  for (let cb = 0; cb < cols; cb += 8) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let a4 = f32x4.splat(0);
    let a5 = f32x4.splat(0);
    let a6 = f32x4.splat(0);
    let a7 = f32x4.splat(0);
    let kp = k + <usize>((c0 + cb) >> 3) * panel;
    for (let xp = x; xp < end; xp += 16) {
      const k0 = v128.load(kp);
      const k1 = v128.load(kp, 16);
      let xv = v128.load32_splat(xp);
      a0 = madd(xv, k0, a0);
      a1 = madd(xv, k1, a1);
      xv = v128.load32_splat(xp, 4);
      a2 = madd(xv, k0, a2);
      a3 = madd(xv, k1, a3);
      xv = v128.load32_splat(xp, 8);
      a4 = madd(xv, k0, a4);
      a5 = madd(xv, k1, a5);
      xv = v128.load32_splat(xp, 12);
      a6 = madd(xv, k0, a6);
      a7 = madd(xv, k1, a7);
      kp += 32;
    }
    const sp = s + (<usize>cb << 2);
    v128.store(sp, a0);
    v128.store(sp, a1, 16);
    v128.store(sp, a2, ROW_BYTES);
    v128.store(sp, a3, ROW_BYTES + 16);
    v128.store(sp, a4, 2 * ROW_BYTES);
    v128.store(sp, a5, 2 * ROW_BYTES + 16);
    v128.store(sp, a6, 3 * ROW_BYTES);
    v128.store(sp, a7, 3 * ROW_BYTES + 16);
  }
}

/**
 * Out[r][e] += Σ_j P[r][j] · Y[j0 + j][e] for r < 4, j < cols, e < w (a multiple of 8): P a
 * tile [R][C], Y value panels of rowsP keys, Out rows of w floats.
 */
function mix(p: usize, y: usize, rowsP: i32, j0: i32, cols: i32, w: i32, out: usize): void {
  const panel = <usize>rowsP << 5;
  const ow = <usize>w << 2;
  const end = p + (<usize>cols << 2);
  for (let eb = 0; eb < w; eb += 8) {
    const o0 = out + (<usize>eb << 2);
    const o1 = o0 + ow;
    const o2 = o1 + ow;
    const o3 = o2 + ow;
    let a0 = v128.load(o0);
    let a1 = v128.load(o0, 16);
    let a2 = v128.load(o1);
    let a3 = v128.load(o1, 16);
    let a4 = v128.load(o2);
    let a5 = v128.load(o2, 16);
    let a6 = v128.load(o3);
    let a7 = v128.load(o3, 16);
    let yp = y + <usize>(eb >> 3) * panel + (<usize>j0 << 5);
    for (let pp = p; pp < end; pp += 4) {
      const y0 = v128.load(yp);
      const y1 = v128.load(yp, 16);
      let pv = v128.load32_splat(pp);
      a0 = madd(pv, y0, a0);
      a1 = madd(pv, y1, a1);
      pv = v128.load32_splat(pp, ROW_BYTES);
      a2 = madd(pv, y0, a2);
      a3 = madd(pv, y1, a3);
      pv = v128.load32_splat(pp, 2 * ROW_BYTES);
      a4 = madd(pv, y0, a4);
      a5 = madd(pv, y1, a5);
      pv = v128.load32_splat(pp, 3 * ROW_BYTES);
      a6 = madd(pv, y0, a6);
      a7 = madd(pv, y1, a7);
      yp += 32;
    }
    v128.store(o0, a0);
    v128.store(o0, a1, 16);
    v128.store(o1, a2);
    v128.store(o1, a3, 16);
    v128.store(o2, a4);
    v128.store(o2, a5, 16);
    v128.store(o3, a6);
    v128.store(o3, a7, 16);
  }
}

/**
 * Acc[j][e] += Σ_r P[r][j] · X[r][e] for j < cols, r < 4, e < w (a multiple of 8): P a tile
 * [R][C], X rows of w floats, Acc rows of w floats starting at the tile's first key.
 */
function mixT(p: usize, x: usize, cols: i32, w: i32, acc: usize): void {
  const ws = <usize>w << 2;
  for (let eb = 0; eb < w; eb += 8) {
    const xp = x + (<usize>eb << 2);
    const x00 = v128.load(xp);
    const x01 = v128.load(xp, 16);
    const x10 = v128.load(xp + ws);
    const x11 = v128.load(xp + ws, 16);
    const x20 = v128.load(xp + 2 * ws);
    const x21 = v128.load(xp + 2 * ws, 16);
    const x30 = v128.load(xp + 3 * ws);
    const x31 = v128.load(xp + 3 * ws, 16);
    let ap = acc + (<usize>eb << 2);
    let pp = p;
    for (let j = 0; j < cols; j++) {
      const p0 = v128.load32_splat(pp);
      const p1 = v128.load32_splat(pp, ROW_BYTES);
      const p2 = v128.load32_splat(pp, 2 * ROW_BYTES);
      const p3 = v128.load32_splat(pp, 3 * ROW_BYTES);
      let a0 = v128.load(ap);
      let a1 = v128.load(ap, 16);
      a0 = madd(p0, x00, madd(p1, x10, madd(p2, x20, madd(p3, x30, a0))));
      a1 = madd(p0, x01, madd(p1, x11, madd(p2, x21, madd(p3, x31, a1))));
      v128.store(ap, a0);
      v128.store(ap, a1, 16);
      ap += ws;
      pp += 4;
    }
  }
}

/** Copies rows [rows, n] of src (float, row stride n) into dst [rowsP, nP] scaled, zero padded. */
function packRows(src: usize, rows: i32, n: i32, scale: f32, dst: usize, rowsP: i32, nP: i32): void {
  memory.fill(dst, 0, <usize>(rowsP * nP) << 2);
  for (let i = 0; i < rows; i++) {
    const s = src + (<usize>(i * n) << 2);
    const d = dst + (<usize>(i * nP) << 2);
    for (let e = 0; e < n; e++) store<f32>(d + (<usize>e << 2), load<f32>(s + (<usize>e << 2)) * scale);
  }
}

/** The 4x4 transpose of rows a, b, c, d (lane j of row i goes to lane i of row j), stored at dst, dst + step, dst + 2·step, dst + 3·step, each scaled by sv. */
@inline function storeTransposed(a: v128, b: v128, c: v128, d: v128, sv: v128, dst: usize, step: usize): void {
  const ab0 = i32x4.shuffle(a, b, 0, 4, 1, 5);
  const cd0 = i32x4.shuffle(c, d, 0, 4, 1, 5);
  const ab1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
  const cd1 = i32x4.shuffle(c, d, 2, 6, 3, 7);
  v128.store(dst, f32x4.mul(i64x2.shuffle(ab0, cd0, 0, 2), sv));
  v128.store(dst + step, f32x4.mul(i64x2.shuffle(ab0, cd0, 1, 3), sv));
  v128.store(dst + 2 * step, f32x4.mul(i64x2.shuffle(ab1, cd1, 0, 2), sv));
  v128.store(dst + 3 * step, f32x4.mul(i64x2.shuffle(ab1, cd1, 1, 3), sv));
}

/** Copies src [rows, n] into dst interleaved [rowsP/4][nP][4], scaled, zero padded. */
function packInterleaved(src: usize, rows: i32, n: i32, scale: f32, dst: usize, rowsP: i32, nP: i32): void {
  memory.fill(dst, 0, <usize>(rowsP * nP) << 2);
  let i = 0;
  if ((n & 3) == 0) {
    // 4 rows x 4 features at a time: a 4x4 transpose
    const sv = f32x4.splat(scale);
    const ns = <usize>n << 2;
    for (; i + 4 <= rows; i += 4) {
      const s = src + (<usize>(i * n) << 2);
      const d = dst + (<usize>(i * nP) << 2);
      for (let e = 0; e < n; e += 4) {
        const at = s + (<usize>e << 2);
        storeTransposed(v128.load(at), v128.load(at + ns), v128.load(at + 2 * ns), v128.load(at + 3 * ns), sv, d + (<usize>e << 4), 16);
      }
    }
  }
  for (; i < rows; i++) {
    const s = src + (<usize>(i * n) << 2);
    const d = dst + (<usize>((i >> 2) * nP * 4 + (i & 3)) << 2);
    for (let e = 0; e < n; e++) store<f32>(d + (<usize>e << 4), load<f32>(s + (<usize>e << 2)) * scale);
  }
}

/** Copies src [rows, n] into key panels [rowsP/8][nP][8], zero padded. */
function packKeyPanels(src: usize, rows: i32, n: i32, dst: usize, rowsP: i32, nP: i32): void {
  memory.fill(dst, 0, <usize>(rowsP * nP) << 2);
  let i = 0;
  if ((n & 3) == 0) {
    // 8 keys x 4 features at a time: two 4x4 transposes
    const one = f32x4.splat(1);
    const ns = <usize>n << 2;
    for (; i + 8 <= rows; i += 8) {
      const s = src + (<usize>(i * n) << 2);
      const d = dst + (<usize>(i * nP) << 2);
      for (let e = 0; e < n; e += 4) {
        const at = s + (<usize>e << 2);
        const to = d + (<usize>e << 5);
        storeTransposed(v128.load(at), v128.load(at + ns), v128.load(at + 2 * ns), v128.load(at + 3 * ns), one, to, 32);
        const at4 = at + 4 * ns;
        storeTransposed(v128.load(at4), v128.load(at4 + ns), v128.load(at4 + 2 * ns), v128.load(at4 + 3 * ns), one, to + 16, 32);
      }
    }
  }
  for (; i < rows; i++) {
    const s = src + (<usize>(i * n) << 2);
    const d = dst + (<usize>((i >> 3) * nP * 8 + (i & 7)) << 2);
    for (let e = 0; e < n; e++) store<f32>(d + (<usize>e << 5), load<f32>(s + (<usize>e << 2)));
  }
}

/** Copies src [rows, n] into value panels [nP/8][rowsP][8], zero padded. */
function packValuePanels(src: usize, rows: i32, n: i32, dst: usize, rowsP: i32, nP: i32): void {
  memory.fill(dst, 0, <usize>(rowsP * nP) << 2);
  const panel = <usize>rowsP << 5;
  const full = n & ~7; // features in whole panels: copied 8 at a time
  for (let i = 0; i < rows; i++) {
    const s = src + (<usize>(i * n) << 2);
    const d = dst + (<usize>i << 5);
    for (let e = 0; e < full; e += 8) {
      const at = s + (<usize>e << 2);
      const to = d + <usize>(e >> 3) * panel;
      v128.store(to, v128.load(at));
      v128.store(to, v128.load(at, 16), 16);
    }
    for (let e = full; e < n; e++) store<f32>(d + <usize>(e >> 3) * panel + (<usize>(e & 7) << 2), load<f32>(s + (<usize>e << 2)));
  }
}

// Per-call state shared by the helpers below (set by setup()).
let B: i32 = 0;
let Hq: i32 = 0;
let Hkv: i32 = 0;
let Tq: i32 = 0;
let Tk: i32 = 0;
let Dk: i32 = 0;
let Dv: i32 = 0;
let DkP: i32 = 0;
let DvP: i32 = 0;
let TqP: i32 = 0;
let TkP: i32 = 0;
let scale: f32 = 0;
let left: i32 = 0;
let right: i32 = 0;
let offset: i32 = 0;
let maskPtr: usize = 0;
let mSB: i32 = 0;
let mSH: i32 = 0;
let mSQ: i32 = 0;
let mSK: i32 = 0;
let biasPtr: usize = 0;
let bSB: i32 = 0;
let bSH: i32 = 0;
let bSQ: i32 = 0;
let bSK: i32 = 0;
let dropThreshold: u32 = 0;
let dropScale: f32 = 1;
let dropSeed: i32 = 0;

function setup(params: usize): void {
  B = pi(params, P_B);
  Hq = pi(params, P_HQ);
  Hkv = pi(params, P_HKV);
  Tq = pi(params, P_TQ);
  Tk = pi(params, P_TK);
  Dk = pi(params, P_DK);
  Dv = pi(params, P_DV);
  DkP = roundUp(Dk, 8);
  DvP = roundUp(Dv, 8);
  TqP = roundUp(Tq, R);
  TkP = roundUp(Tk, 8);
  scale = load<f32>(params + (<usize>P_SCALE << 2));
  left = pi(params, P_LEFT);
  right = pi(params, P_RIGHT);
  offset = pi(params, P_OFFSET);
  maskPtr = <usize>pi(params, P_MASK);
  mSB = pi(params, P_MASK + 1);
  mSH = pi(params, P_MASK + 2);
  mSQ = pi(params, P_MASK + 3);
  mSK = pi(params, P_MASK + 4);
  biasPtr = <usize>pi(params, P_BIAS);
  bSB = pi(params, P_BIAS + 1);
  bSH = pi(params, P_BIAS + 2);
  bSQ = pi(params, P_BIAS + 3);
  bSK = pi(params, P_BIAS + 4);
  const rate = load<f32>(params + (<usize>P_DROP_RATE << 2));
  dropThreshold = rate > 0 ? <u32>(<f64>rate * 4294967296.0) : 0;
  dropScale = rate > 0 ? 1 / (1 - rate) : 1;
  dropSeed = pi(params, P_DROP_SEED);
}


/**
 * Applies dropout to the tile T [R][C] of rows i0.. keys c0.. of head h of batch b: each entry
 * times 1/(1 - rate) where kept, 0 where dropped. Entries outside [Tq, Tk] are left (they are 0).
 */
function dropTile(t: usize, b: i32, h: i32, i0: i32, c0: i32, cols: i32): void {
  const thr = i32x4.splat(<i32>dropThreshold);
  const keep = f32x4.splat(dropScale);
  const golden = i32x4.splat(<i32>0x9e3779b9);
  const seed = i32x4.splat(dropSeed);
  const lanes = i32x4(0, 1, 2, 3);
  for (let r = 0; r < R; r++) {
    const i = i0 + r;
    if (i >= Tq) break;
    const base = ((b * Hq + h) * Tq + i) * Tk + c0;
    const row = t + <usize>(r * ROW_BYTES);
    for (let c = 0; c < cols; c += 4) {
      const idx = i32x4.add(i32x4.splat(base + c), lanes);
      const u = hash4(i32x4.add(i32x4.mul(idx, golden), seed));
      const kept = i32x4.ge_u(u, thr);
      const at = row + (<usize>c << 2);
      v128.store(at, v128.and(f32x4.mul(v128.load(at), keep), kept));
    }
  }
}

/** First allowed key of query i by the causal/window band (may be < 0). */
@inline function bandLo(i: i32): i32 {
  return i + offset - left;
}
/** Last allowed key of query i by the band (may be >= Tk). */
@inline function bandHi(i: i32): i32 {
  return i + offset + right;
}

const TILE_SKIP = 0;
const TILE_FULL = 1;
const TILE_SOME = 2;

/** How the band covers rows [i0, i0 + 4) x keys [c0, c0 + cols): skip, full (no per-entry work) or some. */
function classify(i0: i32, c0: i32, cols: i32): i32 {
  const last = min(i0 + R, Tq) - 1;
  const kLast = c0 + cols - 1;
  if (c0 > bandHi(last) || kLast < bandLo(i0)) return TILE_SKIP;
  if (maskPtr == 0 && biasPtr == 0 && kLast < Tk && c0 >= bandLo(last) && kLast <= bandHi(i0) && last == i0 + R - 1) return TILE_FULL;
  return TILE_SOME;
}

/**
 * Adds the bias to and masks the tile S [R][C] of rows i0.. keys c0.. for query head h of
 * batch b: excluded entries become -Infinity. When `counts` is not 0 the masked entries of
 * each row are added to counts[r] (i32). Padding rows/columns are set to -Infinity without
 * counting.
 */
function maskTile(s: usize, b: i32, h: i32, i0: i32, c0: i32, cols: i32, counts: usize): void {
  for (let r = 0; r < R; r++) {
    const i = i0 + r;
    const row = s + <usize>(r * ROW_BYTES);
    if (i >= Tq) {
      for (let c = 0; c < cols; c++) store<f32>(row + (<usize>c << 2), NEG_INF);
      continue;
    }
    const lo = bandLo(i);
    const hi = bandHi(i);
    const mBase = maskPtr + <usize>(b * mSB + h * mSH + i * mSQ);
    const bBase = biasPtr + (<usize>(b * bSB + h * bSH + i * bSQ) << 2);
    let masked = 0;
    for (let c = 0; c < cols; c++) {
      const j = c0 + c;
      const at = row + (<usize>c << 2);
      if (j >= Tk) {
        store<f32>(at, NEG_INF);
        continue;
      }
      let ok = j >= lo && j <= hi;
      if (ok && maskPtr != 0) ok = load<u8>(mBase + <usize>(j * mSK)) != 0;
      // a bias of -Infinity excludes the key as the mask does (core's reference: zeros, not NaN)
      const bias = ok && biasPtr != 0 ? load<f32>(bBase + (<usize>(j * bSK) << 2)) : <f32>0;
      if (!ok || bias == NEG_INF) {
        store<f32>(at, NEG_INF);
        masked++;
      } else if (biasPtr != 0) {
        store<f32>(at, load<f32>(at) + bias);
      }
    }
    if (counts != 0) store<i32>(counts + (<usize>r << 2), load<i32>(counts + (<usize>r << 2)) + masked);
  }
}

/**
 * One vector of the 4 vectors' lanes reduced, [max(a), max(b), max(c), max(d)] (`max`) or
 * [sum(a), sum(b), sum(c), sum(d)]: a 4x4 transpose, then lane-wise.
 */
@inline function reduceLanes4(a: v128, b: v128, c: v128, d: v128, max: bool): v128 {
  const ab0 = i32x4.shuffle(a, b, 0, 4, 1, 5);
  const cd0 = i32x4.shuffle(c, d, 0, 4, 1, 5);
  const ab1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
  const cd1 = i32x4.shuffle(c, d, 2, 6, 3, 7);
  const t0 = i64x2.shuffle(ab0, cd0, 0, 2);
  const t1 = i64x2.shuffle(ab0, cd0, 1, 3);
  const t2 = i64x2.shuffle(ab1, cd1, 0, 2);
  const t3 = i64x2.shuffle(ab1, cd1, 1, 3);
  if (max) return f32x4.pmax(f32x4.pmax(t0, t1), f32x4.pmax(t2, t3));
  return f32x4.add(f32x4.add(t0, t1), f32x4.add(t2, t3));
}

/** Lane-wise maximum over one row of a tile, `bytes` long (a multiple of 32). */
@inline function maxOfRow(row: usize, bytes: usize): v128 {
  let m0 = f32x4.splat(NEG_INF);
  let m1 = f32x4.splat(NEG_INF);
  const end = row + bytes;
  for (let at = row; at < end; at += 32) {
    m0 = f32x4.pmax(m0, v128.load(at));
    m1 = f32x4.pmax(m1, v128.load(at, 16));
  }
  return f32x4.pmax(m0, m1);
}

/** exp(row - m) in place over one row of a tile, `bytes` long (a multiple of 32); returns the lane-wise sums. */
@inline function expRow(row: usize, bytes: usize, m: v128, lo: v128, log2e: v128, shifter: v128, ln2: v128, c5: v128, c4: v128, c3: v128, c2: v128, c1: v128, c0: v128): v128 {
  let sum0 = f32x4.splat(0);
  let sum1 = f32x4.splat(0);
  const end = row + bytes;
  for (let at = row; at < end; at += 32) {
    const e0 = vexp(f32x4.sub(v128.load(at), m), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0);
    const e1 = vexp(f32x4.sub(v128.load(at, 16), m), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0);
    v128.store(at, e0);
    v128.store(at, e1, 16);
    sum0 = f32x4.add(sum0, e0);
    sum1 = f32x4.add(sum1, e1);
  }
  return f32x4.add(sum0, sum1);
}

/**
 * One tile of the online softmax over the row-major tile S [R][C]: with the running max m
 * and sum l of the 4 rows at ml (m, then l, one v128 each, a row per lane), P = exp(S - mNew)
 * in place over cols keys (a multiple of 8), l = l·alpha + rowsum(P); returns alpha =
 * exp(m - mNew), by which the caller rescales the output (0 for rows whose max was -Infinity,
 * whose output is still 0). `t`: the vexp constants.
 */
function softmaxTile(s: usize, cols: i32, ml: usize, t: usize): v128 {
  const lo = v128.load(t, 0);
  const log2e = v128.load(t, 16);
  const shifter = v128.load(t, 32);
  const ln2 = v128.load(t, 48);
  const c5 = v128.load(t, 64);
  const c4 = v128.load(t, 80);
  const c3 = v128.load(t, 96);
  const c2 = v128.load(t, 112);
  const c1 = v128.load(t, 128);
  const c0 = v128.load(t, 144);
  const bytes = <usize>cols << 2;
  const row = <usize>ROW_BYTES;
  const tmax = reduceLanes4(maxOfRow(s, bytes), maxOfRow(s + row, bytes), maxOfRow(s + 2 * row, bytes), maxOfRow(s + 3 * row, bytes), true);
  const m = v128.load(ml);
  const mNew = f32x4.pmax(m, tmax);
  // rows with mNew = -Infinity: -Infinity - -Infinity is NaN, which vexp maps to 0
  const alpha = vexp(f32x4.sub(m, mNew), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0);
  const sums = reduceLanes4(
    expRow(s, bytes, i32x4.shuffle(mNew, mNew, 0, 0, 0, 0), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0),
    expRow(s + row, bytes, i32x4.shuffle(mNew, mNew, 1, 1, 1, 1), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0),
    expRow(s + 2 * row, bytes, i32x4.shuffle(mNew, mNew, 2, 2, 2, 2), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0),
    expRow(s + 3 * row, bytes, i32x4.shuffle(mNew, mNew, 3, 3, 3, 3), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0),
    false,
  );
  v128.store(ml, mNew);
  v128.store(ml, f32x4.add(f32x4.mul(v128.load(ml, 16), alpha), sums), 16);
  return alpha;
}

/** exp(S - lse) in place over one row of a tile, `bytes` long (a multiple of 16), and dP := P ⊙ (dP - D) over the same row of dP. */
@inline function gradRow(s: usize, dp: usize, bytes: usize, lse: v128, dsum: v128, lo: v128, log2e: v128, shifter: v128, ln2: v128, c5: v128, c4: v128, c3: v128, c2: v128, c1: v128, c0: v128): void {
  const end = s + bytes;
  let dat = dp;
  for (let at = s; at < end; at += 16) {
    const pw = vexp(f32x4.sub(v128.load(at), lse), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0);
    v128.store(at, pw);
    v128.store(dat, f32x4.mul(pw, f32x4.sub(v128.load(dat), dsum)));
    dat += 16;
  }
}

/** The backward's tile: P = exp(S - lse) in place, dP := P ⊙ (dP - D) over cols keys; the 4 rows' lse and D one v128 each at ld (a row per lane). `t`: the vexp constants. */
function gradTile(s: usize, dp: usize, cols: i32, ld: usize, t: usize): void {
  const lo = v128.load(t, 0);
  const log2e = v128.load(t, 16);
  const shifter = v128.load(t, 32);
  const ln2 = v128.load(t, 48);
  const c5 = v128.load(t, 64);
  const c4 = v128.load(t, 80);
  const c3 = v128.load(t, 96);
  const c2 = v128.load(t, 112);
  const c1 = v128.load(t, 128);
  const c0 = v128.load(t, 144);
  const lse = v128.load(ld);
  const dsum = v128.load(ld, 16);
  const bytes = <usize>cols << 2;
  const row = <usize>ROW_BYTES;
  gradRow(s, dp, bytes, i32x4.shuffle(lse, lse, 0, 0, 0, 0), i32x4.shuffle(dsum, dsum, 0, 0, 0, 0), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0);
  gradRow(s + row, dp + row, bytes, i32x4.shuffle(lse, lse, 1, 1, 1, 1), i32x4.shuffle(dsum, dsum, 1, 1, 1, 1), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0);
  gradRow(s + 2 * row, dp + 2 * row, bytes, i32x4.shuffle(lse, lse, 2, 2, 2, 2), i32x4.shuffle(dsum, dsum, 2, 2, 2, 2), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0);
  gradRow(s + 3 * row, dp + 3 * row, bytes, i32x4.shuffle(lse, lse, 3, 3, 3, 3), i32x4.shuffle(dsum, dsum, 3, 3, 3, 3), lo, log2e, shifter, ln2, c5, c4, c3, c2, c1, c0);
}

/** Scratch bytes one thread needs for forward(): Qi (FWD_ROWS rows), K panels, V panels, S, O, m and l, counts. */
function forwardScratchOf(): usize {
  return (<usize>(FWD_ROWS * DkP + TkP * DkP + TkP * DvP + R * C + R * DvP + 3 * R) << 2) + EXP_TABLE;
}

export function forwardScratch(params: usize): usize {
  setup(params);
  return forwardScratchOf();
}

/** Work items of forward(): blocks of FWD_ROWS query rows of each query head. */
export function forwardItems(params: usize): i32 {
  setup(params);
  return B * Hq * ((Tq + FWD_ROWS - 1) / FWD_ROWS);
}

/** Work items of backward(): kv heads. */
export function backwardItems(params: usize): i32 {
  setup(params);
  return B * Hkv;
}

/** Forward pass over this thread's query heads: out [B, Hq, Tq, Dv] and row logsumexp lse [B, Hq, Tq]. */
export function forward(params: usize): void {
  setup(params);
  const q = <usize>pi(params, P_Q);
  const k = <usize>pi(params, P_K);
  const v = <usize>pi(params, P_V);
  const out = <usize>pi(params, P_OUT);
  const lse = <usize>pi(params, P_LSE);
  const G = Hq / Hkv;
  const table = <usize>pi(params, P_SCRATCH);
  const qi = table + EXP_TABLE;
  const kpan = qi + (<usize>(FWD_ROWS * DkP) << 2);
  const vpan = kpan + (<usize>(TkP * DkP) << 2);
  const s = vpan + (<usize>(TkP * DvP) << 2);
  const o = s + (<usize>(R * C) << 2);
  const ml = o + (<usize>(R * DvP) << 2); // m [4] then l [4]
  const counts = ml + (<usize>(2 * R) << 2);
  ensure(table + forwardScratchOf());
  writeExpTable(table);
  const counter = <usize>pi(params, P_COUNTER);
  const chunks = (Tq + FWD_ROWS - 1) / FWD_ROWS;
  const items = B * Hq * chunks;
  let packed = -1; // kv head b·Hkv + kh whose K and V are packed
  for (let item = atomic.add<i32>(counter, 1); item < items; item = atomic.add<i32>(counter, 1)) {
    const bhi = item / chunks;
    const r0 = (item % chunks) * FWD_ROWS;
    const rows = min(FWD_ROWS, Tq - r0);
    const b = bhi / Hq;
    const h = bhi % Hq;
    const bk = b * Hkv + h / G;
    if (bk != packed) {
      packKeyPanels(k + ((<usize>bk * <usize>(Tk * Dk)) << 2), Tk, Dk, kpan, TkP, DkP);
      packValuePanels(v + ((<usize>bk * <usize>(Tk * Dv)) << 2), Tk, Dv, vpan, TkP, DvP);
      packed = bk;
    }
    const bh = <usize>bhi;
    packInterleaved(q + ((bh * <usize>(Tq * Dk) + <usize>(r0 * Dk)) << 2), rows, Dk, scale, qi, roundUp(rows, R), DkP);
    for (let i0 = r0; i0 < r0 + rows; i0 += R) {
      memory.fill(o, 0, <usize>(R * DvP) << 2);
      v128.store(ml, f32x4.splat(NEG_INF));
      v128.store(ml, f32x4.splat(0), 16);
      v128.store(counts, i32x4.splat(0));
      forwardRows(b, h, i0, qi + (<usize>((i0 - r0) * DkP) << 2), kpan, vpan, s, o, ml, counts, table);
      // fold the masked entries (filled with MASK_FILL) into the normaliser: each row's output
      // factor (kept where m was) and logsumexp; then write the output rows
      for (let r = 0; r < R; r++) {
        const i = i0 + r;
        if (i >= Tq) break;
        const m = load<f32>(ml + (<usize>r << 2));
        const l = load<f32>(ml + (<usize>(R + r) << 2));
        const nm = load<i32>(counts + (<usize>r << 2));
        let factor: f32;
        let lseV: f32;
        if (nm > 0) {
          const mf = max(m, MASK_FILL);
          const ea = Mathf.exp(m - mf);
          const lt = l * ea + <f32>nm * Mathf.exp(MASK_FILL - mf);
          factor = ea / lt;
          lseV = mf + Mathf.log(lt);
        } else {
          factor = 1 / l;
          lseV = m + Mathf.log(l);
        }
        store<f32>(ml + (<usize>r << 2), factor); // m is not needed any more
        store<f32>(lse + ((bh * <usize>Tq + <usize>i) << 2), lseV);
      }
      const dst = out + ((bh * <usize>(Tq * Dv) + <usize>(i0 * Dv)) << 2);
      for (let r = 0; r < R && i0 + r < Tq; r++) {
        const factor = load<f32>(ml + (<usize>r << 2));
        const fv = f32x4.splat(factor);
        const orow = o + (<usize>(r * DvP) << 2);
        const row = dst + (<usize>(r * Dv) << 2);
        let e = 0;
        for (; e + 4 <= Dv; e += 4) v128.store(row + (<usize>e << 2), f32x4.mul(v128.load(orow + (<usize>e << 2)), fv));
        for (; e < Dv; e++) store<f32>(row + (<usize>e << 2), load<f32>(orow + (<usize>e << 2)) * factor);
      }
    }
  }
}

/** Multiplies `bytes` (a multiple of 16) from `row` by f. */
@inline function scaleRow(row: usize, bytes: usize, f: v128): void {
  const end = row + bytes;
  for (let at = row; at < end; at += 16) v128.store(at, f32x4.mul(v128.load(at), f));
}

/** Multiplies row r of o [R][w] (w a multiple of 4) by lane r of f. */
function scaleRows(o: usize, w: i32, f: v128): void {
  const bytes = <usize>w << 2;
  scaleRow(o, bytes, i32x4.shuffle(f, f, 0, 0, 0, 0));
  scaleRow(o + bytes, bytes, i32x4.shuffle(f, f, 1, 1, 1, 1));
  scaleRow(o + 2 * bytes, bytes, i32x4.shuffle(f, f, 2, 2, 2, 2));
  scaleRow(o + 3 * bytes, bytes, i32x4.shuffle(f, f, 3, 3, 3, 3));
}

/** The key blocks of query rows [i0, i0 + 4) of head h (qb: their interleaved block), with the online softmax; o: their output accumulators [R][DvP]. */
function forwardRows(b: i32, h: i32, i0: i32, qb: usize, kpan: usize, vpan: usize, s: usize, o: usize, ml: usize, counts: usize, table: usize): void {
  for (let c0 = 0; c0 < TkP; c0 += C) {
    const cols = min(C, TkP - c0);
    const kind = classify(i0, c0, cols);
    if (kind == TILE_SKIP) {
      v128.store(counts, i32x4.add(v128.load(counts), i32x4.splat(min(cols, Tk - c0))));
      continue;
    }
    scores(qb, kpan, DkP, c0, cols, s);
    if (kind == TILE_SOME) maskTile(s, b, h, i0, c0, cols, counts);
    const alpha = softmaxTile(s, cols, ml, table);
    scaleRows(o, DvP, alpha);
    // dropout after the normaliser has counted the whole row
    if (dropThreshold != 0) dropTile(s, b, h, i0, c0, cols);
    mix(s, vpan, TkP, c0, cols, DvP, o);
  }
}

/**
 * Keys per pass of the backward over all query rows: the key-side data of a pass (K and V
 * panels, dK and dV accumulators: 5 · BWD_KEYS · d floats, 640 KB at d = 64) stays in a
 * core's L2 while the query rows stream past it.
 */
const BWD_KEYS: i32 = 512;

/** Scratch bytes one thread needs for backward(). */
function backwardScratchOf(): usize {
  return (<usize>(3 * TqP * DkP + 2 * TqP * DvP + 2 * TkP * DkP + TkP * DvP + TkP * DkP + TkP * DvP + 2 * R * C + 2 * TqP) << 2) + EXP_TABLE;
}

export function backwardScratch(params: usize): usize {
  setup(params);
  return backwardScratchOf();
}

/**
 * Backward pass from dy [B, Hq, Tq, Dv], the forward output o and lse: dq, dk, dv and (when
 * a bias was given) dbias, which must be zeroed by the caller and has the bias's strides.
 */
export function backward(params: usize): void {
  setup(params);
  const q = <usize>pi(params, P_Q);
  const k = <usize>pi(params, P_K);
  const v = <usize>pi(params, P_V);
  const lse = <usize>pi(params, P_LSE);
  const dy = <usize>pi(params, P_DY);
  const oIn = <usize>pi(params, P_O);
  const dq = <usize>pi(params, P_DQ);
  const dk = <usize>pi(params, P_DK_OUT);
  const dv = <usize>pi(params, P_DV_OUT);
  const dbias = <usize>pi(params, P_DBIAS);
  const G = Hq / Hkv;
  // scratch: Qp rows and Qi interleaved [TqP, DkP], dOp rows and dOi interleaved [TqP, DvP],
  // K key panels, K value panels [TkP, DkP], V key panels [TkP, DvP], dKa [TkP, DkP],
  // dVa [TkP, DvP], S, dP [R][C], dQ accumulators [TqP, DkP], lse and D interleaved
  // [TqP/4][2][4]
  const table = <usize>pi(params, P_SCRATCH);
  const qp = table + EXP_TABLE;
  const qi = qp + (<usize>(TqP * DkP) << 2);
  const dop = qi + (<usize>(TqP * DkP) << 2);
  const doi = dop + (<usize>(TqP * DvP) << 2);
  const kkp = doi + (<usize>(TqP * DvP) << 2);
  const kvp = kkp + (<usize>(TkP * DkP) << 2);
  const vkp = kvp + (<usize>(TkP * DkP) << 2);
  const dka = vkp + (<usize>(TkP * DvP) << 2);
  const dva = dka + (<usize>(TkP * DkP) << 2);
  const s = dva + (<usize>(TkP * DvP) << 2);
  const dp = s + (<usize>(R * C) << 2);
  const dqa = dp + (<usize>(R * C) << 2);
  const lds = dqa + (<usize>(TqP * DkP) << 2);
  ensure(table + backwardScratchOf());
  writeExpTable(table);
  const counter = <usize>pi(params, P_COUNTER);
  const items = B * Hkv;
  for (let item = atomic.add<i32>(counter, 1); item < items; item = atomic.add<i32>(counter, 1)) {
    const b = item / Hkv;
    const kh = item % Hkv;
    const bk = <usize>item;
    const kSrc = k + ((bk * <usize>(Tk * Dk)) << 2);
    const vSrc = v + ((bk * <usize>(Tk * Dv)) << 2);
    packKeyPanels(kSrc, Tk, Dk, kkp, TkP, DkP);
    packValuePanels(kSrc, Tk, Dk, kvp, TkP, DkP);
    packKeyPanels(vSrc, Tk, Dv, vkp, TkP, DvP);
    memory.fill(dka, 0, <usize>(TkP * DkP) << 2);
    memory.fill(dva, 0, <usize>(TkP * DvP) << 2);
    for (let g = 0; g < G; g++) {
      const h = kh * G + g;
      const bh = <usize>(b * Hq + h);
      const qSrc = q + ((bh * <usize>(Tq * Dk)) << 2);
      const dySrc = dy + ((bh * <usize>(Tq * Dv)) << 2);
      packRows(qSrc, Tq, Dk, scale, qp, TqP, DkP);
      packInterleaved(qSrc, Tq, Dk, scale, qi, TqP, DkP);
      packRows(dySrc, Tq, Dv, 1, dop, TqP, DvP);
      packInterleaved(dySrc, Tq, Dv, 1, doi, TqP, DvP);
      // per row: the logsumexp (padding rows: +Infinity, so their weights are 0) and D = dO·O
      for (let i = 0; i < TqP; i++) {
        let dsum: f32 = 0;
        let l: f32 = Infinity;
        if (i < Tq) {
          const dyRow = dySrc + (<usize>(i * Dv) << 2);
          const oRow = oIn + ((bh * <usize>(Tq * Dv) + <usize>(i * Dv)) << 2);
          for (let e = 0; e < Dv; e++) dsum += load<f32>(dyRow + (<usize>e << 2)) * load<f32>(oRow + (<usize>e << 2));
          l = load<f32>(lse + ((bh * <usize>Tq + <usize>i) << 2));
        }
        const at = lds + (<usize>((i >> 2) * 2 * R + (i & 3)) << 2);
        store<f32>(at, l);
        store<f32>(at + (<usize>R << 2), dsum);
      }
      memory.fill(dqa, 0, <usize>(TqP * DkP) << 2);
      for (let k0 = 0; k0 < TkP; k0 += BWD_KEYS) {
        const kEnd = min(k0 + BWD_KEYS, TkP);
        for (let i0 = 0; i0 < Tq; i0 += R) {
          const qb = qi + (<usize>(i0 * DkP) << 2);
          const dob = doi + (<usize>(i0 * DvP) << 2);
          const ld = lds + (<usize>(i0 * 2) << 2);
          const dq4 = dqa + (<usize>(i0 * DkP) << 2);
          for (let c0 = k0; c0 < kEnd; c0 += C) {
            const cols = min(C, kEnd - c0);
            const kind = classify(i0, c0, cols);
            if (kind == TILE_SKIP) continue;
            scores(qb, kkp, DkP, c0, cols, s);
            if (kind == TILE_SOME) maskTile(s, b, h, i0, c0, cols, 0);
            scores(dob, vkp, DvP, c0, cols, dp);
            // with dropout: dP = (dO·Vᵀ)·M/(1 - rate) before dS = P·(dP - D), and dV takes P·M/(1 - rate)
            if (dropThreshold != 0) dropTile(dp, b, h, i0, c0, cols);
            gradTile(s, dp, cols, ld, table);
            if (dropThreshold != 0) dropTile(s, b, h, i0, c0, cols);
            // dV += Pᵀ·dO, dK += dSᵀ·(scale·Q), dQ += dS·K
            mixT(s, dop + (<usize>(i0 * DvP) << 2), cols, DvP, dva + (<usize>(c0 * DvP) << 2));
            mixT(dp, qp + (<usize>(i0 * DkP) << 2), cols, DkP, dka + (<usize>(c0 * DkP) << 2));
            mix(dp, kvp, TkP, c0, cols, DkP, dq4);
            if (dbias != 0) scatterBias(dbias, dp, b, h, i0, c0, cols);
          }
        }
      }
      for (let i = 0; i < Tq; i++) {
        const src = dqa + (<usize>(i * DkP) << 2);
        const dst = dq + ((bh * <usize>(Tq * Dk) + <usize>(i * Dk)) << 2);
        for (let d = 0; d < Dk; d++) store<f32>(dst + (<usize>d << 2), load<f32>(src + (<usize>d << 2)) * scale);
      }
    }
    for (let j = 0; j < Tk; j++) {
      const dkDst = dk + ((bk * <usize>(Tk * Dk) + <usize>(j * Dk)) << 2);
      const dkSrc = dka + (<usize>(j * DkP) << 2);
      for (let d = 0; d < Dk; d++) store<f32>(dkDst + (<usize>d << 2), load<f32>(dkSrc + (<usize>d << 2)));
      const dvDst = dv + ((bk * <usize>(Tk * Dv) + <usize>(j * Dv)) << 2);
      const dvSrc = dva + (<usize>(j * DvP) << 2);
      for (let e = 0; e < Dv; e++) store<f32>(dvDst + (<usize>e << 2), load<f32>(dvSrc + (<usize>e << 2)));
    }
  }
}

/** dbias[b, h, i, j] += dS[r][c] over the real rows and keys of a tile (bias strides: broadcast dims sum). */
function scatterBias(dbias: usize, ds: usize, b: i32, h: i32, i0: i32, c0: i32, cols: i32): void {
  const real = min(cols, Tk - c0);
  for (let r = 0; r < R; r++) {
    const i = i0 + r;
    if (i >= Tq) break;
    const base = dbias + (<usize>(b * bSB + h * bSH + i * bSQ) << 2);
    const row = ds + <usize>(r * ROW_BYTES);
    for (let c = 0; c < real; c++) {
      const at = base + (<usize>((c0 + c) * bSK) << 2);
      store<f32>(at, load<f32>(at) + load<f32>(row + (<usize>c << 2)));
    }
  }
}

// --- Dense matrix product C [M, N] = op(A) · op(B) (the BatchMatMul kernel on wasm) ---------
//
// The attention micro-kernel `scores` does the multiply-adds: A's rows travel 4 at a time
// interleaved, B's columns as key panels. Work items are blocks of up to MM_ROWS rows x MM_COLS
// columns, column-block-major, so a thread taking consecutive items keeps its packed B block.
// Parameter slots: M, K, N, transposeA, transposeB at 0..4, the epilogue's activation at 5 (0
// linear, 1 relu); A at P_Q, B at P_K, C at P_OUT, the epilogue's bias [N] at P_BIAS (0: none).

const MM_ROWS: i32 = 64;
const MM_COLS: i32 = 256;

// A product with few row and column blocks (a weight gradient [d, d] over a long K) gets shorter
// row blocks, so that every thread has work: at least MM_MIN_ITEMS items where M allows.
const MM_MIN_ITEMS: i32 = 4;

@inline function mmDims(params: usize): void {
  mmM = pi(params, 0);
  mmK = pi(params, 1);
  mmN = pi(params, 2);
  mmKP = roundUp(mmK, 8);
  const colBlocks = (mmN + MM_COLS - 1) / MM_COLS;
  const rowBlocks = (MM_MIN_ITEMS + colBlocks - 1) / colBlocks;
  mmRows = max(R, min(MM_ROWS, roundUp((mmM + rowBlocks - 1) / rowBlocks, R)));
}
let mmRows: i32 = MM_ROWS;
let mmM: i32 = 0;
let mmK: i32 = 0;
let mmN: i32 = 0;
let mmKP: i32 = 0;

export function matmulItems(params: usize): i32 {
  mmDims(params);
  return ((mmM + mmRows - 1) / mmRows) * ((mmN + MM_COLS - 1) / MM_COLS);
}

function matmulScratchOf(): usize {
  return <usize>(mmKP * MM_COLS + mmRows * mmKP + R * C) << 2;
}

export function matmulScratch(params: usize): usize {
  mmDims(params);
  return matmulScratchOf();
}

/** Key panels [colsP/8][KP][8] of columns c0.. of B [K, N] (row stride N), zero padded. */
function packColumnPanels(b: usize, c0: i32, cols: i32, dst: usize, colsP: i32): void {
  memory.fill(dst, 0, <usize>(colsP * mmKP) << 2);
  const panel = <usize>mmKP << 5;
  const full = cols & ~7;
  for (let k = 0; k < mmK; k++) {
    const s = b + (<usize>(k * mmN + c0) << 2);
    const d = dst + (<usize>k << 5);
    for (let e = 0; e < full; e += 8) {
      const to = d + <usize>(e >> 3) * panel;
      v128.store(to, v128.load(s + (<usize>e << 2)));
      v128.store(to, v128.load(s + (<usize>e << 2), 16), 16);
    }
    for (let e = full; e < cols; e++) store<f32>(d + <usize>(e >> 3) * panel + (<usize>(e & 7) << 2), load<f32>(s + (<usize>e << 2)));
  }
}

/** Rows r0.. of Aᵀ (A stored [K, M]) interleaved [rowsP/4][KP][4], zero padded. */
function packTransposedRows(a: usize, r0: i32, rows: i32, dst: usize, rowsP: i32): void {
  memory.fill(dst, 0, <usize>(rowsP * mmKP) << 2);
  const group = <usize>mmKP << 4; // bytes from one group of 4 rows to the next
  const full = rows & ~3;
  for (let d = 0; d < mmK; d++) {
    const s = a + (<usize>(d * mmM + r0) << 2);
    const to = dst + (<usize>d << 4);
    // Rows r..r+3 of Aᵀ at depth d are 4 consecutive floats of A's row d, and 4 consecutive floats of the packing.
    for (let r = 0; r < full; r += 4) v128.store(to + <usize>(r >> 2) * group, v128.load(s + (<usize>r << 2)));
    for (let r = full; r < rows; r++) store<f32>(to + <usize>(r >> 2) * group + (<usize>(r & 3) << 2), load<f32>(s + (<usize>r << 2)));
  }
}

/** to[e] = act(from[e] + bias[e]) for e < n (bias 0: none; act relu or the identity). */
function storeWithBias(to: usize, from: usize, bias: usize, n: i32, relu: bool): void {
  const n4 = n & ~3;
  const zero = f32x4.splat(0);
  for (let e = 0; e < n4; e += 4) {
    const at = <usize>e << 2;
    let y = v128.load(from + at);
    if (bias != 0) y = f32x4.add(y, v128.load(bias + at));
    v128.store(to + at, relu ? f32x4.max(y, zero) : y);
  }
  for (let e = n4; e < n; e++) {
    const at = <usize>e << 2;
    let y = load<f32>(from + at);
    if (bias != 0) y += load<f32>(bias + at);
    store<f32>(to + at, relu ? max<f32>(y, 0) : y);
  }
}

export function matmul(params: usize): void {
  mmDims(params);
  const ta = pi(params, 3) != 0;
  const tb = pi(params, 4) != 0;
  const a = <usize>pi(params, P_Q);
  const b = <usize>pi(params, P_K);
  const c = <usize>pi(params, P_OUT);
  const bp = <usize>pi(params, P_SCRATCH);
  const ai = bp + (<usize>(mmKP * MM_COLS) << 2);
  const s = ai + (<usize>(mmRows * mmKP) << 2);
  ensure(bp + matmulScratchOf());
  const counter = <usize>pi(params, P_COUNTER);
  const bias = <usize>pi(params, P_BIAS);
  const relu = pi(params, 5) != 0;
  const epilogue = bias != 0 || relu;
  const rowBlocks = (mmM + mmRows - 1) / mmRows;
  const items = rowBlocks * ((mmN + MM_COLS - 1) / MM_COLS);
  let packed = -1;
  for (let item = atomic.add<i32>(counter, 1); item < items; item = atomic.add<i32>(counter, 1)) {
    const cb = item / rowBlocks;
    const r0 = (item % rowBlocks) * mmRows;
    const rows = min(mmRows, mmM - r0);
    const c0 = cb * MM_COLS;
    const cols = min(MM_COLS, mmN - c0);
    const colsP = roundUp(cols, 8);
    if (cb != packed) {
      if (tb) packKeyPanels(b + (<usize>(c0 * mmK) << 2), cols, mmK, bp, colsP, mmKP);
      else packColumnPanels(b, c0, cols, bp, colsP);
      packed = cb;
    }
    if (ta) packTransposedRows(a, r0, rows, ai, roundUp(rows, R));
    else packInterleaved(a + (<usize>(r0 * mmK) << 2), rows, mmK, 1, ai, roundUp(rows, R), mmKP);
    for (let i0 = 0; i0 < rows; i0 += R) {
      const x = ai + (<usize>(i0 * mmKP) << 2);
      for (let t0 = 0; t0 < colsP; t0 += C) {
        const w = min(C, colsP - t0);
        scores(x, bp, mmKP, t0, w, s);
        const real = min(w, cols - t0);
        for (let r = 0; r < R && i0 + r < rows; r++) {
          const to = c + (<usize>((r0 + i0 + r) * mmN + c0 + t0) << 2);
          const from = s + <usize>(r * ROW_BYTES);
          if (epilogue) storeWithBias(to, from, bias + (<usize>(c0 + t0) << 2), real, relu);
          else memory.copy(to, from, <usize>real << 2);
        }
      }
    }
  }
}

// Row-wise training ops (layer norm, bias + activation gradient, softmax cross-entropy, Adam, dropout): assembly/rows.ts.
export { adamUpdate, biasActivationBackward, crossEntropyBackward, crossEntropyForward, dropout, layerNormBackward, layerNormForward, logSumExp } from './rows';
