/**
 * tfjs-layers' internal MultiHeadAttention (a deep import: tfjs does not export it), at layer
 * level: x [B, T, H·d] → query/key/value projections → attention → output projection. Its
 * FLOPs include the four projections, and its error check projects in float64 with the
 * layer's own weights before calling the attention oracle.
 */
import { attentionOracle } from '@attnkit/test-utils/oracle';
import * as tf from '@tensorflow/tfjs-core';
import type { BenchImplementation, Problem, Session } from '../registry.js';
import { attentionFlops } from '../stats.js';

interface LayerSession extends Session {
  /** query, key, value kernels [M, H, d] and biases [H, d]; output kernel [H, d, M] and bias [M]. */
  weights: Float64Array[];
}

interface MhaLayer {
  call(query: tf.Tensor, kwargs: { value: tf.Tensor; useCausalMask?: boolean }): tf.Tensor;
  queryDense: { getWeights(): tf.Tensor[] };
  keyDense: { getWeights(): tf.Tensor[] };
  valueDense: { getWeights(): tf.Tensor[] };
  outputDense: { getWeights(): tf.Tensor[] };
}

interface Disposable {
  dispose(): void;
}

async function setup(problem: Problem): Promise<LayerSession> {
  const { MultiHeadAttention } = await import('@tensorflow/tfjs-layers/dist/layers/nlp/multihead_attention.js');
  const { B, H, d, causal } = problem.config;
  const T = problem.T;
  const M = H * d;
  const layer = new MultiHeadAttention({ numHeads: H, keyDim: d }) as unknown as MhaLayer;
  const x = tf.tensor3d(problem.q, [B, T, M]); // [B, T, M]
  const forward = () => layer.call(x, { value: x, useCausalMask: causal }); // [B, T, M]
  tf.dispose(forward()); // builds the layer so its weights exist
  const denses = [layer.queryDense, layer.keyDense, layer.valueDense, layer.outputDense];
  const weights = denses
    .flatMap((dense) => dense.getWeights())
    .map((w) => Float64Array.from(w.dataSync()));
  const output = async () => {
    const y = forward();
    const data = (await y.data()) as Float32Array;
    y.dispose();
    return data;
  };
  return {
    weights,
    run: async () => void (await output()),
    output,
    dispose: () => {
      x.dispose();
      // call() builds the projections but never marks the layer itself built, so the layer
      // refuses dispose(); its sublayers own every weight.
      for (const dense of denses) (dense as unknown as Disposable).dispose();
    },
  };
}

/** y[b, t, :] = x[b, t, :]·W + bias for a kernel [M, H·d] (flattened), in float64, as [B, H, T, d]. */
function project(x: Float32Array, kernel: Float64Array, bias: Float64Array, B: number, T: number, H: number, d: number) {
  const M = H * d;
  const out = new Float64Array(B * H * T * d);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let hd = 0; hd < H * d; hd++) {
        let acc = bias[hd]!;
        for (let m = 0; m < M; m++) acc += x[(b * T + t) * M + m]! * kernel[m * H * d + hd]!;
        const h = Math.floor(hd / d);
        out[((b * H + h) * T + t) * d + (hd % d)] = acc; // [B, H, T, d]
      }
  return out;
}

async function oracle(problem: Problem, session: Session): Promise<Float64Array> {
  const { B, H, d, causal } = problem.config;
  const T = problem.T;
  const M = H * d;
  const [wq, bq, wk, bk, wv, bv, wo, bo] = (session as LayerSession).weights as [
    Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array, Float64Array,
  ];
  const shape = [B, H, T, d];
  const { output } = attentionOracle({
    query: { data: project(problem.q, wq, bq, B, T, H, d), shape },
    key: { data: project(problem.q, wk, bk, B, T, H, d), shape },
    value: { data: project(problem.q, wv, bv, B, T, H, d), shape },
    causal,
  });
  const y = new Float64Array(B * T * M); // [B, T, M]
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++)
      for (let m = 0; m < M; m++) {
        let acc = bo[m]!;
        for (let h = 0; h < H; h++)
          for (let e = 0; e < d; e++) acc += output.data[((b * H + h) * T + t) * d + e]! * wo[(h * d + e) * M + m]!;
        y[(b * T + t) * M + m] = acc;
      }
  return y;
}

export const tfjsLayersMha: BenchImplementation = {
  name: 'tfjs-layers-mha',
  description: "tfjs-layers' internal MultiHeadAttention (layer level: includes 4 projections)",
  engine: 'tfjs',
  level: 'layer',
  backends: ['cpu', 'wasm', 'webgpu'],
  modes: ['forward', 'forward+backward'],
  unsupported: (c) => {
    if (c.mode === 'forward+backward') return "tfjs has no gradient for 'Einsum', which this layer's projections use";
    if (c.backend === 'wasm') return "tfjs-backend-wasm has no 'Einsum' kernel, which this layer's projections need";
    if (c.Hkv !== c.H) return 'tfjs-layers MultiHeadAttention has no GQA (numKeyValueHeads)';
    if (c.window !== null) return 'tfjs-layers MultiHeadAttention has no sliding-window option';
    return null;
  },
  flops: (c) => {
    const M = c.H * c.d;
    const projections = 4 * 2 * c.B * c.T * M * M;
    return attentionFlops(c.B, c.H, c.T, c.T, c.d) + projections;
  },
  oracle,
  setup,
};
