/**
 * The WebAssembly SIMD attention module (assembly/attention.ts, built by `pnpm build:wasm`
 * into dist/attention.wasm, and with relaxed SIMD into dist/attention-relaxed.wasm) and the
 * copying in and out of its own memory. Copies are O(T·d) per call, small beside the O(T²·d)
 * work of the kernel.
 */

import type { AttentionDims } from '@attnkit/core';

/** Which build of the module runs: `simd` (WebAssembly SIMD) or `relaxed` (relaxed SIMD: fused multiply-adds). */
export type WasmBuild = 'simd' | 'relaxed';

/** Sizes and attrs of one call. */
export interface CallShape extends Omit<AttentionDims, 'group'> {
  scale: number;
  left: number;
  right: number;
  offset: number;
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
}

// Parameter block slots; must match assembly/attention.ts.
const SLOT = {
  B: 0, Hq: 1, Hkv: 2, Tq: 3, Tk: 4, Dk: 5, Dv: 6, scale: 7, left: 8, right: 9, offset: 10,
  q: 11, k: 12, v: 13, mask: 14, bias: 19, out: 24, lse: 25, scratch: 26, dy: 27, o: 28, dq: 29, dk: 30, dv: 31, dbias: 32,
  counter: 33,
} as const;
const PARAM_BYTES = 256;
/** Control words per helper thread: [generation, kind, params, done generation, failed]. */
const CONTROL_WORDS = 8;
const MAX_THREADS = 16;
const CONTROL_BYTES = MAX_THREADS * CONTROL_WORDS * 4;
const MAX_PAGES = 65536;

/** Lays out 16-byte aligned regions. */
class Layout {
  constructor(private end: number) {}
  take(bytes: number): number {
    const at = this.end;
    this.end += Math.ceil(bytes / 16) * 16;
    return at;
  }
  get top(): number {
    return this.end;
  }
}

