/**
 * Each backend's ceiling: the GFLOP/s of one square [N, N]·[N, N] product on the engine that
 * runs there. Attention can approach, never pass, its engine's matmul rate.
 */
import * as tf from '@tensorflow/tfjs-core';
import { randomValues } from '@attnkit/test-utils/random';
import type { BenchImplementation, Session } from '../registry.js';
import { matmulModel } from './onnx-model.js';
import { loadOrt, sessionOptions } from './onnxruntime.js';

const tfjsMatmul: BenchImplementation = {
  name: 'matmul:tfjs',
  description: 'tf.matMul of two [N, N] matrices',
  engine: 'tfjs',
  level: 'attention',
  backends: ['cpu', 'wasm', 'webgpu'],
  modes: ['matmul'],
  setup: async ({ config: { matmulN: N } }): Promise<Session> => {
    const a = tf.tensor2d(randomValues(N * N, 11), [N, N]);
    const b = tf.tensor2d(randomValues(N * N, 12), [N, N]);
    const output = async () => {
      const c = tf.matMul(a, b);
      const data = (await c.data()) as Float32Array;
      c.dispose();
      return data;
    };
    return { run: async () => void (await output()), output, dispose: () => tf.dispose([a, b]) };
  },
};

function ortMatmul(pkg: 'onnxruntime-node' | 'onnxruntime-web'): BenchImplementation {
  return {
    name: `matmul:${pkg}`,
    description: `${pkg} MatMul of two [N, N] matrices`,
    engine: pkg,
    level: 'attention',
    backends: [pkg === 'onnxruntime-node' ? 'native' : 'wasm'],
    modes: ['matmul'],
    setup: async ({ config: { matmulN: N, ortThreads } }): Promise<Session> => {
      const ort = await loadOrt(pkg);
      const session = await ort.InferenceSession.create(matmulModel(N), sessionOptions(pkg, ortThreads));
      const feeds = {
        a: new ort.Tensor('float32', randomValues(N * N, 11), [N, N]),
        b: new ort.Tensor('float32', randomValues(N * N, 12), [N, N]),
      };
      const output = async () => (await session.run(feeds)).c!.data as Float32Array;
      return { run: async () => void (await output()), output, dispose: () => void session.release() };
    },
  };
}

export const matmulImplementations: BenchImplementation[] = [tfjsMatmul, ortMatmul('onnxruntime-node'), ortMatmul('onnxruntime-web')];
