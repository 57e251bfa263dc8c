/**
 * Chunked (flash-style) attention: the same numbers as the reference path with O(T) memory.
 *
 * Queries and keys are cut into tiles. For each query tile, the key tiles are visited in
 * order with a running row max `m`, a running normaliser `l` and a running output `acc`
 * (the online softmax of FlashAttention and of Rabe & Staats, "Self-attention does not need
 * O(n²) memory"), so no [Tq, Tk] matrix larger than one tile ever exists. The backward pass
 * (a `tf.customGrad`) recomputes each tile from the saved row logsumexp, so training is
 * O(T) in memory too. Each tile is one rank-2 matMul per (batch, key/value head) with the
 * `group` query heads that share that key/value head stacked as rows, the form that is
 * fastest on wasm (see sliced.ts).
 */
import { MASK_FILL, combineMasks } from '@attnkit/masking';
import * as tf from '@tensorflow/tfjs-core';
import { bandOf } from './band.js';
import { biasAllows } from './reference.js';
import { saveViews } from './save.js';
import type { AttentionDims, AttentionOptions, ChunkSize } from './types.js';

export type { ChunkSize } from './types.js';

/**
 * Default tile lengths. On wasm, T = 2048, H = 8, d = 64, 512 x 512 tiles ran forward +
 * backward about 20% faster than 256 x 512 (fewer small ops per element); a tile's few
 * temporaries (1 MiB each) stay far below the O(T) buffers.
 */
export const DEFAULT_CHUNK_SIZE = { query: 512, key: 512 } as const;

/** The options chunked attention reads; the meaning of each is in AttentionOptions. */
export type ChunkedOptions = Omit<AttentionOptions, 'implementation'>;

/** Everything about one call that does not depend on tensor values. */
interface Plan {
  dims: AttentionDims;
  scale: number;
  /** Query and key tile lengths, and the number of tiles along each. */
  tq: number;
  tk: number;
  nQ: number;
  nK: number;
  /** Allowed keys of the query aligned at `p = i + offset` are `p - left <= j <= p + right` (band.ts). */
  left: number;
  right: number;
  offset: number;
  /** Dropout rate and base seed, or null when dropout is off. */
  dropout: { rate: number; seed: number } | null;
}

function planOf(options: ChunkedOptions, dims: AttentionDims): Plan {
  const { Tq, Tk, Dk } = dims;
  const size = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const tq = Math.min(typeof size === 'number' ? size : size.query, Tq);
  const tk = Math.min(typeof size === 'number' ? size : size.key, Tk);
  const { dropout = 0, training = false } = options;
  const rate = training ? dropout : 0;
  return {
    dims,
    scale: options.scale ?? 1 / Math.sqrt(Dk),
    tq,
    tk,
    nQ: Math.ceil(Tq / tq),
    nK: Math.ceil(Tk / tk),
    ...bandOf(options, dims),
    // Without a seed, one random seed per call, shared by the forward and backward passes.
    dropout: rate > 0 ? { rate, seed: options.seed ?? Math.floor(Math.random() * 2 ** 31) } : null,
  };
}

/** One tile: query rows [q0, q0 + rows) and keys [k0, k0 + cols) of batch·kv-head `bh`. */
interface Tile {
  b: number;
  kvh: number;
  i: number;
  j: number;
  q0: number;
  rows: number;
  k0: number;
  cols: number;
}

function tileAt(plan: Plan, bh: number, i: number, j: number): Tile {
  const { Hkv, Tq, Tk } = plan.dims;
  const q0 = i * plan.tq;
  const k0 = j * plan.tk;
  const rows = Math.min(plan.tq, Tq - q0);
  const cols = Math.min(plan.tk, Tk - k0);
  return { b: Math.floor(bh / Hkv), kvh: bh % Hkv, i, j, q0, rows, k0, cols };
}

/**
 * How the causal / window constraints cover a tile: 'none' (skipped: nothing in it may be
 * attended), 'all' (no structural mask needed) or 'some'.
 */
