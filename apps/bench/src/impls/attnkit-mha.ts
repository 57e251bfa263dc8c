/**
 * @attnkit/multi-head's MultiHeadAttention at layer level, beside tfjs-layers' internal one:
 * self-attention on x [B, T, M = H·d] → query/key/value projections → @attnkit/core attention
 * (its default path) → output projection. forward+backward is a training step's backward: the
 * gradients of the input and of all eight weights. The error check projects in float64 with
 * the layer's own weights (layer-oracle.ts), exactly as for tfjs-layers-mha.
 */
import { MultiHeadAttention } from '@attnkit/multi-head';
import { randomValues } from '@attnkit/test-utils/random';
import * as tf from '@tensorflow/tfjs-core';
import type { BenchImplementation, Problem, Session } from '../registry.js';
import { type LayerWeights, layerFlops, layerOracle } from './layer-oracle.js';

interface LayerSession extends Session {
  /** Keras order: query, key, value kernels [M, heads, d] and biases [heads, d]; output kernel [H, d, M] and bias [M]. */
  weights: Float64Array[];
}

async function setup(problem: Problem): Promise<LayerSession> {
  const { B, H, Hkv, d, causal, mode } = problem.config;
  const T = problem.T;
  const M = H * d;
  const layer = new MultiHeadAttention({ numHeads: H, keyDim: d, numKeyValueHeads: Hkv });
  const x0 = tf.tensor3d(problem.q, [B, T, M]); // [B, T, M]
  const x = tf.variable(x0, true); // a variable so that forward+backward gives dx too
  x0.dispose();
  const forward = () => layer.apply(x, { value: x, useCausalMask: causal }) as tf.Tensor; // [B, T, M]
  tf.dispose(forward()); // builds the layer so its weights exist
  const weights = layer.weights.map((w) => Float64Array.from(w.read().dataSync()));
  const owned: tf.Tensor[] = [x];
  const output = async () => {
    const y = forward();
    const data = (await y.data()) as Float32Array;
    y.dispose();
    return data;
  };
  let run = async () => void (await output());
  if (mode === 'forward+backward') {
    const dy = tf.tensor3d(randomValues(B * T * M, 4), [B, T, M]); // [B, T, M]
    owned.push(dy);
    const variables = [x, ...layer.trainableWeights.map((w) => w.read() as tf.Variable)];
    run = async () => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(forward(), dy)) as tf.Scalar, variables);
      await Promise.all(Object.values(grads).map((g) => g.data()));
      tf.dispose([value, ...Object.values(grads)]);
    };
  }
  return {
    weights,
    run,
    output,
    dispose: () => {
      tf.dispose(owned);
      layer.dispose();
    },
  };
}

export const attnkitMha: BenchImplementation = {
  name: 'attnkit-mha',
  description: "@attnkit/multi-head's MultiHeadAttention (layer level: includes 4 projections; default attention path)",
  engine: 'tfjs',
  level: 'layer',
  backends: ['cpu', 'wasm', 'webgpu'],
  modes: ['forward', 'forward+backward'],
  unsupported: (c) => (c.window !== null ? 'MultiHeadAttention has no sliding-window option' : null),
  flops: layerFlops,
  oracle: async (problem, session) => layerOracle(problem.q, (session as LayerSession).weights as LayerWeights, { ...problem.config, T: problem.T }),
  setup,
};
