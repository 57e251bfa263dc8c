/**
 * Test-only float64 references for the layer: projections written as loops, attention by
 * @attnkit/test-utils' oracle, a rotary-like position hook in both tfjs and float64, and
 * PyTorch's documented nn.MultiheadAttention formula. Not part of the published package.
 */
import { type F64, attentionOracle, f64, randomValues, toF64 } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import type { MultiHeadAttention, PositionHook } from '../index.js';

/** Float64 weights of a layer in Keras layout; biases null when the layer has none. */
export interface F64Weights {
  queryKernel: F64;
  queryBias: F64 | null;
  keyKernel: F64;
  keyBias: F64 | null;
  valueKernel: F64;
  valueBias: F64 | null;
  outputKernel: F64;
  outputBias: F64 | null;
}

/** Sets seeded random weights on a built layer and returns them in float64. */
export function seedWeights(layer: MultiHeadAttention, seed: number, scale = 0.5): F64Weights {
  const values = layer.weights.map((w, i) => {
    const size = w.shape.reduce((a, b) => a! * b!, 1)!;
    return tf.tensor(
      Array.from(randomValues(size, seed * 31 + i), (x) => x * scale),
      w.shape as number[],
      'float32',
    );
  });
  layer.setWeights(values);
  const f = values.map(toF64);
  tf.dispose(values);
  const bias = layer.useBias;
  const at = (slot: number, isBias: boolean) => (bias ? f[slot * 2 + (isBias ? 1 : 0)]! : isBias ? null : f[slot]!);
  return {
    queryKernel: at(0, false)!,
    queryBias: at(0, true),
    keyKernel: at(1, false)!,
    keyBias: at(1, true),
    valueKernel: at(2, false)!,
    valueBias: at(2, true),
    outputKernel: at(3, false)!,
    outputBias: at(3, true),
  };
}

/** x [B, T, d] · kernel [d, heads, size] + bias [heads, size] -> [B, heads, T, size], in float64 loops. */
export function projectF64(x: F64, kernel: F64, bias: F64 | null): F64 {
  const [B, T, d] = x.shape as [number, number, number];
  const [, heads, size] = kernel.shape as [number, number, number];
  const out = new Float64Array(B * heads * T * size);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let n = 0; n < heads; n++)
        for (let h = 0; h < size; h++) {
          let acc = bias ? bias.data[n * size + h]! : 0;
          for (let i = 0; i < d; i++) acc += x.data[(b * T + t) * d + i]! * kernel.data[(i * heads + n) * size + h]!;
          out[((b * heads + n) * T + t) * size + h] = acc;
        }
  return { data: out, shape: [B, heads, T, size] };
}

/** attended [B, N, T, Hv] · kernel [N, Hv, dOut] + bias [dOut] -> [B, T, dOut]. */
export function outputF64(attended: F64, kernel: F64, bias: F64 | null): F64 {
  const [B, N, T, Hv] = attended.shape as [number, number, number, number];
  const dOut = kernel.data.length / (N * Hv);
  const out = new Float64Array(B * T * dOut);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let o = 0; o < dOut; o++) {
        let acc = bias ? bias.data[o]! : 0;
        for (let n = 0; n < N; n++) for (let h = 0; h < Hv; h++) acc += attended.data[((b * N + n) * T + t) * Hv + h]! * kernel.data[(n * Hv + h) * dOut + o]!;
        out[(b * T + t) * dOut + o] = acc;
      }
  return { data: out, shape: [B, T, ...kernel.shape.slice(2)] };
}

export interface MhaOracleInput {
  query: F64;
  value: F64;
  key?: F64;
  weights: F64Weights;
  /** Keras mask (nonzero = attend), right-aligned broadcastable to [B, Tq, Tk]. */
  mask?: F64 | null;
  causal?: boolean;
  /** Additive bias: rank 3 [B, Tq, Tk] (every head) or rank 4 [B, N, Tq, Tk]. */
  bias?: F64 | null;
  /** Float64 position hook applied to projected queries and keys, with offset 0. */
  hook?: ((x: F64, offset: number) => F64) | null;
}

