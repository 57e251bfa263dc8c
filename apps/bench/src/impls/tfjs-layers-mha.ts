/**
 * tfjs-layers' internal MultiHeadAttention (a deep import: tfjs does not export it), at layer
 * level: x [B, T, H·d] → query/key/value projections → attention → output projection. Its
 * FLOPs include the four projections, and its error check projects in float64 with the
 * layer's own weights before calling the attention oracle.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BenchImplementation, Problem, Session } from '../registry.js';
import { type LayerWeights, layerFlops, layerOracle } from './layer-oracle.js';

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
  const weights = denses.flatMap((dense) => dense.getWeights()).map((w) => Float64Array.from(w.dataSync()));
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

async function oracle(problem: Problem, session: Session): Promise<Float64Array> {
  return layerOracle(problem.q, (session as LayerSession).weights as LayerWeights, { ...problem.config, T: problem.T });
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
  flops: layerFlops,
  oracle,
  setup,
};
