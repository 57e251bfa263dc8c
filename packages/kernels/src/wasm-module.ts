/**
 * The WebAssembly SIMD attention module (assembly/attention.ts, built by `pnpm build:wasm`
 * into dist/attention.wasm, and with relaxed SIMD into dist/attention-relaxed.wasm) and the
 * copying in and out of its own memory. Copies are O(T·d) per call, small beside the O(T²·d)
 * work of the kernel.
 */

import type { AttentionDims } from '@attnkit/core';
import { CONTROL_BYTES, CONTROL_WORDS, EXP_TABLE_BYTES, Layout, MAX_PAGES, MAX_THREADS, PARAM_BYTES, SLOT } from './wasm-layout.js';
import { type Helper, HELPER_START_MS, SPIN_LOADS, type StartHelper, within } from './wasm-threads.js';

/** Multiply-adds a call needs per thread before it takes a helper thread (threadsFor). */
let minMacsPerThread = 2 ** 19;

/** Sets the work per thread below which calls take no helper thread (default 2^19 multiply-adds). Internal: tests set 0 to run every call on every thread. */
export function setMinMacsPerThread(macs: number): void {
  minMacsPerThread = macs;
}

/** Which build of the module runs: `simd` (WebAssembly SIMD) or `relaxed` (relaxed SIMD: fused multiply-adds). */
export type WasmBuild = 'simd' | 'relaxed';

/** Sizes and attrs of one call. */
export interface CallShape extends Omit<AttentionDims, 'group'> {
  scale: number;
  left: number;
  right: number;
  offset: number;
  /** Dropout rate on the weights (0 = none) and the seed of its pattern (src/dropout.ts). */
  dropout?: number;
  seed?: number;
}

/** A mask (bytes, 1 = attend) or bias (float32) with its element strides over [B, Hq, Tq, Tk] (0 = broadcast). */
export interface Broadcast<T> {
  values: T;
  strides: [number, number, number, number];
}

export interface ForwardInputs {
  query: Float32Array;
  key: Float32Array;
  value: Float32Array;
  mask: Broadcast<Uint8Array> | null;
  bias: Broadcast<Float32Array> | null;
}

export interface BackwardInputs extends ForwardInputs {
  output: Float32Array;
  lse: Float32Array;
  dy: Float32Array;
  /** Element count of the bias (its gradient has the bias's shape). */
  biasSize: number;
}

export interface Gradients {
  dQuery: Float32Array;
  dKey: Float32Array;
  dValue: Float32Array;
  dBias: Float32Array | null;
}

interface Exports {
  heapBase(): number;
  forward(params: number): void;
  backward(params: number): void;
  forwardScratch(params: number): number;
  backwardScratch(params: number): number;
  forwardItems(params: number): number;
  backwardItems(params: number): number;
  matmul(params: number): void;
  matmulScratch(params: number): number;
  matmulItems(params: number): number;
  layerNormForward(x: number, gamma: number, beta: number, y: number, mean: number, rstd: number, n: number, d: number, epsilon: number): void;
  layerNormBackward(
    x: number,
    gamma: number,
    mean: number,
    rstd: number,
    dy: number,
    dx: number,
    dgamma: number,
    dbeta: number,
    acc: number,
    n: number,
    d: number,
  ): void;
  biasActivationBackward(y: number, dy: number, dz: number, dbias: number, acc: number, n: number, u: number, relu: number): void;
  crossEntropyForward(x: number, labels: number, loss: number, p: number, table: number, n: number, v: number, epsilon: number): void;
  logSumExp(x: number, out: number, table: number, n: number, v: number): void;
  crossEntropyBackward(p: number, labels: number, dy: number, dx: number, n: number, v: number, epsilon: number): void;
  adamUpdate(value: number, m: number, v: number, g: number, n: number, ...scalars: number[]): void;
  dropout(x: number, y: number, n: number, threshold: number, scale: number, seed: number): void;
}

