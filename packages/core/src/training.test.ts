import { describeEachBackend, expectTensorsClose, expectThrowsWithoutLeak, randomTensor } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { activate, dense, dropout, layerNorm, softmaxCrossEntropy } from './training.js';

// Golden values from Python's math.erf / math.tanh in float64 (the recipe is the formula in
// each case's comment, evaluated at XS).
const XS = [-3, -1, -0.5, 0, 0.5, 1, 2.5];
const GOLDEN = {
  // 0.5·x·(1 + erf(x/√2)) and its derivative Φ(x) + x·φ(x)
  gelu: {
    y: [-0.004049694095, -0.158655253931, -0.154268769363, 0, 0.345731230637, 0.841344746069, 2.484475836686],
    dy: [-0.011945647204, -0.083315470588, 0.132504875344, 0.5, 0.867495124656, 1.083315470588, 1.037611085908],
  },
  // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) and its derivative
  gelu_tanh: {
    y: [-0.003637392082, -0.158808009392, -0.154285990175, 0, 0.345714009825, 0.841191990608, 2.48491573391],
    dy: [-0.011584166631, -0.082964083846, 0.132630096465, 0.5, 0.867369903535, 1.082964083846, 1.037951576213],
  },
} as const;

describeEachBackend('activations', () => {
  for (const name of ['gelu', 'gelu_tanh'] as const) {
    it(`${name}: golden values and gradients`, () => {
      const x = tf.tensor1d(XS);
      const y = activate(x, name);
      const dy = tf.grad((a: tf.Tensor) => tf.sum(activate(a, name)))(x);
      expectTensorsClose(y, GOLDEN[name].y, { rtol: 1e-5, atol: 1e-6, label: `${name} y` });
      expectTensorsClose(dy, GOLDEN[name].dy, { rtol: 1e-4, atol: 1e-5, label: `${name} dy` });
      tf.dispose([x, y, dy]);
    });
  }

  it('gelu and gelu_tanh differ where the approximation is off (x = -3)', () => {
    const x = tf.tensor1d([-3]);
    const [exact, approx] = [activate(x, 'gelu').dataSync()[0]!, activate(x, 'gelu_tanh').dataSync()[0]!];
    expect(Math.abs(exact - approx)).toBeGreaterThan(3e-4);
    x.dispose();
  });
});

describeEachBackend('reference training ops', () => {
  it('layerNorm matches float64 per row', () => {
    const x = randomTensor([4, 9], 1, -2, 2);
    const g = randomTensor([9], 2);
    const b = randomTensor([9], 3);
    const y = layerNorm(x, g, b, { epsilon: 1e-3, implementation: 'reference' });
    const [xs, gs, bs] = [x.dataSync(), g.dataSync(), b.dataSync()];
    const expected: number[] = [];
    for (let r = 0; r < 4; r++) {
      const row = Array.from(xs.slice(r * 9, r * 9 + 9));
      const m = row.reduce((s, v) => s + v, 0) / 9;
      const v = row.reduce((s, u) => s + (u - m) ** 2, 0) / 9;
      expected.push(...row.map((u, j) => ((u - m) / Math.sqrt(v + 1e-3)) * gs[j]! + bs[j]!));
    }
    expectTensorsClose(y, expected, { rtol: 1e-5, atol: 1e-5, label: 'layerNorm' });
    tf.dispose([x, g, b, y]);
  });

  it('softmaxCrossEntropy with label smoothing matches float64', () => {
    const logits = tf.tensor2d([
      [2, -1, 0.5],
      [0, 0, 0],
    ]);
    const labels = tf.tensor1d([0, 2], 'int32');
    const loss = softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.2, implementation: 'reference' });
    const expected = [
      [2, -1, 0.5, 0],
      [0, 0, 0, 2],
    ].map(([a, b, c, id]) => {
      const row = [a!, b!, c!];
      const lse = Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
      return -row.reduce((s, v, j) => s + ((j === id ? 0.8 : 0) + 0.2 / 3) * (v - lse), 0);
    });
    expectTensorsClose(loss, expected, { rtol: 1e-6, label: 'loss' });
    tf.dispose([logits, labels, loss]);
  });

  it('errors name the op and the shapes, before allocating', () => {
    const x = tf.ones([3, 4]) as tf.Tensor2D;
    const w = tf.ones([5, 2]) as tf.Tensor2D;
    const g = tf.ones([3]);
    const ids = tf.tensor1d([0, 1], 'int32');
    expectThrowsWithoutLeak(
      () => dense(x, w, null),
      /dense: x \[N, in\], kernel \[in, units\] and bias \[units\] must agree, but got x \[3,4\], kernel \[5,2\]/,
    );
    expectThrowsWithoutLeak(() => layerNorm(x, g, g), /layerNorm: gamma and beta must be \[4\], the last axis of x, but got x \[3,4\], gamma \[3\]/);
    expectThrowsWithoutLeak(
      () => softmaxCrossEntropy(x, ids),
      /softmaxCrossEntropy: labels must be int32 with the shape of logits less its last axis, but got logits \[3,4\] and labels \[2\]/,
    );
    expectThrowsWithoutLeak(() => dropout(x, 1), /dropout: rate must be in \[0, 1\)/);
    expectThrowsWithoutLeak(() => dropout(ids, 0.5), /dropout: x must be float32, got int32/);
    tf.dispose([x, w, g, ids]);
  });

  it('dropout (reference: tf.dropout) zeroes about rate of the entries, scales the rest by 1/(1 - rate), and its gradient is that mask', () => {
    const x = tf.fill([40, 50], 2);
    const dy = tf.fill([40, 50], 3);
    const [y, dx] = [dropout(x, 0.25, { seed: 7 }), tf.grads((a: tf.Tensor) => tf.sum(tf.mul(dropout(a, 0.25, { seed: 7 }), dy)))([x])[0]!];
    const ys = Array.from(y.dataSync());
    const kept = ys.filter((v) => v !== 0);
    expect(kept.every((v) => Math.abs(v - 2 / 0.75) < 1e-6)).toBe(true);
    expect(Math.abs(kept.length / 2000 - 0.75)).toBeLessThan(3 * Math.sqrt((0.25 * 0.75) / 2000));
    expect(Array.from(dx.dataSync()).map((v, i) => (v === 0) === (ys[i] === 0))).not.toContain(false); // same entries as the forward
    tf.dispose([x, dy, y, dx]);
  });
});
