// Fused scaled-dot-product attention for WebAssembly SIMD (AssemblyScript).
//
// Flash algorithm: each query head is processed R = 4 rows at a time against key blocks of
// up to C columns, with a running row max, normaliser and output (online softmax), so no
// [Tq, Tk] matrix exists beyond one R x C tile. The backward pass recomputes each tile from
// the saved row logsumexp.
//
// Semantics are those of @attnkit/core's reference path: logits (scale·q)·kᵀ + bias; masked
// entries (user mask AND causal/window band) are filled with MASK_FILL = -1e9 and count in
// the softmax normaliser, then their weights are zeroed, so a row with nothing to attend to
// gives 0. Masked entries are tracked here as a count per row and folded in at the end.
//
// The JS side (src/wasm.ts) writes a parameter block and the inputs into this module's
// memory; scratch space starts at `scratch` and is grown here as needed.

const R: i32 = 4; // query rows per tile (register block)
const C: i32 = 128; // key columns per tile
const MASK_FILL: f32 = -1e9;
const NEG_INF: f32 = -Infinity;

// Parameter block layout (i32 / f32 slots).
const P_B = 0;
const P_HQ = 1;
const P_HKV = 2;
const P_TQ = 3;
const P_TK = 4;
const P_DK = 5;
const P_DV = 6;
const P_SCALE = 7;
const P_LEFT = 8;
const P_RIGHT = 9;
const P_OFFSET = 10;
const P_Q = 11;
const P_K = 12;
const P_V = 13;
const P_MASK = 14; // then strides b, h, q, k (elements) at 15..18
const P_BIAS = 19; // then strides at 20..23
const P_OUT = 24;
const P_LSE = 25;
const P_SCRATCH = 26;
const P_DY = 27;
const P_O = 28;
const P_DQ = 29;
const P_DK_OUT = 30;
const P_DV_OUT = 31;
const P_DBIAS = 32;
const P_WORK_FROM = 33; // this thread's work items [from, to): query heads b·Hq + h forward,
const P_WORK_TO = 34; // kv heads b·Hkv + kh backward

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

// Constants of vexp, stored at the start of each thread's scratch (EXP_TABLE bytes) and
// loaded into locals before a loop: as v128.const operands inside the loop, V8 would
// rebuild each of them on every iteration.
const EXP_TABLE: i32 = 12 * 16;

function writeExpTable(at: usize): void {
  v128.store(at, f32x4.splat(-87.0), 0);
  v128.store(at, f32x4.splat(1.44269504088896341), 16);
  v128.store(at, f32x4.splat(0.693359375), 32);
  v128.store(at, f32x4.splat(-2.12194440e-4), 48);
  v128.store(at, f32x4.splat(1.0 / 5040.0), 64);
  v128.store(at, f32x4.splat(1.0 / 720.0), 80);
  v128.store(at, f32x4.splat(1.0 / 120.0), 96);
  v128.store(at, f32x4.splat(1.0 / 24.0), 112);
  v128.store(at, f32x4.splat(1.0 / 6.0), 128);
  v128.store(at, f32x4.splat(0.5), 144);
  v128.store(at, f32x4.splat(1.0), 160);
  v128.store(at, i32x4.splat(127), 176);
}

/**
 * e^x for 4 lanes with the constants at `t` (writeExpTable); exactly 0 for x <= -87 (and
 * -Infinity). Cody-Waite range reduction x = n·ln2 + r, then a degree-7 Taylor polynomial of
 * e^r on |r| <= ln2/2: relative error ~1e-7.
 */
@inline function vexp(x: v128, lo: v128, log2e: v128, ln2hi: v128, ln2lo: v128, c7: v128, c6: v128, c5: v128, c4: v128, c3: v128, c2: v128, one: v128, bias: v128): v128 {
  const valid = f32x4.gt(x, lo);
  const xc = f32x4.max(x, lo);
  const n = f32x4.nearest(f32x4.mul(xc, log2e));
  let r = f32x4.sub(xc, f32x4.mul(n, ln2hi));
  r = f32x4.sub(r, f32x4.mul(n, ln2lo));
  let p = f32x4.add(f32x4.mul(c7, r), c6);
  p = f32x4.add(f32x4.mul(p, r), c5);
  p = f32x4.add(f32x4.mul(p, r), c4);
  p = f32x4.add(f32x4.mul(p, r), c3);
  p = f32x4.add(f32x4.mul(p, r), c2);
  p = f32x4.add(f32x4.mul(p, r), one);
  p = f32x4.add(f32x4.mul(p, r), one);
  const e = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), bias), 23);
  return v128.and(f32x4.mul(p, e), valid);
}

