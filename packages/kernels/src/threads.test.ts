import { scaledDotProductAttention } from '@attnkit/core';
import { buildCase, expectTensorsClose, randomCase, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, it } from 'vitest';
import { registerFusedAttention } from './index.js';

// Three threads (more than this machine's cores is fine): work items split unevenly, helpers
// idle when a call has fewer heads than threads. Same tolerances as fused.test.ts.
describe('fused attention on three threads', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    await registerFusedAttention({ threads: 3 });
  });

  it('equals the reference on 60 random configurations, forward and gradients', () => {
    for (let seed = 1001; seed <= 1060; seed++) {
      const c = randomCase(seed, 40);
      const built = buildCase(c);
      const options = { mask: built.mask, causal: c.causal ?? false, window: c.window ?? null, ...(c.scale !== undefined ? { scale: c.scale } : {}) };
      const inputs = [built.query, built.key, built.value, ...(built.bias ? [built.bias] : [])];
      const [fused, reference] = (['fused', 'reference'] as const).map((implementation) => {
        const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b?: tf.Tensor) =>
          scaledDotProductAttention(q, k, v, { ...options, bias: b ?? null, implementation });
        const output = f(built.query, built.key, built.value, built.bias ?? undefined);
        const grads = tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, b?: tf.Tensor) => tf.sum(tf.mul(f(q, k, v, b), tf.sin(f(q, k, v, b)))))(inputs);
        return { output, grads };
      });
      expectTensorsClose(fused!.output, reference!.output, { rtol: 1e-5, atol: 1e-6, label: `${c.name} output` });
      for (const [i, g] of reference!.grads.entries()) expectTensorsClose(fused!.grads[i]!, g, { rtol: 1e-4, atol: 1e-5, label: `${c.name} grad ${i}` });
      tf.dispose([fused!.output, ...fused!.grads, reference!.output, ...reference!.grads]);
      built.dispose();
    }
  });
});