/** Adam's scalars for {@link WasmAttention.adam}: float32 values, the bias corrections c1 = 1 - β1^t and c2 = 1 - β2^t. */
export interface AdamScalars {
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  correction1: number;
  correction2: number;
}

/** A row-wise op of assembly/rows.ts: its export, and the inputs, outputs (float32 lengths) and float64 scratch it takes. */
export type RowOp =
  | 'layerNormForward'
  | 'layerNormBackward'
  | 'biasActivationBackward'
  | 'crossEntropyForward'
  | 'crossEntropyBackward'
  | 'logSumExp'
  | 'dropout';

/**
 * A loaded attention module on one shared memory: the calling thread plus helper threads (Node
 * worker_threads, or Web Workers in a browser), each running the same module and taking work
 * items of a call. Calls are synchronous: the caller blocks (Atomics.wait) until the helpers
 * finish. Made by {@link WasmAttention.start}.
 */
export class WasmAttention {
  private readonly memory: WebAssembly.Memory;
  private readonly exports: Exports;
  private readonly control: number;
  private readonly base: number;
  private readonly helpers: Helper[] = [];

  private constructor(
    module: WebAssembly.Module,
    /** The build `module` was compiled from. */
    readonly build: WasmBuild,
  ) {
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    this.exports = new WebAssembly.Instance(module, { env: { memory: this.memory, abort: abortImport } }).exports as unknown as Exports;
    this.control = Math.ceil(this.exports.heapBase() / 16) * 16;
    this.base = this.control + CONTROL_BYTES;
    this.grow(this.base + MAX_THREADS * PARAM_BYTES);
  }

  /**
   * Instantiates `module` on a new shared memory and starts `threads - 1` helper threads with
   * `startHelper` (none without it). If any helper fails to start, those that did are stopped
   * and calls run on the calling thread alone.
   */
  static async start(module: WebAssembly.Module, build: WasmBuild, threads: number, startHelper: StartHelper | null): Promise<WasmAttention> {
    const attention = new WasmAttention(module, build);
    const count = startHelper ? Math.min(threads, MAX_THREADS) - 1 : 0;
    const indices = Array.from({ length: Math.max(0, count) }, (_, index) => index);
    const started: ReturnType<StartHelper>[] = [];
    try {
      for (const index of indices) {
        const helper = startHelper!({ module, memory: attention.memory, control: attention.control, index });
        helper.ready.catch(() => {}); // observed below; this keeps a failure before then from going unhandled
        started.push(helper);
      }
      await within(Promise.all(started.map((helper) => helper.ready)), HELPER_START_MS, 'helper threads');
    } catch {
      for (const helper of started) helper.stop();
      return attention;
    }
    for (const index of indices) {
      attention.helpers.push({ control: new Int32Array(attention.memory.buffer, attention.control + index * CONTROL_WORDS * 4, CONTROL_WORDS) });
    }
    return attention;
  }

  /** Threads that share a call: this one and the helpers. */
  get threads(): number {
    return this.helpers.length + 1;
  }

  private grow(top: number) {
    const missing = top - this.memory.buffer.byteLength;
    if (missing > 0) this.memory.grow(Math.ceil(missing / 65536));
  }

  private regions(layout: Layout, x: ForwardInputs) {
    const q = layout.take(x.query.byteLength);
    const k = layout.take(x.key.byteLength);
    const v = layout.take(x.value.byteLength);
    const mask = x.mask ? layout.take(x.mask.values.byteLength) : 0;
    const bias = x.bias ? layout.take(x.bias.values.byteLength) : 0;
    return { q, k, v, mask, bias };
  }

  private params(): Int32Array {
    return new Int32Array(this.memory.buffer, this.base, PARAM_BYTES / 4);
  }