function coverage(plan: Plan, t: Tile): 'none' | 'all' | 'some' {
  const first = t.q0 + plan.offset; // aligned key position of the tile's first query
  const last = first + t.rows - 1;
  const kLast = t.k0 + t.cols - 1;
  if (t.k0 > last + plan.right || kLast < first - plan.left) return 'none';
  if (t.k0 >= last - plan.left && kLast <= first + plan.right) return 'all';
  return 'some';
}

/**
 * Slicing. On the wasm backend every tf.slice first copies its whole input out of the heap,
 * so slicing tiles straight from a [B, H, T, D] input would cost O(input) per tile. Inputs
 * are therefore cut level by level: once per (batch, kv head), then per tile.
 */
/** A new handle on `x` with leading 1s up to rank 4 (a view, no copy). */
function rank4(x: tf.Tensor): tf.Tensor {
  return tf.reshape(x, [...new Array(4 - x.rank).fill(1), ...x.shape]); // [b|1, h|1, q|1, k|1]
}

/** The part of x [sB, sH, sQ, sK] (broadcastable to [B, Hq, Tq, Tk]) for batch·kv-head `bh`: [G|1, sQ, sK]. */
function headPart(x: tf.Tensor, plan: Plan, bh: number): tf.Tensor {
  const [sB, sH, sQ, sK] = x.shape as [number, number, number, number];
  const { Hkv, group: G } = plan.dims;
  const h = sH > 1 ? G : 1;
  const part = tf.slice(x, [sB > 1 ? Math.floor(bh / Hkv) : 0, sH > 1 ? (bh % Hkv) * G : 0, 0, 0], [1, h, sQ, sK]);
  return tf.reshape(part, [h, sQ, sK]); // [G|1, sQ, sK]
}

/** Rows of query tile `i` of a head part [h, sQ, sK]: [h, rows|1, sK]. */
function rowPart(x: tf.Tensor, plan: Plan, i: number): tf.Tensor {
  const [h, sQ, sK] = x.shape as [number, number, number];
  if (sQ === 1) return tf.reshape(x, [h, 1, sK]); // broadcast along queries: [h, 1, sK]
  const [q0, rows] = queryRows(plan)(i);
  return tf.slice(x, [0, q0, 0], [h, rows, sK]); // [h, rows, sK]
}

/** Columns of key tile `j` of a row part [h, r, sK]: [h, r, cols|1]. */
function colPart(x: tf.Tensor, plan: Plan, j: number): tf.Tensor {
  const [h, r, sK] = x.shape as [number, number, number];
  if (sK === 1) return tf.reshape(x, [h, r, 1]); // broadcast along keys: [h, r, 1]
  const k0 = j * plan.tk;
  return tf.slice(x, [0, 0, k0], [h, r, Math.min(plan.tk, plan.dims.Tk - k0)]); // [h, r, cols]
}

function queryRows(plan: Plan) {
  return (i: number): [number, number] => [i * plan.tq, Math.min(plan.tq, plan.dims.Tq - i * plan.tq)];
}

/** The heads of x [B, Hq, Tq, D] read by batch·kv-head `bh`, cut into query tiles with the heads stacked as rows: [G*rows, D]. */
function queryTiles(x: tf.Tensor, plan: Plan, bh: number): tf.Tensor2D[] {
  const { Hkv, group: G, Tq } = plan.dims;
  const D = x.shape[3]!;
  const head = tf.reshape(tf.slice(x, [Math.floor(bh / Hkv), (bh % Hkv) * G, 0, 0], [1, G, Tq, D]), [G, Tq, D]); // [G, Tq, D]
  return Array.from({ length: plan.nQ }, (_, i) => {
    const [q0, rows] = queryRows(plan)(i);
    return tf.reshape(tf.slice(head, [0, q0, 0], [G, rows, D]), [G * rows, D]) as tf.Tensor2D; // [G*rows, D]
  });
}

/** Key/value head `bh` of x [B, Hkv, Tk, D] cut into key tiles: [cols, D] each, or [D, cols] transposed. */
function keyTiles(x: tf.Tensor, plan: Plan, bh: number, transpose: boolean): tf.Tensor2D[] {
  const { Hkv, Tk } = plan.dims;
  const D = x.shape[3]!;
  const head = tf.reshape(tf.slice(x, [Math.floor(bh / Hkv), bh % Hkv, 0, 0], [1, 1, Tk, D]), [Tk, D]); // [Tk, D]
  return Array.from({ length: plan.nK }, (_, j) => {
    const k0 = j * plan.tk;
    const tile = tf.slice(head, [k0, 0], [Math.min(plan.tk, Tk - k0), D]) as tf.Tensor2D; // [cols, D]
    return transpose ? tf.transpose(tile) : tile; // [D, cols] or [cols, D]
  });
}

