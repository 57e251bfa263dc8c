import { attentionWeights, scaledDotProductAttention } from '@attnkit/core';
import { expectTensorsClose, randomMask, randomTensor, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { dropoutKeep } from './dropout.js';
import { registerFusedAttention } from './index.js';

// Dropout inside the fused wasm kernel equals the reference math with the kernel's own
// pattern (dropoutKeep, the JavaScript twin of its hash), forward within 1e-5 relative and
// gradients within 1e-4: softmax(…) ⊙ keep / (1 - rate) · V.
const CASES = [
  { name: 'self, padding mask', B: 2, H: 3, Tq: 9, Tk: 9, D: 8, causal: false, mask: true },
  { name: 'causal, two key tiles', B: 1, H: 2, Tq: 5, Tk: 150, D: 16, causal: true, mask: false },
];

describe('fused attention dropout on wasm', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    await registerFusedAttention();
  });

  for (const c of CASES) {
    it(`${c.name}: equals the reference with the kernel's pattern, forward and gradients`, () => {
      const rate = 0.3;
      const seed = 12345;
      const q = randomTensor([c.B, c.H, c.Tq, c.D], 1);
      const k = randomTensor([c.B, c.H, c.Tk, c.D], 2);
      const v = randomTensor([c.B, c.H, c.Tk, c.D], 3);
      const mask = c.mask ? randomMask([c.B, 1, 1, c.Tk], 4) : null;
      const keep = tf.tensor4d(dropoutKeep([c.B, c.H, c.Tq, c.Tk], rate, seed), [c.B, c.H, c.Tq, c.Tk], 'float32');
      const dy = randomTensor([c.B, c.H, c.Tq, c.D], 5);
      const opts = { mask, causal: c.causal };
      const fused = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
        scaledDotProductAttention(a, b, d, { ...opts, dropout: rate, training: true, seed, implementation: 'fused' });
      const reference = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) =>
        tf.matMul(tf.mul(attentionWeights(a, b, { ...opts, implementation: 'reference' }), tf.div(keep, 1 - rate)), d);
      const loss = (f: (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => tf.Tensor) => (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(f(a, b, d), dy));
      const [yf, yr] = [fused(q, k, v), reference(q, k, v)];
      expectTensorsClose(yf, yr, { rtol: 1e-5, atol: 1e-6, label: 'output' });
      const [gf, gr] = [tf.grads(loss(fused))([q, k, v]), tf.grads(loss(reference))([q, k, v])];
      for (const [i, name] of ['dq', 'dk', 'dv'].entries()) expectTensorsClose(gf[i]!, gr[i]!, { rtol: 1e-4, atol: 1e-5, label: name });
      tf.dispose([q, k, v, keep, dy, yf, yr, ...gf, ...gr, ...(mask ? [mask] : [])]);
    });
  }

  it('drops about `rate` of the weights; the same seed gives the same output, another seed another', () => {
    const keep = dropoutKeep([4, 4, 64, 64], 0.25, 7);
    const dropped = keep.reduce((n, x) => n + (x === 0 ? 1 : 0), 0) / keep.length;
    expect(dropped).toBeGreaterThan(0.23);
    expect(dropped).toBeLessThan(0.27);
    const q = randomTensor([1, 2, 8, 8], 8);
    const run = (seed: number) => scaledDotProductAttention(q, q, q, { dropout: 0.5, training: true, seed }).dataSync();
    expect(Array.from(run(3))).toEqual(Array.from(run(3)));
    expect(Array.from(run(3))).not.toEqual(Array.from(run(4)));
    q.dispose();
  });
});