  private writeCommon(s: CallShape, at: ReturnType<WasmAttention['regions']>, x: ForwardInputs): Int32Array {
    const buffer = this.memory.buffer;
    const p = this.params();
    p.fill(0);
    const pf = new Float32Array(buffer, this.base, PARAM_BYTES / 4);
    p[SLOT.B] = s.B;
    p[SLOT.Hq] = s.Hq;
    p[SLOT.Hkv] = s.Hkv;
    p[SLOT.Tq] = s.Tq;
    p[SLOT.Tk] = s.Tk;
    p[SLOT.Dk] = s.Dk;
    p[SLOT.Dv] = s.Dv;
    pf[SLOT.scale] = s.scale;
    p[SLOT.left] = s.left;
    p[SLOT.right] = s.right;
    p[SLOT.offset] = s.offset;
    pf[SLOT.dropRate] = s.dropout ?? 0;
    p[SLOT.dropSeed] = s.seed ?? 0;
    p[SLOT.q] = at.q;
    p[SLOT.k] = at.k;
    p[SLOT.v] = at.v;
    new Float32Array(buffer, at.q, x.query.length).set(x.query);
    new Float32Array(buffer, at.k, x.key.length).set(x.key);
    new Float32Array(buffer, at.v, x.value.length).set(x.value);
    if (x.mask) {
      p[SLOT.mask] = at.mask;
      p.set(x.mask.strides, SLOT.mask + 1);
      new Uint8Array(buffer, at.mask, x.mask.values.length).set(x.mask.values);
    }
    if (x.bias) {
      p[SLOT.bias] = at.bias;
      p.set(x.bias.strides, SLOT.bias + 1);
      new Float32Array(buffer, at.bias, x.bias.values.length).set(x.bias.values);
    }
    return p;
  }

  /**
   * Threads for a call of `macs` multiply-adds: one per `minMacsPerThread` at most. Waking a
   * helper costs tens of microseconds, and far more when the cores are busy with other
   * processes, so a small call (a decoding step) runs on the calling thread alone.
   */
  private threadsFor(macs: number): number {
    return Math.max(1, Math.min(this.threads, Math.floor(macs / Math.max(minMacsPerThread, 1))));
  }

  /**
   * Runs `kind` (1 forward, 2 backward) on up to `threads` threads, each with its own copy of
   * the parameter block and its own scratch starting at `layout.top`; the threads take the
   * module's work items one at a time from a shared counter.
   */
  private run(kind: 1 | 2 | 3, layout: Layout, threads: number) {
    const p = this.params();
    const x = this.exports;
    const scratch = kind === 1 ? x.forwardScratch(this.base) : kind === 2 ? x.backwardScratch(this.base) : x.matmulScratch(this.base);
    const items = kind === 1 ? x.forwardItems(this.base) : kind === 2 ? x.backwardItems(this.base) : x.matmulItems(this.base);
    const n = Math.min(threads, items);
    const counter = layout.take(4);
    const scratchAt = Array.from({ length: n }, () => layout.take(scratch));
    this.grow(layout.top);
    new Int32Array(this.memory.buffer, counter, 1)[0] = 0;
    p[SLOT.counter] = counter;
    const blocks = Array.from({ length: n }, (_, t) => {
      const at = this.base + t * PARAM_BYTES;
      const block = new Int32Array(this.memory.buffer, at, PARAM_BYTES / 4);
      if (t > 0) block.set(p);
      block[SLOT.scratch] = scratchAt[t]!;
      return at;
    });
    const started = this.helpers.slice(0, n - 1).map((helper, i) => {
      const c = helper.control;
      c[1] = kind;
      c[2] = blocks[i + 1]!;
      const generation = Atomics.add(c, 0, 1) + 1;
      Atomics.notify(c, 0);
      return { c, generation };
    });
    let failure: unknown = null;
    try {
      if (kind === 1) this.exports.forward(blocks[0]!);
      else if (kind === 3) this.exports.matmul(blocks[0]!);
      else this.exports.backward(blocks[0]!);
    } catch (e) {
      failure = e;
    }
    for (const { c, generation } of started) {
      for (let i = 0; i < SPIN_LOADS && Atomics.load(c, 3) !== generation; i++);
      for (let done = Atomics.load(c, 3); done !== generation; done = Atomics.load(c, 3)) Atomics.wait(c, 3, done);
      if (c[4] !== 0) failure ??= new Error('@attnkit/kernels: a helper thread of the wasm attention module failed');
    }
    if (failure) throw failure;
  }