/**
 * The structural (causal / window) mask of a partly covered tile, written in plain JS at the
 * tile's full shape [G, rows, cols] as 1/0: on wasm, int32 and bool ops that broadcast run
 * a slow generic loop (about 50 ms a 512x512 tile), while building the values here is fast.
 */
function structuralMask(plan: Plan, t: Tile): Uint8Array {
  const G = plan.dims.group;
  const plane = t.rows * t.cols;
  const out = new Uint8Array(G * plane);
  for (let r = 0; r < t.rows; r++) {
    const p = t.q0 + r + plan.offset; // aligned key position of this query
    const lo = Math.max(0, p - plan.left - t.k0);
    const hi = Math.min(t.cols - 1, p + plan.right - t.k0);
    if (lo <= hi) out.fill(1, r * t.cols + lo, r * t.cols + hi + 1);
  }
  for (let g = 1; g < G; g++) out.copyWithin(g * plane, 0, plane);
  return out;
}

/**
 * Per-(batch, kv head) operands, cut once into tiles: scaled query tiles [G*rows, Dk],
 * transposed key tiles [Dk, cols], value tiles [cols, Dv], and the mask and bias rows of
 * each query tile [G|1, rows|1, Tk|1] (null without a mask / bias).
 */
interface Head {
  qs: tf.Tensor2D[];
  kT: tf.Tensor2D[];
  maskRows: (tf.Tensor | null)[];
  biasRows: (tf.Tensor | null)[];
}

/** Mask and bias of a call, as rank-4 handles, or null. */
interface Extras {
  mask: tf.Tensor | null;
  bias: tf.Tensor | null;
}

function headOf(plan: Plan, bh: number, query: tf.Tensor, key: tf.Tensor, { mask, bias }: Extras): Head {
  const rowsOf = (x: tf.Tensor | null) => {
    if (!x) return new Array<null>(plan.nQ).fill(null);
    const part = headPart(x, plan, bh); // [G|1, sQ, sK]
    return Array.from({ length: plan.nQ }, (_, i) => rowPart(part, plan, i));
  };
  return {
    qs: queryTiles(query, plan, bh).map((q) => tf.mul(q, plan.scale) as tf.Tensor2D),
    kT: keyTiles(key, plan, bh, true),
    maskRows: rowsOf(mask),
    biasRows: rowsOf(bias),
  };
}

function disposeHead(head: object) {
  tf.dispose(
    Object.values(head)
      .flat()
      .filter((t): t is tf.Tensor => t instanceof tf.Tensor),
  );
}

/**
 * Logits of one tile [G, rows, cols], bias added and masked entries filled with MASK_FILL
 * exactly as the reference does, plus the tile's float mask (1 = attend) or null.
 */
function tileLogits(plan: Plan, t: Tile, cover: 'all' | 'some', head: Head) {
  const shape = [plan.dims.group, t.rows, t.cols];
  let s: tf.Tensor = tf.reshape(tf.matMul(head.qs[t.i]!, head.kT[t.j]!), shape); // [G, rows, cols]
  const biasRows = head.biasRows[t.i];
  if (biasRows) s = tf.add(s, colPart(biasRows, plan, t.j));
  const mask = tileMask(plan, t, cover, head.maskRows[t.i] ?? null);
  if (!mask) return { s, maskF: null };
  // where() with operands of one shape: broadcasting where() tiles them, slowly on wasm.
  s = tf.where(mask.cond, s, tf.fill(shape, MASK_FILL));
  return { s, maskF: mask.maskF };
}

/**
 * The combined mask of a tile (user mask AND causal/window), at the tile's full shape
 * [G, rows, cols] as bool `cond` and float `maskF` (1 = attend), or null when all may attend.
 * Broadcasting is done in float32, the fast kind of broadcasting on wasm.
 */
