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
import { MASK_FILL } from '@attnkit/masking';
import * as tf from '@tensorflow/tfjs-core';
import type { AttentionDims } from './validate.js';

/** Query and key tile lengths; a number sets both. */
export type ChunkSize = number | { query: number; key: number };

/**
 * Default tile lengths, measured on the wasm and cpu backends (package README, "Long
 * sequences"): tall query tiles and wide key tiles keep the number of small ops low.
 */
export const DEFAULT_CHUNK_SIZE = { query: 256, key: 512 } as const;

/** The options chunked attention reads; the meaning of each is in AttentionOptions. */
export interface ChunkedOptions {
  mask?: tf.Tensor | null;
  bias?: tf.Tensor | null;
  causal?: boolean;
  window?: { left: number; right?: number } | null;
  scale?: number;
  dropout?: number;
  training?: boolean;
  seed?: number;
  chunkSize?: ChunkSize;
}

/** Everything about one call that does not depend on tensor values. */
interface Plan {
  dims: AttentionDims;
  scale: number;
  /** Query and key tile lengths, and the number of tiles along each. */
  tq: number;
  tk: number;
  nQ: number;
  nK: number;
  /** Allowed keys of the query aligned at `p` are `p - left <= j <= p + right` (Infinity: unbounded). */
  left: number;
  right: number;
  /** Key position of query 0: Tk - Tq (bottom-right alignment). */
  offset: number;
  /** The user mask as a rank-4 view, or null. */
  mask: tf.Tensor | null;
  /** Dropout rate and base seed, or null when dropout is off. */
  dropout: { rate: number; seed: number } | null;
}

function planOf(options: ChunkedOptions, dims: AttentionDims): Plan {
  const { Tq, Tk, Dk } = dims;
  const size = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const tq = Math.min(typeof size === 'number' ? size : size.query, Tq);
  const tk = Math.min(typeof size === 'number' ? size : size.key, Tk);
  const { window, causal = false, dropout = 0, training = false } = options;
  const rate = training ? dropout : 0;
  return {
    dims,
    scale: options.scale ?? 1 / Math.sqrt(Dk),
    tq,
    tk,
    nQ: Math.ceil(Tq / tq),
    nK: Math.ceil(Tk / tk),
    left: window ? window.left : Number.POSITIVE_INFINITY,
    right: Math.min(causal ? 0 : Number.POSITIVE_INFINITY, window ? (window.right ?? 0) : Number.POSITIVE_INFINITY),
    offset: Tk - Tq,
    mask: options.mask ? rank4(options.mask) : null,
    // Without a seed, one random seed per call, shared by the forward and backward passes.
    dropout: rate > 0 ? { rate, seed: options.seed ?? Math.floor(Math.random() * 2 ** 31) } : null,
  };
}