  /**
   * Runs the forward and hands `take` the output [B, Hq, Tq, Dv] and row logsumexp [B, Hq, Tq]
   * as views of this module's memory, valid only until `take` returns: it copies them where
   * they go (one copy, not two).
   */
  forward<T>(s: CallShape, x: ForwardInputs, take: (output: Float32Array, lse: Float32Array) => T): T {
    const layout = new Layout(this.base + MAX_THREADS * PARAM_BYTES);
    const at = this.regions(layout, x);
    const outLength = s.B * s.Hq * s.Tq * s.Dv;
    const lseLength = s.B * s.Hq * s.Tq;
    const out = layout.take(outLength * 4);
    const lse = layout.take(lseLength * 4);
    this.grow(layout.top);
    const p = this.writeCommon(s, at, x);
    p[SLOT.out] = out;
    p[SLOT.lse] = lse;
    this.run(1, layout, this.threadsFor(s.B * s.Hq * s.Tq * s.Tk * (s.Dk + s.Dv)));
    const buffer = this.memory.buffer;
    return take(new Float32Array(buffer, out, outLength), new Float32Array(buffer, lse, lseLength));
  }

  /**
   * Runs the backward and hands `take` the gradients of query, key, value and (when a bias is
   * given) the bias as views of this module's memory, valid only until `take` returns.
   */
  backward<T>(s: CallShape, x: BackwardInputs, take: (grads: Gradients) => T): T {
    const layout = new Layout(this.base + MAX_THREADS * PARAM_BYTES);
    const at = this.regions(layout, x);
    const dy = layout.take(x.dy.byteLength);
    const o = layout.take(x.output.byteLength);
    const lse = layout.take(x.lse.byteLength);
    const dq = layout.take(x.query.byteLength);
    const dk = layout.take(x.key.byteLength);
    const dv = layout.take(x.value.byteLength);
    const dbias = x.bias ? layout.take(x.biasSize * 4) : 0;
    this.grow(layout.top);
    const p = this.writeCommon(s, at, x);
    const buffer = this.memory.buffer;
    new Float32Array(buffer, dy, x.dy.length).set(x.dy);
    new Float32Array(buffer, o, x.output.length).set(x.output);
    new Float32Array(buffer, lse, x.lse.length).set(x.lse);
    if (x.bias) new Float32Array(buffer, dbias, x.biasSize).fill(0);
    Object.assign(p, { [SLOT.dy]: dy, [SLOT.o]: o, [SLOT.lse]: lse, [SLOT.dq]: dq, [SLOT.dk]: dk, [SLOT.dv]: dv, [SLOT.dbias]: dbias });
    // dBias may be broadcast over batch and heads, where threads would add into the same
    // entries: with a bias the backward runs on one thread.
    this.run(2, layout, x.bias ? 1 : this.threadsFor(2 * s.B * s.Hq * s.Tq * s.Tk * (s.Dk + s.Dv)));
    const after = this.memory.buffer;
    const view = (ptr: number, n: number) => new Float32Array(after, ptr, n);
    return take({
      dQuery: view(dq, x.query.length),
      dKey: view(dk, x.key.length),
      dValue: view(dv, x.value.length),
      dBias: x.bias ? view(dbias, x.biasSize) : null,
    });
  }

