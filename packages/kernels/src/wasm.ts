/**
 * The WebAssembly SIMD attention module (assembly/attention.ts, built by `pnpm build:wasm`
 * into dist/attention.wasm, and with relaxed SIMD into dist/attention-relaxed.wasm) and the
 * copying in and out of its own memory. Copies are O(T·d) per call, small beside the O(T²·d)
 * work of the kernel.
 */

import type { AttentionDims } from '@attnkit/core';
import * as S from './slots.js';

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

// Parameter block slots, from the one source the module is compiled with (src/slots.ts).
const SLOT = {
  B: S.P_B, Hq: S.P_HQ, Hkv: S.P_HKV, Tq: S.P_TQ, Tk: S.P_TK, Dk: S.P_DK, Dv: S.P_DV,
  scale: S.P_SCALE, left: S.P_LEFT, right: S.P_RIGHT, offset: S.P_OFFSET,
  q: S.P_Q, k: S.P_K, v: S.P_V, mask: S.P_MASK, bias: S.P_BIAS, out: S.P_OUT, lse: S.P_LSE, scratch: S.P_SCRATCH,
  dy: S.P_DY, o: S.P_O, dq: S.P_DQ, dk: S.P_DK_OUT, dv: S.P_DV_OUT, dbias: S.P_DBIAS, counter: S.P_COUNTER,
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

/** What a helper thread is given: the compiled module, the shared memory, and where its control words are. */
export interface HelperData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: number;
  index: number;
}

/**
 * Starts one helper thread on `data`: `ready` resolves once the thread has instantiated the
 * module and waits for calls, and rejects if it cannot start; `stop` ends the thread.
 */
export type StartHelper = (data: HelperData) => { ready: Promise<void>; stop(): void };

/**
 * The helper thread's loop, the same in Node and in a browser: `serve(data, ready)` instantiates
 * the module on the shared memory, calls `ready`, then runs calls on request forever.
 */
const HELPER_LOOP = `
function serve({ module, memory, control, index }, ready) {
  const instance = new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('abort'); } } });
  const ctl = new Int32Array(memory.buffer, control + index * ${CONTROL_WORDS * 4}, ${CONTROL_WORDS});
  ready();
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
}
`;

/** A Node worker_threads helper (eval'd source, data in workerData). */
const NODE_HELPER = `${HELPER_LOOP}
const { workerData, parentPort } = require('node:worker_threads');
serve(workerData, () => parentPort.postMessage('ready'));
`;

/** A browser Web Worker helper (a blob URL; data in its first message). */
const BROWSER_HELPER = `${HELPER_LOOP}
self.onmessage = (event) => serve(event.data, () => self.postMessage('ready'));
`;

/** Time a helper thread may take to start before the module runs without helpers. */
const HELPER_START_MS = 10_000;

/** Rejects after `ms` with `what` unless `promise` settles first. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not start within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Helper {
  control: Int32Array;
}

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

/** Node's worker_threads Worker, as far as it is used here. */
interface NodeWorker {
  once(event: 'message' | 'error', listener: (value: unknown) => void): void;
  unref(): void;
  terminate(): Promise<number>;
}
type NodeWorkerConstructor = new (source: string, options: { eval: true; workerData: unknown }) => NodeWorker;

/** Helper threads as Node worker_threads. */
function nodeHelpers(Worker: NodeWorkerConstructor): StartHelper {
  return (data) => {
    const worker = new Worker(NODE_HELPER, { eval: true, workerData: data });
    const ready = new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', () => {
        worker.unref();
        resolve();
      });
    });
    return { ready, stop: () => void worker.terminate() };
  };
}

/** Helper threads as Web Workers (from a blob URL), where this thread may create them. */
function browserHelpers(): StartHelper {
  return (data) => {
    const url = URL.createObjectURL(new Blob([BROWSER_HELPER], { type: 'text/javascript' }));
    const worker = new Worker(url);
    const ready = new Promise<void>((resolve, reject) => {
      worker.onerror = (event) => {
        event.preventDefault(); // handled here (the module runs without helpers): not the page's error
        reject(new Error(`@attnkit/kernels: a helper Web Worker failed: ${event.message}`));
      };
      worker.onmessage = () => resolve();
    }).finally(() => URL.revokeObjectURL(url));
    worker.postMessage(data);
    return { ready, stop: () => worker.terminate() };
  };
}

/** Whether this thread may block in Atomics.wait (Node's main thread and workers may; a browser's main thread may not). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Reads (Node: from disk; elsewhere: fetch) and compiles one build of the module. */
export async function compileWasmModule(build: WasmBuild): Promise<WebAssembly.Module> {
  const url = WASM_URLS[build];
  if (url.protocol !== 'file:') return WebAssembly.compile(await (await fetch(url)).arrayBuffer());
  // Computed specifiers keep bundlers for the browser from resolving Node built-ins.
  const fsModule = 'node:fs/promises';
  const { readFile } = (await import(/* @vite-ignore */ fsModule)) as { readFile(url: URL): Promise<Uint8Array> };
  return WebAssembly.compile((await readFile(url)) as BufferSource);
}

/**
 * Compiles the module, the relaxed-SIMD build where the engine supports it (see
 * {@link preferWasmBuild}), and starts `threads - 1` helper threads (default: logical cores, at
 * most 4) where this thread may block while they work: in Node (worker_threads), and in a
 * browser's Web Worker (helper Web Workers). A browser page's main thread may not block, so
 * there the module runs on it alone.
 */
export async function loadWasmAttention(requested?: number): Promise<WasmAttention> {
  const build: WasmBuild = preferredBuild === 'auto' ? (relaxedSimdSupported() ? 'relaxed' : 'simd') : preferredBuild;
  if (build === 'relaxed' && !relaxedSimdSupported()) {
    throw new Error('@attnkit/kernels: the relaxed-SIMD build was asked for, but this WebAssembly engine has no relaxed SIMD');
  }
  const module = await compileWasmModule(build);
  let cores: number;
  let startHelper: StartHelper | null = null;
  if (WASM_URLS[build].protocol === 'file:') {
    const osModule = 'node:os';
    cores = ((await import(/* @vite-ignore */ osModule)) as { availableParallelism(): number }).availableParallelism();
    if (canBlock()) {
      const threadsModule = 'node:worker_threads';
      startHelper = nodeHelpers(((await import(/* @vite-ignore */ threadsModule)) as { Worker: NodeWorkerConstructor }).Worker);
    }
  } else {
    cores = globalThis.navigator?.hardwareConcurrency ?? 1;
    if (canBlock() && typeof Worker === 'function') startHelper = browserHelpers();
  }
  const threads = Math.max(1, Math.floor(requested ?? Math.min(cores, 4)));
  return WasmAttention.start(module, build, threads, startHelper);
}