/** A view of a mask or bias with leading 1s up to rank 4. */
function rank4(x: tf.Tensor): tf.Tensor {
  return x.rank === 4 ? x : tf.reshape(x, [...new Array(4 - x.rank).fill(1), ...x.shape]); // [b, h, tq, tk]
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

/** The slice of a rank-4 tensor broadcastable to [B, Hq, Tq, Tk] that covers a tile: [G|1, rows|1, cols|1]. */
function sliceTile(x: tf.Tensor, plan: Plan, t: Tile): tf.Tensor {
  const [sB, sH, sQ, sK] = x.shape as [number, number, number, number];
  const G = plan.dims.group;
  const begin = [sB > 1 ? t.b : 0, sH > 1 ? t.kvh * G : 0, sQ > 1 ? t.q0 : 0, sK > 1 ? t.k0 : 0];
  const size = [1, sH > 1 ? G : 1, sQ > 1 ? t.rows : 1, sK > 1 ? t.cols : 1];
  return tf.reshape(tf.slice(x, begin, size), size.slice(1)); // [G|1, rows|1, cols|1]
}

/** The combined bool mask of a tile (user mask AND causal/window), or null when all may attend. */
function tileMask(plan: Plan, t: Tile, cover: 'all' | 'some'): tf.Tensor | null {
  let mask = plan.mask ? sliceTile(plan.mask, plan, t) : null; // [G|1, rows|1, cols|1]
  if (cover === 'some') {
    const q = tf.reshape(tf.range(t.q0 + plan.offset, t.q0 + plan.offset + t.rows, 1, 'int32'), [t.rows, 1]);
    const k = tf.reshape(tf.range(t.k0, t.k0 + t.cols, 1, 'int32'), [1, t.cols]);
    const rel = tf.sub(k, q); // [rows, cols]: key position relative to the aligned query
    let allowed: tf.Tensor | null = null;
    if (Number.isFinite(plan.right)) allowed = tf.lessEqual(rel, tf.scalar(plan.right, 'int32'));
    if (Number.isFinite(plan.left)) {
      const lo = tf.greaterEqual(rel, tf.scalar(-plan.left, 'int32'));
      allowed = allowed ? tf.logicalAnd(allowed, lo) : lo;
    }
    if (allowed) mask = mask ? tf.logicalAnd(mask, allowed) : allowed; // [G|1, rows, cols]
  }
  return mask;
}

/** Per-(batch, kv head) operands, sliced once: query tiles scaled, key tiles transposed. */
interface HeadOperands {
  /** Scaled query tiles [G*rows, Dk], one per query tile. */
  qs: tf.Tensor2D[];
  /** Key tiles transposed [Dk, cols], one per key tile. */
  kT: tf.Tensor2D[];
  /** Value tiles [cols, Dv]. */
  v: tf.Tensor2D[];
}

function splitRows(x: tf.Tensor, bh: number, plan: Plan, D: number, rowsOf: (i: number) => [number, number]) {
  const G = plan.dims.group;
  return Array.from({ length: plan.nQ }, (_, i) => {
    const [q0, rows] = rowsOf(i);
    return tf.reshape(tf.slice(x, [bh, 0, q0, 0], [1, G, rows, D]), [G * rows, D]) as tf.Tensor2D; // [G*rows, D]
  });
}

function splitKeys(x: tf.Tensor, bh: number, plan: Plan, D: number, transpose: boolean) {
  return Array.from({ length: plan.nK }, (_, j) => {
    const k0 = j * plan.tk;
    const cols = Math.min(plan.tk, plan.dims.Tk - k0);
    const tile = tf.reshape(tf.slice(x, [bh, k0, 0], [1, cols, D]), [cols, D]) as tf.Tensor2D; // [cols, D]
    return transpose ? tf.transpose(tile) : tile; // [D, cols] or [cols, D]
  });
}

function queryRows(plan: Plan) {
  return (i: number): [number, number] => [i * plan.tq, Math.min(plan.tq, plan.dims.Tq - i * plan.tq)];
}

/** The views every pass works on: query [B*Hkv, G, Tq, Dk], key and value [B*Hkv, Tk, D]. */
function views(plan: Plan, query: tf.Tensor, key: tf.Tensor, value: tf.Tensor) {
  const { B, Hkv, group: G, Tq, Tk, Dk, Dv } = plan.dims;
  return {
    q: tf.reshape(query, [B * Hkv, G, Tq, Dk]), // [B*Hkv, G, Tq, Dk]
    k: tf.reshape(key, [B * Hkv, Tk, Dk]), // [B*Hkv, Tk, Dk]
    v: tf.reshape(value, [B * Hkv, Tk, Dv]), // [B*Hkv, Tk, Dv]
  };
}

/**
 * Logits of one tile [G, rows, cols], bias added and masked entries filled with MASK_FILL
 * exactly as the reference does, plus the tile's float mask (1 = attend) or null.
 */
function tileLogits(plan: Plan, t: Tile, cover: 'all' | 'some', qs: tf.Tensor2D, kT: tf.Tensor2D, bias: tf.Tensor | null) {
  const G = plan.dims.group;
  let s: tf.Tensor = tf.reshape(tf.matMul(qs, kT), [G, t.rows, t.cols]); // [G, rows, cols]
  if (bias) s = tf.add(s, sliceTile(bias, plan, t));
  const mask = tileMask(plan, t, cover);
  if (mask) s = tf.where(mask, s, tf.scalar(MASK_FILL));
  return { s, maskF: mask ? tf.cast(mask, 'float32') : null };
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
 * Dropout multipliers of one tile [G, rows, cols]: 0 or 1/(1 - rate), from a stream seeded
 * per tile, so the backward pass regenerates exactly the forward's pattern.
 */
function tileDropout(plan: Plan, t: Tile): tf.Tensor | null {
  if (!plan.dropout) return null;
  const keep = 1 - plan.dropout.rate;
  const u = tf.randomUniform([plan.dims.group, t.rows, t.cols], 0, 1, 'float32', tileSeed(plan.dropout.seed, t));
  return tf.div(tf.floor(tf.add(u, keep)), keep); // [G, rows, cols]
}

/** Running state of one query tile: row max and normaliser [G, rows, 1], output [G*rows, Dv]. */
interface Running {
  m: tf.Tensor;
  l: tf.Tensor;
  acc: tf.Tensor;
}

function forwardStep(plan: Plan, t: Tile, cover: 'all' | 'some', ops: HeadOperands, bias: tf.Tensor | null, prev: Running | null): Running {
  const R = plan.dims.group * t.rows;
  const { s, maskF } = tileLogits(plan, t, cover, ops.qs[t.i]!, ops.kT[t.j]!, bias); // [G, rows, cols]
  const tileMax = tf.max(s, 2, true); // [G, rows, 1]
  const m = prev ? tf.maximum(prev.m, tileMax) : tileMax;
  let p = tf.exp(tf.sub(s, m)); // [G, rows, cols]
  const rowSum = tf.sum(p, 2, true); // [G, rows, 1]: masked entries count, as in the reference softmax
  if (maskF) p = tf.mul(p, maskF);
  const z = tileDropout(plan, t);
  if (z) p = tf.mul(p, z);
  const pv = tf.matMul(tf.reshape(p, [R, t.cols]) as tf.Tensor2D, ops.v[t.j]!); // [G*rows, Dv]
  if (!prev) return { m, l: rowSum, acc: pv };
  const alpha = tf.exp(tf.sub(prev.m, m)); // [G, rows, 1]
  return {
    m,
    l: tf.add(tf.mul(prev.l, alpha), rowSum),
    acc: tf.add(tf.mul(prev.acc, tf.reshape(alpha, [R, 1])), pv), // [G*rows, Dv]
  };
}

/** Output [B*Hkv, G, Tq, Dv] and row logsumexp [B*Hkv, G, Tq, 1]. */
function forward(plan: Plan, query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, bias: tf.Tensor | null) {
  const { B, Hkv, Hq, group: G, Tq, Dk, Dv } = plan.dims;
  const outs: tf.Tensor[] = [];
  const lses: tf.Tensor[] = [];
  const x = views(plan, query, key, value);
  for (let bh = 0; bh < B * Hkv; bh++) {
    const ops: HeadOperands = tf.tidy(() => ({
      qs: splitRows(x.q, bh, plan, Dk, queryRows(plan)).map((q) => tf.mul(q, plan.scale) as tf.Tensor2D),
      kT: splitKeys(x.k, bh, plan, Dk, true),
      v: splitKeys(x.v, bh, plan, Dv, false),
    }));
    const headOut: tf.Tensor[] = [];
    const headLse: tf.Tensor[] = [];
    for (let i = 0; i < plan.nQ; i++) {
      let state: Running | null = null;
      let rows = 0;
      for (let j = 0; j < plan.nK; j++) {
        const t = tileAt(plan, bh, i, j);
        rows = t.rows;
        const cover = coverage(plan, t);
        if (cover === 'none') continue;
        const prev: Running | null = state;
        state = tf.tidy(() => forwardStep(plan, t, cover, ops, bias, prev) as unknown as tf.TensorContainer) as unknown as Running;
        if (prev) tf.dispose([prev.m, prev.l, prev.acc]);
      }
      const done: Running | null = state;
      if (done) {
        // l >= 1: the row's largest entry contributes exp(0). Masked rows have acc = 0.
        headOut.push(tf.tidy(() => tf.div(tf.reshape(done.acc, [G, rows, Dv]), done.l))); // [G, rows, Dv]
        headLse.push(tf.tidy(() => tf.add(done.m, tf.log(done.l)))); // [G, rows, 1]
        tf.dispose([done.m, done.l, done.acc]);
      } else {
        // Every key tile was excluded: nothing may be attended, zero output (lse unused).
        headOut.push(tf.zeros([G, rows, Dv]));
        headLse.push(tf.zeros([G, rows, 1]));
      }
    }
    tf.dispose([...ops.qs, ...ops.kT, ...ops.v]);
    outs.push(concatOwned(headOut, 1)); // [G, Tq, Dv]
    lses.push(concatOwned(headLse, 1)); // [G, Tq, 1]
  }
  const output = tf.reshape(concatOwned(outs.map((o) => tf.expandDims(o, 0)), 0, outs), [B, Hq, Tq, Dv]); // [B, Hq, Tq, Dv]
  const lse = concatOwned(lses.map((o) => tf.expandDims(o, 0)), 0, lses); // [B*Hkv, G, Tq, 1]
  return { output: output as tf.Tensor4D, lse };
}

/** Concatenates and disposes the pieces (and `also`) at once, so they never outlive the result. */
function concatOwned(pieces: tf.Tensor[], axis: number, also: tf.Tensor[] = []): tf.Tensor {
  const out = pieces.length === 1 ? tf.clone(pieces[0]!) : tf.concat(pieces, axis);
  tf.dispose([...pieces, ...also]);
  return out;
}

/** Gradient accumulators of one key tile and of the query tiles. */
interface KeyGrads {
  dK: tf.Tensor | null;
  dV: tf.Tensor | null;
}

/**
 * Backward through one tile, recomputing its weights W = mask·exp(s - lse):
 * dV += Wdᵀ·dO, dS = W ⊙ (Z ⊙ dO·Vᵀ - D), dQ += dS·K, dK += dSᵀ·(scale·Q), dBias += dS,
 * where Z is the dropout multiplier (Wd = W ⊙ Z) and D = rowsum(dO ⊙ O).
 */
function backwardStep(
  plan: Plan,
  t: Tile,
  cover: 'all' | 'some',
  ops: BackOperands,
  bias: tf.Tensor | null,
  acc: KeyGrads & { dQ: tf.Tensor | null },
) {
  const R = plan.dims.group * t.rows;
  const { s, maskF } = tileLogits(plan, t, cover, ops.qs[t.i]!, ops.kT[t.j]!, bias); // [G, rows, cols]
  let w = tf.exp(tf.sub(s, ops.lse[t.i]!)); // [G, rows, cols]
  if (maskF) w = tf.mul(w, maskF);
  const z = tileDropout(plan, t);
  const wd = tf.reshape(z ? tf.mul(w, z) : w, [R, t.cols]); // [G*rows, cols]
  const dO = ops.dO[t.i]!;
  const dV = tf.matMul(tf.transpose(wd), dO); // [cols, Dv]
  let dP = tf.reshape(tf.matMul(dO, ops.vT[t.j]!), [plan.dims.group, t.rows, t.cols]); // [G, rows, cols]
  if (z) dP = tf.mul(dP, z);
  const dS = tf.mul(w, tf.sub(dP, ops.D[t.i]!)); // [G, rows, cols]
  const dS2 = tf.reshape(dS, [R, t.cols]) as tf.Tensor2D; // [G*rows, cols]
  const dQ = tf.matMul(dS2, ops.k[t.j]!); // [G*rows, Dk], scaled at the end
  const dK = tf.matMul(tf.transpose(dS2), ops.qs[t.i]!); // [cols, Dk]
  return {
    dQ: acc.dQ ? tf.add(acc.dQ, dQ) : dQ,
    dK: acc.dK ? tf.add(acc.dK, dK) : dK,
    dV: acc.dV ? tf.add(acc.dV, dV) : dV,
    dB: bias ? biasGrad(dS, bias) : null,
  };
}

/** dS [G, rows, cols] summed over the dimensions the bias broadcasts along. */
function biasGrad(dS: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const [, sH, sQ, sK] = bias.shape as [number, number, number, number];
  const axes = [sH > 1 ? -1 : 0, sQ > 1 ? -1 : 1, sK > 1 ? -1 : 2].filter((a) => a >= 0);
  return axes.length ? tf.sum(dS, axes, true) : dS; // [G|1, rows|1, cols|1]
}

/** Per-(batch, kv head) operands of the backward pass, sliced once per tile. */
interface BackOperands {
  /** Scaled query tiles [G*rows, Dk] and transposed key tiles [Dk, cols], as in the forward. */
  qs: tf.Tensor2D[];
  kT: tf.Tensor2D[];
  /** Key tiles [cols, Dk], transposed value tiles [Dv, cols], output gradient tiles [G*rows, Dv]. */
  k: tf.Tensor2D[];
  vT: tf.Tensor2D[];
  dO: tf.Tensor2D[];
  /** Row logsumexp and rowsum(dO ⊙ O), [G, rows, 1] per query tile. */
  lse: tf.Tensor[];
  D: tf.Tensor[];
}

/** Sums bias-gradient tiles that land on the same slice of a broadcast bias. */
class BiasGradTiles {
  private readonly tiles = new Map<string, tf.Tensor>();
  constructor(
    private readonly plan: Plan,
    private readonly bias: tf.Tensor,
  ) {}

  private keyOf(b: number, h: number, i: number, j: number) {
    const [sB, sH, sQ, sK] = this.bias.shape;
    return `${sB! > 1 ? b : 0}|${sH! > 1 ? h : 0}|${sQ! > 1 ? i : 0}|${sK! > 1 ? j : 0}`;
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
    const [sB, sH, sQ, sK] = this.bias.shape as [number, number, number, number];
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
    return tf.reshape(concatOwned(batches, 0), [sB, sH, sQ, sK]); // [sB, sH, sQ, sK]
  }
}

function backward(plan: Plan, dy: tf.Tensor, saved: tf.Tensor[], hasBias: boolean): tf.Tensor[] {
  const [query, key, value] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
  const biasIn = hasBias ? saved[3]! : null;
  const [output, lse] = saved.slice(hasBias ? 4 : 3) as [tf.Tensor, tf.Tensor];
  const { B, Hkv, Hq, group: G, Tq, Tk, Dk, Dv } = plan.dims;
  const bias = biasIn ? rank4(biasIn) : null;
  const x = views(plan, query, key, value);
  const o = tf.reshape(output, [B * Hkv, G, Tq, Dv]); // [B*Hkv, G, Tq, Dv]
  const dOut = tf.reshape(dy, [B * Hkv, G, Tq, Dv]); // [B*Hkv, G, Tq, Dv]
  const biasTiles = bias ? new BiasGradTiles(plan, bias) : null;
  const dQs: tf.Tensor[] = [];
  const dKs: tf.Tensor[] = [];
  const dVs: tf.Tensor[] = [];
  const rowsOf = queryRows(plan);
  for (let bh = 0; bh < B * Hkv; bh++) {
    const ops: BackOperands = tf.tidy(() => {
      const dO = splitRows(dOut, bh, plan, Dv, rowsOf);
      const out = splitRows(o, bh, plan, Dv, rowsOf);
      return {
        qs: splitRows(x.q, bh, plan, Dk, rowsOf).map((q) => tf.mul(q, plan.scale) as tf.Tensor2D),
        kT: splitKeys(x.k, bh, plan, Dk, true),
        k: splitKeys(x.k, bh, plan, Dk, false),
        vT: splitKeys(x.v, bh, plan, Dv, true),
        dO,
        D: dO.map((d, i) => tf.reshape(tf.sum(tf.mul(d, out[i]!), 1), [G, rowsOf(i)[1], 1])), // [G, rows, 1]
        lse: Array.from({ length: plan.nQ }, (_, i) => {
          const [q0, rows] = rowsOf(i);
          return tf.reshape(tf.slice(lse, [bh, 0, q0, 0], [1, G, rows, 1]), [G, rows, 1]); // [G, rows, 1]
        }),
      };
    }) as unknown as BackOperands;
    const dQ: (tf.Tensor | null)[] = new Array(plan.nQ).fill(null);
    const headDK: tf.Tensor[] = [];
    const headDV: tf.Tensor[] = [];
    for (let j = 0; j < plan.nK; j++) {
      let grads: KeyGrads = { dK: null, dV: null };
      let cols = 0;
      for (let i = 0; i < plan.nQ; i++) {
        const t = tileAt(plan, bh, i, j);
        cols = t.cols;
        const cover = coverage(plan, t);
        if (cover === 'none') continue;
        const prev = { ...grads, dQ: dQ[i]! };
        const next = tf.tidy(() => backwardStep(plan, t, cover, ops, bias, prev) as unknown as tf.TensorContainer) as unknown as {
          dQ: tf.Tensor;
          dK: tf.Tensor;
          dV: tf.Tensor;
          dB: tf.Tensor | null;
        };
        tf.dispose([prev.dQ, prev.dK, prev.dV].filter((g): g is tf.Tensor => g !== null));
        dQ[i] = next.dQ;
        grads = { dK: next.dK, dV: next.dV };
        if (next.dB) biasTiles!.add(t, next.dB);
      }
      headDK.push(grads.dK ?? tf.zeros([cols, Dk])); // [cols, Dk]
      headDV.push(grads.dV ?? tf.zeros([cols, Dv])); // [cols, Dv]
    }
    tf.dispose([...ops.qs, ...ops.kT, ...ops.k, ...ops.vT, ...ops.dO, ...ops.D, ...ops.lse]);
    const pieces = dQ.map((g, i) => {
      const rows = rowsOf(i)[1];
      const piece = g ? tf.tidy(() => tf.reshape(tf.mul(g, plan.scale), [G, rows, Dk])) : tf.zeros([G, rows, Dk]);
      if (g) g.dispose();
      return piece; // [G, rows, Dk]
    });
    dQs.push(tf.expandDims(concatOwned(pieces, 1), 0)); // [1, G, Tq, Dk]
    dKs.push(tf.expandDims(concatOwned(headDK, 0), 0)); // [1, Tk, Dk]
    dVs.push(tf.expandDims(concatOwned(headDV, 0), 0)); // [1, Tk, Dv]
  }
  const grads = [
    tf.reshape(concatOwned(dQs, 0), [B, Hq, Tq, Dk]), // [B, Hq, Tq, Dk]
    tf.reshape(concatOwned(dKs, 0), [B, Hkv, Tk, Dk]), // [B, Hkv, Tk, Dk]
    tf.reshape(concatOwned(dVs, 0), [B, Hkv, Tk, Dv]), // [B, Hkv, Tk, Dv]
  ];
  if (biasIn && biasTiles) grads.push(tf.reshape(biasTiles.assemble(), biasIn.shape)); // bias's own shape
  return grads;
}

/**
 * Chunked attention output [B, Hq, Tq, Dv]; inputs validated by the caller. Differentiable
 * with respect to query, key, value and bias through a tf.customGrad whose backward pass
 * recomputes each tile, so neither pass holds more than a tile of [Tq, Tk].
 */
export function chunkedAttention(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  options: ChunkedOptions,
  dims: AttentionDims,
): tf.Tensor4D {
  const plan = planOf(options, dims);
  const bias = options.bias ?? null;
  const attend = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [q, k, v, b] = args as tf.Tensor[];
    const { output, lse } = forward(plan, q!, k!, v!, b ? rank4(b) : null);
    save([q!, k!, v!, ...(b ? [b] : []), output, lse]);
    return {
      value: output,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => backward(plan, dy, saved, b !== undefined),
    };
  });
  return attend(...(bias ? [query, key, value, bias] : [query, key, value])) as tf.Tensor4D;
}

/**
 * The dropout multipliers chunked attention applies, assembled into one [B, Hq, Tq, Tk]
 * tensor (0 or 1/(1 - rate)). For tests only: it materialises exactly what chunked avoids.
 */
export function chunkedDropoutMultipliers(
  dims: AttentionDims,
  options: { dropout: number; seed: number; chunkSize?: ChunkSize },
): tf.Tensor4D {
  const plan = planOf({ ...options, training: true }, dims);
  const { B, Hkv, Hq, Tq, Tk } = dims;
  return tf.tidy(() => {
    const heads = Array.from({ length: B * Hkv }, (_, bh) => {
      const rows = Array.from({ length: plan.nQ }, (_, i) =>
        tf.concat(Array.from({ length: plan.nK }, (_, j) => tileDropout(plan, tileAt(plan, bh, i, j))!), 2),
      ); // [G, rows, Tk] each
      return tf.concat(rows, 1); // [G, Tq, Tk]
    });
    return tf.reshape(tf.stack(heads), [B, Hq, Tq, Tk]) as tf.Tensor4D; // [B, Hq, Tq, Tk]
  });
}