  /**
   * C [M, N] = op(A)·op(B), op a transpose where asked: A is [M, K] (or [K, M] with
   * `transposeA`), B [K, N] (or [N, K] with `transposeB`), then act(C + bias) where `epilogue`
   * asks. Hands `take` C as a view of this module's memory, valid only until `take` returns.
   */
  matmul<T>(m: MatMulShape, a: Float32Array, b: Float32Array, take: (c: Float32Array) => T, epilogue: MatMulEpilogue = {}): T {
    const layout = new Layout(this.base + MAX_THREADS * PARAM_BYTES);
    const at = { a: layout.take(a.byteLength), b: layout.take(b.byteLength), c: layout.take(m.M * m.N * 4), bias: epilogue.bias ? layout.take(m.N * 4) : 0 };
    this.grow(layout.top);
    const buffer = this.memory.buffer;
    new Float32Array(buffer, at.a, a.length).set(a);
    new Float32Array(buffer, at.b, b.length).set(b);
    if (epilogue.bias) new Float32Array(buffer, at.bias, m.N).set(epilogue.bias);
    this.product(m, at, epilogue.relu === true, layout);
    return take(new Float32Array(this.memory.buffer, at.c, m.M * m.N));
  }

  /** C = op(A)·op(B) (then act(C + bias) where `at.bias` is set) on operands already in this module's memory. */
  private product(m: MatMulShape, at: { a: number; b: number; c: number; bias: number }, relu: boolean, layout: Layout): void {
    const p = this.params();
    p.fill(0);
    p.set([m.M, m.K, m.N, m.transposeA ? 1 : 0, m.transposeB ? 1 : 0, relu ? 1 : 0]);
    p[SLOT.q] = at.a;
    p[SLOT.k] = at.b;
    p[SLOT.out] = at.c;
    p[SLOT.bias] = at.bias;
    this.run(3, layout, this.threadsFor(m.M * m.N * m.K));
  }

  /**
   * The backward of a dense layer y = act(x·w + b), x [N, K], w [K, U], act relu or linear:
   * dz = act'(y)·dy (in place on dy's copy), then dx = dz·wᵀ [N, K], dw = xᵀ·dz [K, U] and
   * db = Σ rows dz [U], with x, w and dy (and y for relu) copied in once, where the bias +
   * activation kernel and two products would copy dy in, dz out and dz back in twice. Hands
   * `take` dx, dw and db as views of this module's memory, valid only until `take` returns.
   */
  denseBackward<T>(
    s: { N: number; K: number; U: number; relu: boolean },
    x: Float32Array,
    w: Float32Array,
    y: Float32Array,
    dy: Float32Array,
    take: (dx: Float32Array, dw: Float32Array, db: Float32Array) => T,
  ): T {
    const { N, K, U, relu } = s;
    const layout = new Layout(this.base + MAX_THREADS * PARAM_BYTES);
    const at = {
      x: layout.take(x.byteLength),
      w: layout.take(w.byteLength),
      dy: layout.take(dy.byteLength),
      y: relu ? layout.take(y.byteLength) : 0,
      dx: layout.take(N * K * 4),
      dw: layout.take(K * U * 4),
      db: layout.take(U * 4),
      acc: layout.take(U * 8),
    };
    this.grow(layout.top);
    const buffer = this.memory.buffer;
    new Float32Array(buffer, at.x, x.length).set(x);
    new Float32Array(buffer, at.w, w.length).set(w);
    new Float32Array(buffer, at.dy, dy.length).set(dy);
    if (relu) new Float32Array(buffer, at.y, y.length).set(y);
    this.exports.biasActivationBackward(relu ? at.y : at.dy, at.dy, at.dy, at.db, at.acc, N, U, relu ? 1 : 0);
    this.product({ M: N, K: U, N: K, transposeA: false, transposeB: true }, { a: at.dy, b: at.w, c: at.dx, bias: 0 }, false, layout);
    this.product({ M: K, K: N, N: U, transposeA: true, transposeB: false }, { a: at.x, b: at.dy, c: at.dw, bias: 0 }, false, layout);
    const after = this.memory.buffer;
    return take(new Float32Array(after, at.dx, N * K), new Float32Array(after, at.dw, K * U), new Float32Array(after, at.db, U));
  }