/** The layer's forward pass in float64: projections + attention oracle + output projection. */
export function mhaOracle(input: MhaOracleInput): { output: F64; scores: F64 } {
  const w = input.weights;
  let q = projectF64(input.query, w.queryKernel, w.queryBias);
  let k = projectF64(input.key ?? input.value, w.keyKernel, w.keyBias);
  const v = projectF64(input.value, w.valueKernel, w.valueBias);
  if (input.hook) {
    q = input.hook(q, 0);
    k = input.hook(k, 0);
  }
  let mask: F64 | null = null;
  if (input.mask) {
    const s = input.mask.shape;
    // Keras' [B, Tq, Tk] applies to every head: [B, 1, Tq, Tk]
    mask = s.length === 3 ? { data: input.mask.data, shape: [s[0]!, 1, s[1]!, s[2]!] } : input.mask;
  }
  let bias: F64 | null = null;
  if (input.bias) {
    const s = input.bias.shape;
    bias = s.length === 3 ? { data: input.bias.data, shape: [s[0]!, 1, s[1]!, s[2]!] } : input.bias;
  }
  const { output, weights } = attentionOracle({ query: q, key: k, value: v, mask, bias, causal: input.causal ?? false });
  return { output: outputF64(output, w.outputKernel, w.outputBias), scores: weights };
}

/** Angle of rotary pair `i` at position `p` for head size D. */
const angle = (p: number, i: number, D: number) => p * 10000 ** ((-2 * i) / D);

/**
 * A tiny rotary-like hook: rotates feature pairs (2i, 2i+1) of x [B, H, T, D] by
 * (offset + t)·10000^(-2i/D). D must be even.
 */
export const rotaryHook: PositionHook = {
  apply(x: tf.Tensor, offset = 0): tf.Tensor {
    return tf.tidy(() => {
      const [B, H, T, D] = x.shape as [number, number, number, number];
      const cos = new Float32Array(T * (D / 2));
      const sin = new Float32Array(T * (D / 2));
      for (let t = 0; t < T; t++)
        for (let i = 0; i < D / 2; i++) {
          cos[t * (D / 2) + i] = Math.cos(angle(offset + t, i, D));
          sin[t * (D / 2) + i] = Math.sin(angle(offset + t, i, D));
        }
      const pairs = tf.reshape(x, [B, H, T, D / 2, 2]); // [B, H, T, D/2, 2]
      const [even, odd] = tf.split(pairs, 2, 4); // [B, H, T, D/2, 1] each
      const c = tf.tensor(cos, [T, D / 2, 1]);
      const s = tf.tensor(sin, [T, D / 2, 1]);
      const re = tf.sub(tf.mul(even!, c), tf.mul(odd!, s));
      const im = tf.add(tf.mul(even!, s), tf.mul(odd!, c));
      return tf.reshape(tf.concat([re, im], 4), [B, H, T, D]); // [B, H, T, D]
    });
  },
};

/** The same rotation in float64. */
export function rotaryF64(x: F64, offset: number): F64 {
  const [B, H, T, D] = x.shape as [number, number, number, number];
  const out = new Float64Array(x.data.length);
  for (let bh = 0; bh < B * H; bh++)
    for (let t = 0; t < T; t++)
      for (let i = 0; i < D / 2; i++) {
        const base = (bh * T + t) * D + 2 * i;
        const a = angle(offset + t, i, D);
        const [e, o] = [x.data[base]!, x.data[base + 1]!];
        out[base] = e * Math.cos(a) - o * Math.sin(a);
        out[base + 1] = e * Math.sin(a) + o * Math.cos(a);
      }
  return { data: out, shape: [...x.shape] };
}

/** PyTorch-layout weights for nn.MultiheadAttention with embed dim E, as float64 and tensors. */
export interface TorchWeights {
  Wq: F64;
  Wk: F64;
  Wv: F64;
  bq: F64 | null;
  bk: F64 | null;
  bv: F64 | null;
  Wo: F64;
  bo: F64 | null;
}