/**
 * S[r][c] = Σ_d X[r][d] · Yt[d][c0 + c] for r < 4, c < cols (a multiple of 8): X rows of
 * stride xs bytes, Yt of row stride ys bytes, S of row stride C floats.
 */
function scores(x: usize, xs: usize, yt: usize, ys: usize, c0: i32, cols: i32, n: i32, s: usize): void {
  for (let cb = 0; cb < cols; cb += 8) {
    let a00 = f32x4.splat(0);
    let a01 = f32x4.splat(0);
    let a10 = f32x4.splat(0);
    let a11 = f32x4.splat(0);
    let a20 = f32x4.splat(0);
    let a21 = f32x4.splat(0);
    let a30 = f32x4.splat(0);
    let a31 = f32x4.splat(0);
    let yp = yt + (<usize>(c0 + cb) << 2);
    let xp = x;
    for (let d = 0; d < n; d++) {
      const y0 = v128.load(yp);
      const y1 = v128.load(yp, 16);
      const x0 = v128.load32_splat(xp);
      const x1 = v128.load32_splat(xp + xs);
      const x2 = v128.load32_splat(xp + 2 * xs);
      const x3 = v128.load32_splat(xp + 3 * xs);
      a00 = f32x4.add(a00, f32x4.mul(x0, y0));
      a01 = f32x4.add(a01, f32x4.mul(x0, y1));
      a10 = f32x4.add(a10, f32x4.mul(x1, y0));
      a11 = f32x4.add(a11, f32x4.mul(x1, y1));
      a20 = f32x4.add(a20, f32x4.mul(x2, y0));
      a21 = f32x4.add(a21, f32x4.mul(x2, y1));
      a30 = f32x4.add(a30, f32x4.mul(x3, y0));
      a31 = f32x4.add(a31, f32x4.mul(x3, y1));
      yp += ys;
      xp += 4;
    }
    const sp = s + (<usize>cb << 2);
    const ss = <usize>C << 2;
    v128.store(sp, a00);
    v128.store(sp, a01, 16);
    v128.store(sp + ss, a10);
    v128.store(sp + ss, a11, 16);
    v128.store(sp + 2 * ss, a20);
    v128.store(sp + 2 * ss, a21, 16);
    v128.store(sp + 3 * ss, a30);
    v128.store(sp + 3 * ss, a31, 16);
  }
}

/**
 * Out[r][e] += Σ_j P[r][j] · Y[j][e] for r < 4, j < cols, e < w (a multiple of 8): P of row
 * stride C floats, Y rows of w floats starting at the tile's first key, Out rows of w floats.
 */
function mix(p: usize, y: usize, cols: i32, w: i32, out: usize): void {
  const ws = <usize>w << 2;
  const ps = <usize>C << 2;
  for (let eb = 0; eb < w; eb += 8) {
    const op = out + (<usize>eb << 2);
    let o00 = v128.load(op);
    let o01 = v128.load(op, 16);
    let o10 = v128.load(op + ws);
    let o11 = v128.load(op + ws, 16);
    let o20 = v128.load(op + 2 * ws);
    let o21 = v128.load(op + 2 * ws, 16);
    let o30 = v128.load(op + 3 * ws);
    let o31 = v128.load(op + 3 * ws, 16);
    let yp = y + (<usize>eb << 2);
    let pp = p;
    for (let j = 0; j < cols; j++) {
      const y0 = v128.load(yp);
      const y1 = v128.load(yp, 16);
      const p0 = v128.load32_splat(pp);
      const p1 = v128.load32_splat(pp + ps);
      const p2 = v128.load32_splat(pp + 2 * ps);
      const p3 = v128.load32_splat(pp + 3 * ps);
      o00 = f32x4.add(o00, f32x4.mul(p0, y0));
      o01 = f32x4.add(o01, f32x4.mul(p0, y1));
      o10 = f32x4.add(o10, f32x4.mul(p1, y0));
      o11 = f32x4.add(o11, f32x4.mul(p1, y1));
      o20 = f32x4.add(o20, f32x4.mul(p2, y0));
      o21 = f32x4.add(o21, f32x4.mul(p2, y1));
      o30 = f32x4.add(o30, f32x4.mul(p3, y0));
      o31 = f32x4.add(o31, f32x4.mul(p3, y1));
      yp += ws;
      pp += 4;
    }
    v128.store(op, o00);
    v128.store(op, o01, 16);
    v128.store(op + ws, o10);
    v128.store(op + ws, o11, 16);
    v128.store(op + 2 * ws, o20);
    v128.store(op + 2 * ws, o21, 16);
    v128.store(op + 3 * ws, o30);
    v128.store(op + 3 * ws, o31, 16);
  }
}