  /**
   * Softmax cross-entropy with label smoothing ε of the logits h·tableᵀ, h [N, d], table [V, d]:
   * the product and assembly/rows.ts crossEntropyForward on it, in this module's memory, so
   * the [N, V] logits are never copied out and back in. Hands `take` the loss [N] and the
   * probabilities [N, V] as views of this module's memory, valid only until `take` returns.
   */
  projectedCrossEntropy<T>(
    s: { N: number; d: number; V: number; epsilon: number },
    h: Float32Array,
    table: Float32Array,
    labels: Int32Array,
    take: (loss: Float32Array, probs: Float32Array) => T,
  ): T {
    const { N, d, V, epsilon } = s;
    const layout = new Layout(this.base + MAX_THREADS * PARAM_BYTES);
    const at = {
      h: layout.take(h.byteLength),
      table: layout.take(table.byteLength),
      labels: layout.take(labels.byteLength),
      logits: layout.take(N * V * 4),
      loss: layout.take(N * 4),
      probs: layout.take(N * V * 4),
      exp: layout.take(EXP_TABLE_BYTES),
    };
    this.grow(layout.top);
    const buffer = this.memory.buffer;
    new Float32Array(buffer, at.h, h.length).set(h);
    new Float32Array(buffer, at.table, table.length).set(table);
    new Int32Array(buffer, at.labels, labels.length).set(labels);
    this.product({ M: N, K: d, N: V, transposeA: false, transposeB: true }, { a: at.h, b: at.table, c: at.logits, bias: 0 }, false, layout);
    this.exports.crossEntropyForward(at.logits, at.labels, at.loss, at.probs, at.exp, N, V, epsilon);
    const after = this.memory.buffer;
    return take(new Float32Array(after, at.loss, N), new Float32Array(after, at.probs, N * V));
  }

  /**
   * The backward of {@link projectedCrossEntropy}: dlogits from the probabilities, labels and
   * dy [N] (assembly/rows.ts crossEntropyBackward, in place on the probabilities' copy), then
   * dh = dlogits·table [N, d] and dtable = dlogitsᵀ·h [V, d]. Hands `take` dh and dtable as
   * views of this module's memory, valid only until `take` returns.
   */
  projectedCrossEntropyBackward<T>(
    s: { N: number; d: number; V: number; epsilon: number },
    x: { h: Float32Array; table: Float32Array; probs: Float32Array; labels: Int32Array; dy: Float32Array },
    take: (dh: Float32Array, dtable: Float32Array) => T,
  ): T {
    const { N, d, V, epsilon } = s;
    const layout = new Layout(this.base + MAX_THREADS * PARAM_BYTES);
    const at = {
      h: layout.take(x.h.byteLength),
      table: layout.take(x.table.byteLength),
      probs: layout.take(x.probs.byteLength),
      labels: layout.take(x.labels.byteLength),
      dy: layout.take(x.dy.byteLength),
      dh: layout.take(N * d * 4),
      dtable: layout.take(V * d * 4),
    };
    this.grow(layout.top);
    const buffer = this.memory.buffer;
    new Float32Array(buffer, at.h, x.h.length).set(x.h);
    new Float32Array(buffer, at.table, x.table.length).set(x.table);
    new Float32Array(buffer, at.probs, x.probs.length).set(x.probs);
    new Int32Array(buffer, at.labels, x.labels.length).set(x.labels);
    new Float32Array(buffer, at.dy, x.dy.length).set(x.dy);
    // dlogits over the probabilities (each entry read, then written)
    this.exports.crossEntropyBackward(at.probs, at.labels, at.dy, at.probs, N, V, epsilon);
    this.product({ M: N, K: V, N: d, transposeA: false, transposeB: false }, { a: at.probs, b: at.table, c: at.dh, bias: 0 }, false, layout);
    this.product({ M: V, K: N, N: d, transposeA: true, transposeB: false }, { a: at.probs, b: at.h, c: at.dtable, bias: 0 }, false, layout);
    const after = this.memory.buffer;
    return take(new Float32Array(after, at.dh, N * d), new Float32Array(after, at.dtable, V * d));
  }