/** y = x Wᵀ + b for x [B, T, din], W [dout, din], in float64. */
function linearF64(x: F64, W: F64, b: F64 | null): F64 {
  const [B, T, din] = x.shape as [number, number, number];
  const dout = W.shape[0]!;
  const out = new Float64Array(B * T * dout);
  for (let r = 0; r < B * T; r++)
    for (let o = 0; o < dout; o++) {
      let acc = b ? b.data[o]! : 0;
      for (let i = 0; i < din; i++) acc += x.data[r * din + i]! * W.data[o * din + i]!;
      out[r * dout + o] = acc;
    }
  return { data: out, shape: [B, T, dout] };
}

/** [B, T, N·H] -> [B, N, T, H]: head n is features n·H .. n·H + H - 1, as PyTorch splits them. */
function splitHeads(x: F64, N: number): F64 {
  const [B, T, E] = x.shape as [number, number, number];
  const H = E / N;
  const out = new Float64Array(x.data.length);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let n = 0; n < N; n++) for (let h = 0; h < H; h++) out[((b * N + n) * T + t) * H + h] = x.data[(b * T + t) * E + n * H + h]!;
  return { data: out, shape: [B, N, T, H] };
}

function mergeHeads(x: F64): F64 {
  const [B, N, T, H] = x.shape as [number, number, number, number];
  const out = new Float64Array(x.data.length);
  for (let b = 0; b < B; b++)
    for (let n = 0; n < N; n++)
      for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) out[(b * T + t) * N * H + n * H + h] = x.data[((b * N + n) * T + t) * H + h]!;
  return { data: out, shape: [B, T, N * H] };
}

/**
 * PyTorch's documented nn.MultiheadAttention (batch_first) in float64:
 * MultiHead(Q, K, V) = Concat(head_1..head_N) Woᵀ + bo, head_i = Attention(Q Wqᵢᵀ + bqᵢ, K Wkᵢᵀ + bkᵢ, V Wvᵢᵀ + bvᵢ),
 * Attention = softmax(q kᵀ / sqrt(E/N)) v. `attend` (bool, true = attend) is [Tq, Tk] when given.
 */
export function torchMhaF64(query: F64, key: F64, value: F64, w: TorchWeights, N: number, attend: F64 | null = null): F64 {
  const q = splitHeads(linearF64(query, w.Wq, w.bq), N);
  const k = splitHeads(linearF64(key, w.Wk, w.bk), N);
  const v = splitHeads(linearF64(value, w.Wv, w.bv), N);
  const { output } = attentionOracle({ query: q, key: k, value: v, mask: attend });
  return linearF64(mergeHeads(output), w.Wo, w.bo);
}

/** Seeded random PyTorch-layout weights. */
export function randomTorchWeights(E: number, kdim: number, vdim: number, bias: boolean, seed: number): TorchWeights {
  const r = (shape: number[], s: number) =>
    f64(
      Float32Array.from(
        randomValues(
          shape.reduce((a, b) => a * b, 1),
          seed * 13 + s,
        ),
        (x) => x * 0.5,
      ),
      shape,
    );
  return {
    Wq: r([E, E], 1),
    Wk: r([E, kdim], 2),
    Wv: r([E, vdim], 3),
    bq: bias ? r([E], 4) : null,
    bk: bias ? r([E], 5) : null,
    bv: bias ? r([E], 6) : null,
    Wo: r([E, E], 7),
    bo: bias ? r([E], 8) : null,
  };
}

export const tensorOf = (x: F64): tf.Tensor => tf.tensor(Float32Array.from(x.data), x.shape, 'float32');

/** Seeded uniform [-1, 1) tensor and its float64 copy. */
export function input(shape: number[], seed: number): { t: tf.Tensor; f: F64 } {
  const data = randomValues(
    shape.reduce((a, b) => a * b, 1),
    seed,
  );
  return { t: tf.tensor(data, shape, 'float32'), f: f64(data, shape) };
}