function tileMask(plan: Plan, t: Tile, cover: 'all' | 'some', maskRows: tf.Tensor | null) {
  const shape = [plan.dims.group, t.rows, t.cols];
  const structural = cover === 'some' ? structuralMask(plan, t) : null;
  if (!maskRows && !structural) return null;
  if (!maskRows) return { cond: tf.tensor(structural!, shape, 'bool'), maskF: tf.tensor(Float32Array.from(structural!), shape) };
  const user = tf.cast(colPart(maskRows, plan, t.j), 'float32'); // [G|1, rows|1, cols|1]
  const other = structural ? tf.tensor(Float32Array.from(structural), shape) : tf.ones(shape);
  const maskF = tf.mul(user, other); // [G, rows, cols]
  return { cond: tf.cast(maskF, 'bool'), maskF };
}

/** 32-bit mix of the call's seed and a tile's position: the tile's own dropout seed. */
function tileSeed(seed: number, t: Tile): number {
  let h = seed >>> 0;
  for (const x of [t.b, t.kvh, t.i, t.j]) {
    h = Math.imul(h ^ (x + 0x9e3779b9), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/**
 * Dropout multipliers of one tile [G, rows, cols]: each entry is kept (1/(1 - rate)) when
 * its uniform draw is >= rate, else 0. The draws come from a mulberry32 stream seeded per
 * tile, so the backward pass regenerates exactly the forward's pattern, on every backend.
 */
function tileDropout(plan: Plan, t: Tile): tf.Tensor | null {
  if (!plan.dropout) return null;
  const { rate } = plan.dropout;
  const scale = 1 / (1 - rate);
  const values = new Float32Array(plan.dims.group * t.rows * t.cols);
  let a = tileSeed(plan.dropout.seed, t);
  for (let n = 0; n < values.length; n++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), a | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    values[n] = ((x ^ (x >>> 14)) >>> 0) / 4294967296 >= rate ? scale : 0;
  }
  return tf.tensor(values, [plan.dims.group, t.rows, t.cols]); // [G, rows, cols]
}

/** tf.tidy for a function returning a structure of tensors (nulls allowed), keeping its type. */
function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}

/** Running state of one query tile: row max and normaliser [G, rows, 1], output [G*rows, Dv]. */
interface Running {
  m: tf.Tensor;
  l: tf.Tensor;
  acc: tf.Tensor;
}

function forwardStep(plan: Plan, t: Tile, cover: 'all' | 'some', head: Head & { v: tf.Tensor2D[] }, prev: Running | null): Running {
  const R = plan.dims.group * t.rows;
  const { s, maskF } = tileLogits(plan, t, cover, head); // [G, rows, cols]
  const tileMax = tf.max(s, 2, true); // [G, rows, 1]
  const m = prev ? tf.maximum(prev.m, tileMax) : tileMax;
  let p = tf.exp(tf.sub(s, m)); // [G, rows, cols]
  const rowSum = tf.sum(p, 2, true); // [G, rows, 1]: masked entries count, as in the reference softmax
  if (maskF) p = tf.mul(p, maskF);
  const z = tileDropout(plan, t);
  if (z) p = tf.mul(p, z);
  const pv = tf.matMul(tf.reshape(p, [R, t.cols]) as tf.Tensor2D, head.v[t.j]!); // [G*rows, Dv]
  if (!prev) return { m, l: rowSum, acc: pv };
  const alpha = tf.exp(tf.sub(prev.m, m)); // [G, rows, 1]
  return {
    m,
    l: tf.add(tf.mul(prev.l, alpha), rowSum),
    acc: tf.add(tf.mul(prev.acc, tf.reshape(alpha, [R, 1])), pv), // [G*rows, Dv]
  };
}

/** Visits the key tiles of query tile `i` with the online softmax: output [G, rows, Dv] and logsumexp [G, rows, 1]. */
function forwardRow(plan: Plan, bh: number, i: number, head: Head & { v: tf.Tensor2D[] }) {
  const { group: G, Dv } = plan.dims;
  const rows = tileAt(plan, bh, i, 0).rows;
  let state: Running | null = null;
  for (let j = 0; j < plan.nK; j++) {
    const t = tileAt(plan, bh, i, j);
    const cover = coverage(plan, t);
    if (cover === 'none') continue;
    const prev: Running | null = state;
    state = tidy(() => forwardStep(plan, t, cover, head, prev));
    if (prev) tf.dispose([prev.m, prev.l, prev.acc]);
  }
  const done: Running | null = state;
  // Every key tile excluded: nothing may be attended, zero output (the logsumexp is unused).
  if (!done) return { out: tf.zeros([G, rows, Dv]), lse: tf.zeros([G, rows, 1]) };
  // l >= 1 (the row's largest entry contributes exp(0)); fully masked rows have acc = 0.
  const out = tf.tidy(() => tf.div(tf.reshape(done.acc, [G, rows, Dv]), done.l)); // [G, rows, Dv]
  const lse = tf.tidy(() => tf.add(done.m, tf.log(done.l))); // [G, rows, 1]
  tf.dispose([done.m, done.l, done.acc]);
  return { out, lse };
}

/** Output [B, Hq, Tq, Dv] and row logsumexp [B*Hkv, G, Tq, 1]. */
function forward(plan: Plan, query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, extras: Extras) {
  const { B, Hkv, Hq, group: G, Tq, Dv } = plan.dims;
  const outs: tf.Tensor[] = [];
  const lses: tf.Tensor[] = [];
  for (let bh = 0; bh < B * Hkv; bh++) {
    const head = tidy(() => ({ ...headOf(plan, bh, query, key, extras), v: keyTiles(value, plan, bh, false) }));
    const rows = Array.from({ length: plan.nQ }, (_, i) => forwardRow(plan, bh, i, head));
    disposeHead(head);
    outs.push(
      concatOwned(
        rows.map((r) => r.out),
        1,
      ),
    ); // [G, Tq, Dv]
    lses.push(
      concatOwned(
        rows.map((r) => r.lse),
        1,
      ),
    ); // [G, Tq, 1]
  }
  const output = reshapeOwned(concatOwned(outs, 0), [B, Hq, Tq, Dv]); // [B, Hq, Tq, Dv]
  const lse = reshapeOwned(concatOwned(lses, 0), [B * Hkv, G, Tq, 1]); // [B*Hkv, G, Tq, 1]
  return { output: output as tf.Tensor4D, lse };
}

/** Concatenates and disposes the pieces at once, so they never outlive the result. */
function concatOwned(pieces: tf.Tensor[], axis: number): tf.Tensor {
  if (pieces.length === 1) return pieces[0]!;
  const out = tf.concat(pieces, axis);
  tf.dispose(pieces);
  return out;
}

/** Reshapes and disposes the input handle, so that only one tensor refers to the data. */
function reshapeOwned(x: tf.Tensor, shape: number[]): tf.Tensor {
  const out = tf.reshape(x, shape);
  x.dispose();
  return out;
}

/** Operands of the backward pass for one (batch, kv head), beside those of the forward. */
interface BackHead extends Head {
  /** Key tiles [cols, Dk] and transposed value tiles [Dv, cols]. */
  k: tf.Tensor2D[];
  vT: tf.Tensor2D[];
  /** Output-gradient tiles [G*rows, Dv]. */
  dO: tf.Tensor2D[];
  /** Row logsumexp and D = rowsum(dO ⊙ O) of each query tile, [G, rows, 1]. */
  lse: tf.Tensor[];
  D: tf.Tensor[];
}

function backHeadOf(plan: Plan, bh: number, x: Saved, dy: tf.Tensor): BackHead {
  const { group: G, Tq } = plan.dims;
  const dO = queryTiles(dy, plan, bh);
  const out = queryTiles(x.output, plan, bh);
  const lseHead = tf.reshape(tf.slice(x.lse, [bh, 0, 0, 0], [1, G, Tq, 1]), [G, Tq, 1]); // [G, Tq, 1]
  return {
    ...headOf(plan, bh, x.query, x.key, x),
    k: keyTiles(x.key, plan, bh, false),
    vT: keyTiles(x.value, plan, bh, true),
    dO,
    D: dO.map((d, i) => tf.reshape(tf.sum(tf.mul(d, out[i]!), 1), [G, queryRows(plan)(i)[1], 1])), // [G, rows, 1]
    lse: Array.from({ length: plan.nQ }, (_, i) => {
      const [q0, rows] = queryRows(plan)(i);
      return tf.slice(lseHead, [0, q0, 0], [G, rows, 1]); // [G, rows, 1]
    }),
  };
}

/** Running gradients: of the query tile (dQ, unscaled), of the key tile (dK, dV). */
interface Grads {
  dQ: tf.Tensor | null;
  dK: tf.Tensor | null;
  dV: tf.Tensor | null;
}

/**
 * Backward through one tile, recomputing its weights W = mask ⊙ exp(s - lse):
 * dV += Wdᵀ·dO, dS = W ⊙ (Z ⊙ dO·Vᵀ - D), dQ += dS·K, dK += dSᵀ·(scale·Q), dBias += dS,
 * where Z is the dropout multiplier (Wd = W ⊙ Z) and D = rowsum(dO ⊙ O).
 */
function backwardStep(plan: Plan, t: Tile, cover: 'all' | 'some', head: BackHead, acc: Grads, biasShape: number[] | null) {
  const { group: G } = plan.dims;
  const R = G * t.rows;
  const { s, maskF } = tileLogits(plan, t, cover, head); // [G, rows, cols]
  let w = tf.exp(tf.sub(s, head.lse[t.i]!)); // [G, rows, cols]
  if (maskF) w = tf.mul(w, maskF);
  const z = tileDropout(plan, t);
  const wd = tf.reshape(z ? tf.mul(w, z) : w, [R, t.cols]); // [G*rows, cols]
  const dO = head.dO[t.i]!;
  const dV = tf.matMul(tf.transpose(wd), dO); // [cols, Dv]
  let dP = tf.reshape(tf.matMul(dO, head.vT[t.j]!), [G, t.rows, t.cols]); // [G, rows, cols]
  if (z) dP = tf.mul(dP, z);
  const dS = tf.mul(w, tf.sub(dP, head.D[t.i]!)); // [G, rows, cols]
  const dS2 = tf.reshape(dS, [R, t.cols]) as tf.Tensor2D; // [G*rows, cols]
  const dQ = tf.matMul(dS2, head.k[t.j]!); // [G*rows, Dk], scaled at the end
  const dK = tf.matMul(tf.transpose(dS2), head.qs[t.i]!); // [cols, Dk]
  return {
    dQ: acc.dQ ? tf.add(acc.dQ, dQ) : dQ,
    dK: acc.dK ? tf.add(acc.dK, dK) : dK,
    dV: acc.dV ? tf.add(acc.dV, dV) : dV,
    dB: biasShape ? biasGrad(dS, biasShape) : null,
  };
}

/** dS [G, rows, cols] summed over the dimensions a bias of rank-4 shape `shape` broadcasts along. */
function biasGrad(dS: tf.Tensor, shape: number[]): tf.Tensor {
  const [, sH, sQ, sK] = shape as [number, number, number, number];
  const axes = [sH > 1 ? -1 : 0, sQ > 1 ? -1 : 1, sK > 1 ? -1 : 2].filter((a) => a >= 0);
  return axes.length ? tf.sum(dS, axes, true) : dS; // [G|1, rows|1, cols|1]
}

/** Sums bias-gradient tiles that land on the same slice of a broadcast bias of rank-4 shape `shape`. */
class BiasGradTiles {
  private readonly tiles = new Map<string, tf.Tensor>();
  constructor(
    private readonly plan: Plan,
    private readonly shape: number[],
  ) {}

  private keyOf(b: number, h: number, i: number, j: number) {
    const [sB, sH, sQ, sK] = this.shape as [number, number, number, number];
    return `${sB > 1 ? b : 0}|${sH > 1 ? h : 0}|${sQ > 1 ? i : 0}|${sK > 1 ? j : 0}`;
  }

  add(t: Tile, grad: tf.Tensor) {
    const key = this.keyOf(t.b, t.kvh, t.i, t.j);
    const old = this.tiles.get(key);
    this.tiles.set(key, old ? tf.add(old, grad) : grad);
    if (old) tf.dispose([old, grad]);
  }

  /** The assembled gradient [sB, sH, sQ, sK], zeros where no tile contributed. */
  assemble(): tf.Tensor {
    const { dims, tq, tk, nQ, nK } = this.plan;
    const [sB, sH, sQ, sK] = this.shape as [number, number, number, number];
    const heads = sH > 1 ? dims.group : 1;
    const rowsOf = (i: number) => (sQ > 1 ? Math.min(tq, dims.Tq - i * tq) : 1);
    const colsOf = (j: number) => (sK > 1 ? Math.min(tk, dims.Tk - j * tk) : 1);
    const range = (n: number) => Array.from({ length: n }, (_, x) => x);
    const batches = range(sB).map((b) => {
      const headBlocks = range(sH > 1 ? dims.Hkv : 1).map((h) => {
        const rowBlocks = range(sQ > 1 ? nQ : 1).map((i) => {
          const pieces = range(sK > 1 ? nK : 1).map((j) => {
            const key = this.keyOf(b, h, i, j);
            const tile = this.tiles.get(key);
            this.tiles.delete(key);
            return tile ?? tf.zeros([heads, rowsOf(i), colsOf(j)]);
          });
          return concatOwned(pieces, 2); // [heads, rows, sK]
        });
        return concatOwned(rowBlocks, 1); // [heads, sQ, sK]
      });
      return concatOwned(headBlocks, 0); // [sH, sQ, sK]
    });
    return reshapeOwned(concatOwned(batches, 0), [sB, sH, sQ, sK]); // [sB, sH, sQ, sK]
  }
}

/** What the forward pass saves for the backward: inputs, output, logsumexp, mask and bias (rank 4). */
interface Saved extends Extras {
  query: tf.Tensor;
  key: tf.Tensor;
  value: tf.Tensor;
  output: tf.Tensor;
  lse: tf.Tensor;
}

/** Gradients of one (batch, kv head): dQ [G, Tq, Dk], dK [Tk, Dk], dV [Tk, Dv]; bias tiles go to `biasTiles`. */
function backwardHead(plan: Plan, bh: number, head: BackHead, biasTiles: BiasGradTiles | null, biasShape: number[] | null) {
  const { group: G, Dk, Dv } = plan.dims;
  const dQ: (tf.Tensor | null)[] = new Array(plan.nQ).fill(null);
  const dK: tf.Tensor[] = [];
  const dV: tf.Tensor[] = [];
  for (let j = 0; j < plan.nK; j++) {
    let grads: Grads = { dQ: null, dK: null, dV: null };
    for (let i = 0; i < plan.nQ; i++) {
      const t = tileAt(plan, bh, i, j);
      const cover = coverage(plan, t);
      if (cover === 'none') continue;
      const prev: Grads = { ...grads, dQ: dQ[i]! };
      const next = tidy(() => backwardStep(plan, t, cover, head, prev, biasShape));
      tf.dispose([prev.dQ, prev.dK, prev.dV].filter((g): g is tf.Tensor => g !== null));
      dQ[i] = next.dQ;
      grads = next;
      if (next.dB) biasTiles!.add(t, next.dB);
    }
    const cols = tileAt(plan, bh, 0, j).cols;
    dK.push(grads.dK ?? tf.zeros([cols, Dk])); // [cols, Dk]
    dV.push(grads.dV ?? tf.zeros([cols, Dv])); // [cols, Dv]
  }
  const dQTiles = dQ.map((g, i) => {
    const rows = queryRows(plan)(i)[1];
    if (!g) return tf.zeros([G, rows, Dk]);
    const scaled = tf.tidy(() => tf.reshape(tf.mul(g, plan.scale), [G, rows, Dk])); // [G, rows, Dk]
    g.dispose();
    return scaled;
  });
  return { dQ: concatOwned(dQTiles, 1), dK: concatOwned(dK, 0), dV: concatOwned(dV, 0) };
}

function backward(plan: Plan, dy: tf.Tensor, x: Saved, biasShape: number[] | null): tf.Tensor[] {
  const { B, Hkv, Hq, Tq, Tk, Dk, Dv } = plan.dims;
  const rank4Shape = x.bias ? x.bias.shape : null;
  const biasTiles = rank4Shape ? new BiasGradTiles(plan, rank4Shape) : null;
  const dQs: tf.Tensor[] = [];
  const dKs: tf.Tensor[] = [];
  const dVs: tf.Tensor[] = [];
  for (let bh = 0; bh < B * Hkv; bh++) {
    const head = tidy(() => backHeadOf(plan, bh, x, dy));
    const g = backwardHead(plan, bh, head, biasTiles, rank4Shape);
    disposeHead(head);
    dQs.push(g.dQ); // [G, Tq, Dk]
    dKs.push(g.dK); // [Tk, Dk]
    dVs.push(g.dV); // [Tk, Dv]
  }
  const grads = [
    reshapeOwned(concatOwned(dQs, 0), [B, Hq, Tq, Dk]), // [B, Hq, Tq, Dk]
    reshapeOwned(concatOwned(dKs, 0), [B, Hkv, Tk, Dk]), // [B, Hkv, Tk, Dk]
    reshapeOwned(concatOwned(dVs, 0), [B, Hkv, Tk, Dv]), // [B, Hkv, Tk, Dv]
  ];
  if (biasTiles && biasShape) grads.push(reshapeOwned(biasTiles.assemble(), biasShape)); // bias's own shape
  return grads;
}

/**
 * Chunked attention output [B, Hq, Tq, Dv]; inputs validated by the caller. Differentiable
 * with respect to query, key, value and bias through a tf.customGrad whose backward pass
 * recomputes each tile from the saved logsumexp, so neither pass holds more than a tile of
 * [Tq, Tk]. The mask is saved with the inputs, so a mask built inside a gradient function
 * may be disposed before the backward pass runs.
 */
export function chunkedAttention(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, options: ChunkedOptions, dims: AttentionDims): tf.Tensor4D {
  const plan = planOf(options, dims);
  const bias = options.bias ?? null;
  const mask = options.mask ?? null;
  const inputs = [query, key, value, ...(bias ? [bias] : [])];
  const attend = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [q, k, v, b] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    // A key a -Infinity bias excludes is a masked key (reference.ts, biasAllows); tiles fill it with MASK_FILL.
    const combined = combineMasks(mask, b ? biasAllows(b) : null);
    const extras: Extras = { mask: combined ? rank4(combined) : null, bias: b ? rank4(b) : null };
    const { output, lse } = forward(plan, q, k, v, extras);
    saveViews(save, [q, k, v, output, lse, ...(extras.bias ? [extras.bias] : []), ...(extras.mask ? [extras.mask] : [])]);
    return {
      value: output,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sq, sk, sv, so, sl, ...rest] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, ...tf.Tensor[]];
        const sb = extras.bias ? rest.shift()! : null;
        const sm = extras.mask ? rest.shift()! : null;
        const x: Saved = { query: sq, key: sk, value: sv, output: so, lse: sl, bias: sb, mask: sm };
        return backward(plan, dy, x, b ? b.shape : null);
      },
    };
  });
  return attend(...inputs) as tf.Tensor4D;
}

/**
 * The dropout multipliers chunked attention applies, assembled into one [B, Hq, Tq, Tk]
 * tensor (0 or 1/(1 - rate)). For tests only: it materialises exactly what chunked avoids.
 */
export function chunkedDropoutMultipliers(dims: AttentionDims, options: { dropout: number; seed: number; chunkSize?: ChunkSize }): tf.Tensor4D {
  const plan = planOf({ ...options, training: true }, dims);
  const { B, Hkv, Hq, Tq, Tk } = dims;
  return tf.tidy(() => {
    const heads = Array.from({ length: B * Hkv }, (_, bh) => {
      const rows = Array.from({ length: plan.nQ }, (_, i) =>
        tf.concat(
          Array.from({ length: plan.nK }, (_, j) => tileDropout(plan, tileAt(plan, bh, i, j))!),
          2,
        ),
      ); // [G, rows, Tk] each
      return tf.concat(rows, 1); // [G, Tq, Tk]
    });
    return tf.reshape(tf.stack(heads), [B, Hq, Tq, Tk]) as tf.Tensor4D; // [B, Hq, Tq, Tk]
  });
}