  /**
   * Runs a row-wise op of assembly/rows.ts on the calling thread (memory-bound: helpers would
   * cost more than they save): copies `inputs` into this module's memory, lays out outputs of
   * the given float32 lengths and `scratch` float64 values, calls `op(...pointers, ...scalars)`
   * with pointers in the order inputs, outputs, scratch, and hands `take` the outputs as views
   * of this module's memory, valid only until `take` returns.
   */
  rows<T>(op: RowOp, inputs: (Float32Array | Int32Array)[], outputs: number[], scratch: number, scalars: number[], take: (outs: Float32Array[]) => T): T {
    const layout = new Layout(this.base + MAX_THREADS * PARAM_BYTES);
    const ins = inputs.map((a) => layout.take(a.byteLength));
    const outs = outputs.map((n) => layout.take(n * 4));
    const acc = layout.take(scratch * 8);
    this.grow(layout.top);
    const buffer = this.memory.buffer;
    for (const [i, a] of inputs.entries()) {
      if (a instanceof Int32Array) new Int32Array(buffer, ins[i]!, a.length).set(a);
      else new Float32Array(buffer, ins[i]!, a.length).set(a);
    }
    const call = this.exports[op] as (...args: number[]) => void;
    call(...ins, ...outs, ...(scratch > 0 ? [acc] : []), ...scalars);
    const after = this.memory.buffer;
    return take(outs.map((at, i) => new Float32Array(after, at, outputs[i]!)));
  }

  /**
   * One Adam step (assembly/rows.ts adamUpdate) over every variable at once: copies each
   * variable's value, m, v and gradient into one run of this module's memory, updates it in one
   * SIMD pass, and hands `take` the new value, m and v of variable i as views of this module's
   * memory, valid only until `take` returns.
   */
  adam(
    variables: Array<{ value: Float32Array; m: Float32Array; v: Float32Array; grad: Float32Array }>,
    s: AdamScalars,
    take: (i: number, value: Float32Array, m: Float32Array, v: Float32Array) => void,
  ): void {
    const n = variables.reduce((total, x) => total + x.value.length, 0);
    const layout = new Layout(this.base + MAX_THREADS * PARAM_BYTES);
    const at = [layout.take(n * 4), layout.take(n * 4), layout.take(n * 4), layout.take(n * 4)] as const;
    this.grow(layout.top);
    const region = at.map((p) => new Float32Array(this.memory.buffer, p, n));
    let offset = 0;
    for (const x of variables) {
      for (const [r, values] of [x.value, x.m, x.v, x.grad].entries()) region[r]!.set(values, offset);
      offset += x.value.length;
    }
    const f = Math.fround;
    this.exports.adamUpdate(...at, n, f(s.lr), f(s.beta1), f(s.beta2), f(1 - s.beta1), f(1 - s.beta2), f(s.epsilon), f(s.correction1), f(s.correction2));
    offset = 0;
    for (const [i, x] of variables.entries()) {
      const size = x.value.length;
      take(i, region[0]!.subarray(offset, offset + size), region[1]!.subarray(offset, offset + size), region[2]!.subarray(offset, offset + size));
      offset += size;
    }
  }
}

/** What a matrix product does to its output as it stores it: act(C + bias), bias [N]. */
export interface MatMulEpilogue {
  bias?: Float32Array;
  relu?: boolean;
}

/** Sizes of a matrix product: op(A) [M, K] · op(B) [K, N]. */
export interface MatMulShape {
  M: number;
  K: number;
  N: number;
  transposeA: boolean;
  transposeB: boolean;
}

function abortImport(): never {
  throw new Error('@attnkit/kernels: the wasm attention module aborted');
}
