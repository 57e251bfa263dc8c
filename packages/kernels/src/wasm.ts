/**
 * The WebAssembly SIMD attention module (assembly/attention.ts, built by `pnpm build:wasm`
 * into dist/attention.wasm) and the copying in and out of its own memory. Copies are O(T·d)
 * per call, small beside the O(T²·d) work of the kernel.
 */

/** Sizes and attrs of one call. */
export interface CallShape {
  B: number;
  Hq: number;
  Hkv: number;
  Tq: number;
  Tk: number;
  Dk: number;
  Dv: number;
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

interface Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  forward(params: number): void;
  backward(params: number): void;
}

// Parameter block slots; must match assembly/attention.ts.
const SLOT = {
  B: 0, Hq: 1, Hkv: 2, Tq: 3, Tk: 4, Dk: 5, Dv: 6, scale: 7, left: 8, right: 9, offset: 10,
  q: 11, k: 12, v: 13, mask: 14, bias: 19, out: 24, lse: 25, scratch: 26, dy: 27, o: 28, dq: 29, dk: 30, dv: 31, dbias: 32,
} as const;
const PARAM_BYTES = 256;

/** Lays out regions of 16-byte aligned byte lengths after the parameter block. */
class Layout {
  private end: number;
  constructor(base: number) {
    this.end = base + PARAM_BYTES;
  }
  take(bytes: number): number {
    const at = this.end;
    this.end += Math.ceil(bytes / 16) * 16;
    return at;
  }
  get top(): number {
    return this.end;
  }
}

/** A loaded attention module: one instance, its own memory, used synchronously. */
export class WasmAttention {
  private readonly exports: Exports;
  private readonly base: number;

  constructor(module: WebAssembly.Module) {
    this.exports = new WebAssembly.Instance(module, { env: { abort: abortImport } }).exports as unknown as Exports;
    this.base = Math.ceil(this.exports.heapBase() / 16) * 16;
  }

  private grow(top: number) {
    const memory = this.exports.memory;
    const missing = top - memory.buffer.byteLength;
    if (missing > 0) memory.grow(Math.ceil(missing / 65536));
  }

  private regions(layout: Layout, x: ForwardInputs) {
    const q = layout.take(x.query.byteLength);
    const k = layout.take(x.key.byteLength);
    const v = layout.take(x.value.byteLength);
    const mask = x.mask ? layout.take(x.mask.values.byteLength) : 0;
    const bias = x.bias ? layout.take(x.bias.values.byteLength) : 0;
    return { q, k, v, mask, bias };
  }

  private writeCommon(s: CallShape, at: ReturnType<WasmAttention['regions']>, x: ForwardInputs): Int32Array {
    const buffer = this.exports.memory.buffer;
    const p = new Int32Array(buffer, this.base, PARAM_BYTES / 4);
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

  /** Output [B, Hq, Tq, Dv] and row logsumexp [B, Hq, Tq]. */
  forward(s: CallShape, x: ForwardInputs): { output: Float32Array; lse: Float32Array } {
    const layout = new Layout(this.base);
    const at = this.regions(layout, x);
    const outLength = s.B * s.Hq * s.Tq * s.Dv;
    const lseLength = s.B * s.Hq * s.Tq;
    const out = layout.take(outLength * 4);
    const lse = layout.take(lseLength * 4);
    this.grow(layout.top);
    const p = this.writeCommon(s, at, x);
    p[SLOT.out] = out;
    p[SLOT.lse] = lse;
    p[SLOT.scratch] = layout.top;
    this.exports.forward(this.base);
    const buffer = this.exports.memory.buffer; // the call may have grown memory
    return { output: new Float32Array(buffer, out, outLength).slice(), lse: new Float32Array(buffer, lse, lseLength).slice() };
  }

  /** Gradients of query, key, value and (when a bias is given) the bias. */
  backward(s: CallShape, x: BackwardInputs) {
    const layout = new Layout(this.base);
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
    const buffer = this.exports.memory.buffer;
    new Float32Array(buffer, dy, x.dy.length).set(x.dy);
    new Float32Array(buffer, o, x.output.length).set(x.output);
    new Float32Array(buffer, lse, x.lse.length).set(x.lse);
    if (x.bias) new Float32Array(buffer, dbias, x.biasSize).fill(0);
    Object.assign(p, { [SLOT.dy]: dy, [SLOT.o]: o, [SLOT.lse]: lse, [SLOT.dq]: dq, [SLOT.dk]: dk, [SLOT.dv]: dv, [SLOT.dbias]: dbias });
    p[SLOT.scratch] = layout.top;
    this.exports.backward(this.base);
    const after = this.exports.memory.buffer;
    const copy = (ptr: number, n: number) => new Float32Array(after, ptr, n).slice();
    return {
      dQuery: copy(dq, x.query.length),
      dKey: copy(dk, x.key.length),
      dValue: copy(dv, x.value.length),
      dBias: x.bias ? copy(dbias, x.biasSize) : null,
    };
  }
}

function abortImport(): never {
  throw new Error('@attnkit/kernels: the wasm attention module aborted');
}

/** Where the build puts the module: the same URL from src/ (tests) and from dist/. */
const WASM_URL = new URL('../dist/attention.wasm', import.meta.url);

/** Reads and compiles dist/attention.wasm (Node: from disk; elsewhere: fetch). */
export async function loadWasmAttention(): Promise<WasmAttention> {
  let bytes: ArrayBuffer | Uint8Array;
  if (WASM_URL.protocol === 'file:') {
    // A computed specifier keeps bundlers for the browser from resolving a Node built-in.
    const fsModule = 'node:fs/promises';
    const { readFile } = (await import(/* @vite-ignore */ fsModule)) as { readFile(url: URL): Promise<Uint8Array> };
    bytes = await readFile(WASM_URL);
  } else {
    bytes = await (await fetch(WASM_URL)).arrayBuffer();
  }
  return new WasmAttention(await WebAssembly.compile(bytes as BufferSource));
}