/** Source of the helper thread: instantiates the module on the shared memory and runs calls on request. */
const HELPER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, control, index } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('abort'); } } });
const ctl = new Int32Array(memory.buffer, control + index * ${CONTROL_WORDS * 4}, ${CONTROL_WORDS});
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  seen = Atomics.load(ctl, 0);
  try {
    if (ctl[1] === 1) instance.exports.forward(ctl[2]);
    else instance.exports.backward(ctl[2]);
    ctl[4] = 0;
  } catch (e) {
    ctl[4] = 1;
  }
  Atomics.store(ctl, 3, seen);
  Atomics.notify(ctl, 3);
}
`;

interface Helper {
  control: Int32Array;
}

/**
 * A loaded attention module on one shared memory: the calling thread plus `threads - 1`
 * helper threads (Node worker_threads), each running the same module over its share of the
 * heads. Calls are synchronous: the caller blocks (Atomics.wait) until the helpers finish.
 */
export class WasmAttention {
  private readonly memory: WebAssembly.Memory;
  private readonly exports: Exports;
  private readonly control: number;
  private readonly base: number;
  private readonly helpers: Helper[] = [];

  constructor(
    module: WebAssembly.Module,
    workerCtor: WorkerConstructor | null,
    threads: number,
    /** The build `module` was compiled from. */
    readonly build: WasmBuild = 'simd',
  ) {
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_PAGES, shared: true });
    this.exports = new WebAssembly.Instance(module, { env: { memory: this.memory, abort: abortImport } }).exports as unknown as Exports;
    this.control = Math.ceil(this.exports.heapBase() / 16) * 16;
    this.base = this.control + CONTROL_BYTES;
    this.grow(this.base + MAX_THREADS * PARAM_BYTES);
    if (workerCtor) {
      for (let index = 0; index < Math.min(threads, MAX_THREADS) - 1; index++) {
        const worker = new workerCtor(HELPER_SOURCE, { eval: true, workerData: { module, memory: this.memory, control: this.control, index } });
        worker.unref();
        this.helpers.push({ control: new Int32Array(this.memory.buffer, this.control + index * CONTROL_WORDS * 4, CONTROL_WORDS) });
      }
    }
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
   * Runs `kind` (1 forward, 2 backward) on up to `threads` threads, each with its own copy of
   * the parameter block and its own scratch starting at `layout.top`; the threads take the
   * module's work items one at a time from a shared counter.
   */
  private run(kind: 1 | 2, layout: Layout, threads: number) {
    const p = this.params();
    const scratch = kind === 1 ? this.exports.forwardScratch(this.base) : this.exports.backwardScratch(this.base);
    const items = kind === 1 ? this.exports.forwardItems(this.base) : this.exports.backwardItems(this.base);
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
      else this.exports.backward(blocks[0]!);
    } catch (e) {
      failure = e;
    }
    for (const { c, generation } of started) {
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
    this.run(1, layout, this.threads);
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
    this.run(2, layout, x.bias ? 1 : this.threads);
    const after = this.memory.buffer;
    const view = (ptr: number, n: number) => new Float32Array(after, ptr, n);
    return take({
      dQuery: view(dq, x.query.length),
      dKey: view(dk, x.key.length),
      dValue: view(dv, x.value.length),
      dBias: x.bias ? view(dbias, x.biasSize) : null,
    });
  }
}

function abortImport(): never {
  throw new Error('@attnkit/kernels: the wasm attention module aborted');
}

/** Where the build puts the modules: the same URLs from src/ (tests) and from dist/. */
const WASM_URLS: Record<WasmBuild, URL> = {
  simd: new URL('../dist/attention.wasm', import.meta.url),
  relaxed: new URL('../dist/attention-relaxed.wasm', import.meta.url),
};

/** A module of one function using f32x4.relaxed_madd: it validates where the engine has relaxed SIMD. */
const RELAXED_PROBE = (() => {
  const zeros = (): number[] => [0xfd, 12, ...new Array<number>(16).fill(0)]; // v128.const 0
  const body = [0, ...zeros(), ...zeros(), ...zeros(), 0xfd, 0x85, 0x02, 0x0b]; // no locals; relaxed_madd; end
  const code = [1, body.length, ...body];
  // magic, version; type section: () -> v128; function section; code section
  return new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, code.length, ...code]);
})();

/** Whether this engine runs relaxed SIMD (Chromium; Node 20 only with --experimental-wasm-relaxed-simd; Node >= 22). */
export function relaxedSimdSupported(): boolean {
  return WebAssembly.validate(RELAXED_PROBE);
}

let preferredBuild: WasmBuild | 'auto' = 'auto';

/**
 * The build later {@link loadWasmAttention} calls load: `'auto'` (the default) picks
 * `relaxed` where {@link relaxedSimdSupported}, else `simd`. Internal (tests run both builds).
 */
export function preferWasmBuild(build: WasmBuild | 'auto'): void {
  preferredBuild = build;
}

/** The Worker constructor of Node's worker_threads, as far as it is used here. */
type WorkerConstructor = new (source: string, options: { eval: true; workerData: unknown }) => { unref(): void };

/** Whether this thread may block in Atomics.wait (Node's main thread may; a browser's main thread may not). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads and compiles the module (Node: from disk; elsewhere: fetch), the relaxed-SIMD build
 * where the engine supports it (see {@link preferWasmBuild}), and starts `threads - 1` helper
 * threads (default: logical cores, at most 4) where the platform allows (Node worker_threads,
 * and a calling thread that may block); elsewhere the module runs on the calling thread alone.
 */
export async function loadWasmAttention(requested?: number): Promise<WasmAttention> {
  const build: WasmBuild = preferredBuild === 'auto' ? (relaxedSimdSupported() ? 'relaxed' : 'simd') : preferredBuild;
  if (build === 'relaxed' && !relaxedSimdSupported()) {
    throw new Error('@attnkit/kernels: the relaxed-SIMD build was asked for, but this WebAssembly engine has no relaxed SIMD');
  }
  const url = WASM_URLS[build];
  let bytes: ArrayBuffer | Uint8Array;
  let workerCtor: WorkerConstructor | null = null;
  let threads = 1;
  if (url.protocol === 'file:') {
    const osModule = 'node:os';
    const cores = ((await import(/* @vite-ignore */ osModule)) as { availableParallelism(): number }).availableParallelism();
    threads = Math.max(1, Math.floor(requested ?? Math.min(cores, 4)));
    // Computed specifiers keep bundlers for the browser from resolving Node built-ins.
    const fsModule = 'node:fs/promises';
    const { readFile } = (await import(/* @vite-ignore */ fsModule)) as { readFile(url: URL): Promise<Uint8Array> };
    bytes = await readFile(url);
    if (threads > 1 && canBlock()) {
      const threadsModule = 'node:worker_threads';
      workerCtor = ((await import(/* @vite-ignore */ threadsModule)) as { Worker: WorkerConstructor }).Worker;
    }
  } else {
    bytes = await (await fetch(url)).arrayBuffer();
  }
  return new WasmAttention(await WebAssembly.compile(bytes as BufferSource), workerCtor, threads, build);
}