/**
 * Acc[j][e] += Σ_r P[r][j] · X[r][e] for j < cols, r < 4, e < w (a multiple of 8): P of row
 * stride C floats, X rows of w floats, Acc rows of w floats starting at the tile's first key.
 */
function mixT(p: usize, x: usize, cols: i32, w: i32, acc: usize): void {
  const ws = <usize>w << 2;
  const ps = <usize>C << 2;
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
      const p1 = v128.load32_splat(pp + ps);
      const p2 = v128.load32_splat(pp + 2 * ps);
      const p3 = v128.load32_splat(pp + 3 * ps);
      let a0 = v128.load(ap);
      let a1 = v128.load(ap, 16);
      a0 = f32x4.add(a0, f32x4.add(f32x4.add(f32x4.mul(p0, x00), f32x4.mul(p1, x10)), f32x4.add(f32x4.mul(p2, x20), f32x4.mul(p3, x30))));
      a1 = f32x4.add(a1, f32x4.add(f32x4.add(f32x4.mul(p0, x01), f32x4.mul(p1, x11)), f32x4.add(f32x4.mul(p2, x21), f32x4.mul(p3, x31))));
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

/** Transposes src [rows, n] into dst [n, rowsP] (rowsP: the row stride), zero padded. */
function packCols(src: usize, rows: i32, n: i32, dst: usize, rowsP: i32): void {
  memory.fill(dst, 0, <usize>(rowsP * n) << 2);
  for (let i = 0; i < rows; i++) {
    const s = src + (<usize>(i * n) << 2);
    for (let e = 0; e < n; e++) store<f32>(dst + (<usize>(e * rowsP + i) << 2), load<f32>(s + (<usize>e << 2)));
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
/** Row stride (floats) of the transposed Kt / Vt copies: TkP plus one cache line, so that their rows do not all map to the same L1 set when TkP is a multiple of 1024. */
let TkS: i32 = 0;
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
  TkS = TkP + 16;
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
 * Adds the bias to and masks the tile S [4, C] of rows i0.. keys c0.. for query head h of
 * batch b: excluded entries become -Infinity. Returns nothing; when `counts` is not 0 the
 * masked entries of each row are added to counts[r] (i32). Padding rows/columns are set to
 * -Infinity without counting.
 */
function maskTile(s: usize, b: i32, h: i32, i0: i32, c0: i32, cols: i32, counts: usize): void {
  for (let r = 0; r < R; r++) {
    const i = i0 + r;
    const row = s + (<usize>(r * C) << 2);
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
      if (!ok) {
        store<f32>(at, NEG_INF);
        masked++;
      } else if (biasPtr != 0) {
        store<f32>(at, load<f32>(at) + load<f32>(bBase + (<usize>(j * bSK) << 2)));
      }
    }
    if (counts != 0) store<i32>(counts + (<usize>r << 2), load<i32>(counts + (<usize>r << 2)) + masked);
  }
}

/** Row max of S row r over cols entries (a multiple of 8). */
function rowMax(row: usize, cols: i32): f32 {
  let mv = f32x4.splat(NEG_INF);
  for (let c = 0; c < cols; c += 4) mv = f32x4.max(mv, v128.load(row + (<usize>c << 2)));
  return max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
}

/** row[c] = exp(row[c] - m) in place; returns the row sum. `t`: the vexp constants. */
function expRow(row: usize, cols: i32, m: f32, t: usize): f32 {
  const lo = v128.load(t, 0);
  const log2e = v128.load(t, 16);
  const ln2hi = v128.load(t, 32);
  const ln2lo = v128.load(t, 48);
  const c7 = v128.load(t, 64);
  const c6 = v128.load(t, 80);
  const c5 = v128.load(t, 96);
  const c4 = v128.load(t, 112);
  const c3 = v128.load(t, 128);
  const c2 = v128.load(t, 144);
  const one = v128.load(t, 160);
  const bias = v128.load(t, 176);
  const mv = f32x4.splat(m);
  let sv = f32x4.splat(0);
  for (let c = 0; c < cols; c += 4) {
    const at = row + (<usize>c << 2);
    const e = vexp(f32x4.sub(v128.load(at), mv), lo, log2e, ln2hi, ln2lo, c7, c6, c5, c4, c3, c2, one, bias);
    v128.store(at, e);
    sv = f32x4.add(sv, e);
  }
  return f32x4.extract_lane(sv, 0) + f32x4.extract_lane(sv, 1) + (f32x4.extract_lane(sv, 2) + f32x4.extract_lane(sv, 3));
}

/** Row r of the backward: P = exp(S - lse) in place, dP := P ⊙ (dP - D). `t`: the vexp constants. */
function gradRow(row: usize, drow: usize, cols: i32, lse: f32, dsum: f32, t: usize): void {
  const lo = v128.load(t, 0);
  const log2e = v128.load(t, 16);
  const ln2hi = v128.load(t, 32);
  const ln2lo = v128.load(t, 48);
  const c7 = v128.load(t, 64);
  const c6 = v128.load(t, 80);
  const c5 = v128.load(t, 96);
  const c4 = v128.load(t, 112);
  const c3 = v128.load(t, 128);
  const c2 = v128.load(t, 144);
  const one = v128.load(t, 160);
  const bias = v128.load(t, 176);
  const lv = f32x4.splat(lse);
  const dv4 = f32x4.splat(dsum);
  for (let c = 0; c < cols; c += 4) {
    const at = row + (<usize>c << 2);
    const pw = vexp(f32x4.sub(v128.load(at), lv), lo, log2e, ln2hi, ln2lo, c7, c6, c5, c4, c3, c2, one, bias);
    v128.store(at, pw);
    const dat = drow + (<usize>c << 2);
    v128.store(dat, f32x4.mul(pw, f32x4.sub(v128.load(dat), dv4)));
  }
}

/** Scratch bytes one thread needs for forward(): Qp, Kt, Vp, S, O, m, l, counts. */
function forwardScratchOf(): usize {
  return (<usize>(TqP * DkP + Dk * TkS + TkP * DvP + R * C + R * DvP + 3 * R) << 2) + EXP_TABLE;
}

export function forwardScratch(params: usize): usize {
  setup(params);
  return forwardScratchOf();
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
  const qp = table + EXP_TABLE;
  const kt = qp + (<usize>(TqP * DkP) << 2);
  const vp = kt + (<usize>(Dk * TkS) << 2);
  const s = vp + (<usize>(TkP * DvP) << 2);
  const o = s + (<usize>(R * C) << 2);
  const mrow = o + (<usize>(R * DvP) << 2);
  const lrow = mrow + (<usize>R << 2);
  const counts = lrow + (<usize>R << 2);
  ensure(table + forwardScratchOf());
  writeExpTable(table);
  let packed = -1; // kv head b·Hkv + kh whose K and V are packed
  for (let item = pi(params, P_WORK_FROM); item < pi(params, P_WORK_TO); item++) {
    const b = item / Hq;
    const h = item % Hq;
    const bk = b * Hkv + h / G;
    if (bk != packed) {
      packCols(k + ((<usize>bk * <usize>(Tk * Dk)) << 2), Tk, Dk, kt, TkS);
      packRows(v + ((<usize>bk * <usize>(Tk * Dv)) << 2), Tk, Dv, 1, vp, TkP, DvP);
      packed = bk;
    }
    const bh = <usize>item;
    packRows(q + ((bh * <usize>(Tq * Dk)) << 2), Tq, Dk, scale, qp, TqP, DkP);
    for (let i0 = 0; i0 < Tq; i0 += R) {
      memory.fill(o, 0, <usize>(R * DvP) << 2);
      for (let r = 0; r < R; r++) {
        store<f32>(mrow + (<usize>r << 2), NEG_INF);
        store<f32>(lrow + (<usize>r << 2), 0);
        store<i32>(counts + (<usize>r << 2), 0);
      }
      forwardRows(b, h, i0, qp, kt, vp, s, o, mrow, lrow, counts, table);
      // fold the masked entries (filled with MASK_FILL) into the normaliser; write out
      for (let r = 0; r < R; r++) {
        const i = i0 + r;
        if (i >= Tq) break;
        const m = load<f32>(mrow + (<usize>r << 2));
        const l = load<f32>(lrow + (<usize>r << 2));
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
        const orow = o + (<usize>(r * DvP) << 2);
        const dst = out + ((bh * <usize>(Tq * Dv) + <usize>(i * Dv)) << 2);
        for (let e = 0; e < Dv; e++) store<f32>(dst + (<usize>e << 2), load<f32>(orow + (<usize>e << 2)) * factor);
        store<f32>(lse + ((bh * <usize>Tq + <usize>i) << 2), lseV);
      }
    }
  }
}

/** The key blocks of query rows [i0, i0 + 4) of head h, with the online softmax. */
function forwardRows(b: i32, h: i32, i0: i32, qp: usize, kt: usize, vp: usize, s: usize, o: usize, mrow: usize, lrow: usize, counts: usize, table: usize): void {
  const qs = <usize>DkP << 2;
  for (let c0 = 0; c0 < TkP; c0 += C) {
    const cols = min(C, TkP - c0);
    const kind = classify(i0, c0, cols);
    if (kind == TILE_SKIP) {
      const real = min(cols, Tk - c0);
      for (let r = 0; r < R; r++) store<i32>(counts + (<usize>r << 2), load<i32>(counts + (<usize>r << 2)) + real);
      continue;
    }
    scores(qp + (<usize>i0 * qs), qs, kt, <usize>TkS << 2, c0, cols, Dk, s);
    if (kind == TILE_SOME) maskTile(s, b, h, i0, c0, cols, counts);
    for (let r = 0; r < R; r++) {
      const row = s + (<usize>(r * C) << 2);
      const tmax = rowMax(row, cols);
      if (tmax == NEG_INF) {
        memory.fill(row, 0, <usize>cols << 2);
        continue;
      }
      const mOld = load<f32>(mrow + (<usize>r << 2));
      const mNew = max(mOld, tmax);
      let l = load<f32>(lrow + (<usize>r << 2));
      if (mNew > mOld) {
        const alpha = Mathf.exp(mOld - mNew);
        l *= alpha;
        const orow = o + (<usize>(r * DvP) << 2);
        const av = f32x4.splat(alpha);
        for (let e = 0; e < DvP; e += 4) {
          const at = orow + (<usize>e << 2);
          v128.store(at, f32x4.mul(v128.load(at), av));
        }
        store<f32>(mrow + (<usize>r << 2), mNew);
      }
      store<f32>(lrow + (<usize>r << 2), l + expRow(row, cols, mNew, table));
    }
    mix(s, vp + (<usize>(c0 * DvP) << 2), cols, DvP, o);
  }
}

/** Scratch bytes one thread needs for backward(). */
function backwardScratchOf(): usize {
  return (<usize>(TqP * DkP + TqP * DvP + Dk * TkS + TkP * DkP + Dv * TkS + TkP * DkP + TkP * DvP + 2 * R * C + R * DkP + 2 * R) << 2) + EXP_TABLE;
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
  // scratch: Qp [TqP, DkP], dOp [TqP, DvP], Kt [Dk, TkS], Kp [TkP, DkP], Vt [Dv, TkS],
  // dKa [TkP, DkP], dVa [TkP, DvP], S, dP [R, C], dQ4 [R, DkP], Drow, lseRow [R]
  const table = <usize>pi(params, P_SCRATCH);
  const qp = table + EXP_TABLE;
  const dop = qp + (<usize>(TqP * DkP) << 2);
  const kt = dop + (<usize>(TqP * DvP) << 2);
  const kp = kt + (<usize>(Dk * TkS) << 2);
  const vt = kp + (<usize>(TkP * DkP) << 2);
  const dka = vt + (<usize>(Dv * TkS) << 2);
  const dva = dka + (<usize>(TkP * DkP) << 2);
  const s = dva + (<usize>(TkP * DvP) << 2);
  const dp = s + (<usize>(R * C) << 2);
  const dq4 = dp + (<usize>(R * C) << 2);
  const drow = dq4 + (<usize>(R * DkP) << 2);
  const lrow = drow + (<usize>R << 2);
  ensure(table + backwardScratchOf());
  writeExpTable(table);
  const qs = <usize>DkP << 2;
  const dos = <usize>DvP << 2;
  for (let item = pi(params, P_WORK_FROM); item < pi(params, P_WORK_TO); item++) {
    const b = item / Hkv;
    const kh = item % Hkv;
    const bk = <usize>item;
    const kSrc = k + ((bk * <usize>(Tk * Dk)) << 2);
    const vSrc = v + ((bk * <usize>(Tk * Dv)) << 2);
    packCols(kSrc, Tk, Dk, kt, TkS);
    packRows(kSrc, Tk, Dk, 1, kp, TkP, DkP);
    packCols(vSrc, Tk, Dv, vt, TkS);
    memory.fill(dka, 0, <usize>(TkP * DkP) << 2);
    memory.fill(dva, 0, <usize>(TkP * DvP) << 2);
    for (let g = 0; g < G; g++) {
      const h = kh * G + g;
      const bh = <usize>(b * Hq + h);
      packRows(q + ((bh * <usize>(Tq * Dk)) << 2), Tq, Dk, scale, qp, TqP, DkP);
      packRows(dy + ((bh * <usize>(Tq * Dv)) << 2), Tq, Dv, 1, dop, TqP, DvP);
      for (let i0 = 0; i0 < Tq; i0 += R) {
        memory.fill(dq4, 0, <usize>(R * DkP) << 2);
        for (let r = 0; r < R; r++) {
          const i = i0 + r;
          let dsum: f32 = 0;
          let l: f32 = Infinity; // padding rows: weights exp(s - inf) = 0
          if (i < Tq) {
            const dyRow = dy + ((bh * <usize>(Tq * Dv) + <usize>(i * Dv)) << 2);
            const oRow = oIn + ((bh * <usize>(Tq * Dv) + <usize>(i * Dv)) << 2);
            for (let e = 0; e < Dv; e++) dsum += load<f32>(dyRow + (<usize>e << 2)) * load<f32>(oRow + (<usize>e << 2));
            l = load<f32>(lse + ((bh * <usize>Tq + <usize>i) << 2));
          }
          store<f32>(drow + (<usize>r << 2), dsum);
          store<f32>(lrow + (<usize>r << 2), l);
        }
        for (let c0 = 0; c0 < TkP; c0 += C) {
          const cols = min(C, TkP - c0);
          const kind = classify(i0, c0, cols);
          if (kind == TILE_SKIP) continue;
          scores(qp + (<usize>i0 * qs), qs, kt, <usize>TkS << 2, c0, cols, Dk, s);
          if (kind == TILE_SOME) maskTile(s, b, h, i0, c0, cols, 0);
          scores(dop + (<usize>i0 * dos), dos, vt, <usize>TkS << 2, c0, cols, Dv, dp);
          for (let r = 0; r < R; r++) {
            gradRow(s + (<usize>(r * C) << 2), dp + (<usize>(r * C) << 2), cols, load<f32>(lrow + (<usize>r << 2)), load<f32>(drow + (<usize>r << 2)), table);
          }
          // dV += Pᵀ·dO, dK += dSᵀ·(scale·Q), dQ += dS·K
          mixT(s, dop + (<usize>i0 * dos), cols, DvP, dva + (<usize>(c0 * DvP) << 2));
          mixT(dp, qp + (<usize>i0 * qs), cols, DkP, dka + (<usize>(c0 * DkP) << 2));
          mix(dp, kp + (<usize>(c0 * DkP) << 2), cols, DkP, dq4);
          if (dbias != 0) scatterBias(dbias, dp, b, h, i0, c0, cols);
        }
        for (let r = 0; r < R; r++) {
          const i = i0 + r;
          if (i >= Tq) break;
          const src = dq4 + (<usize>(r * DkP) << 2);
          const dst = dq + ((bh * <usize>(Tq * Dk) + <usize>(i * Dk)) << 2);
          for (let d = 0; d < Dk; d++) store<f32>(dst + (<usize>d << 2), load<f32>(src + (<usize>d << 2)) * scale);
        }
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
    const row = ds + (<usize>(r * C) << 2);
    for (let c = 0; c < real; c++) {
      const at = base + (<usize>((c0 + c) * bSK) << 2);
      store<f32>(at, load<f32>(at) + load<f32>(row + (<usize>c << 2)));
    }
  }
}
