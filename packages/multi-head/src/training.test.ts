import { seededRandom, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MultiHeadAttention } from './index.js';

/**
 * Copy with offset: the target at position t is the input token at position (t + 3) mod T.
 * Each output must fetch a token from another position, so only attention can solve it: the
 * dense read-out sees one position at a time. Inputs are one-hot tokens concatenated with
 * one-hot positions (no positional layer needed). Chance level is ln(V) = 1.79.
 */
const V = 6;
const T = 8;
const OFFSET = 3;

function batch(n: number, seed: number) {
  const rand = seededRandom(seed);
  const x = new Float32Array(n * T * (V + T));
  const y = new Float32Array(n * T * V);
  for (let b = 0; b < n; b++) {
    const tokens = Array.from({ length: T }, () => Math.floor(rand() * V));
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * (V + T);
      x[row + tokens[t]!] = 1;
      x[row + V + t] = 1;
      y[(b * T + t) * V + tokens[(t + OFFSET) % T]!] = 1;
    }
  }
  return { x: tf.tensor3d(x, [n, T, V + T]), y: tf.tensor3d(y, [n, T, V]) };
}

describe('training MultiHeadAttention with model.fit [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  // About 8 s on 2 idle cores; the timeout leaves room for a busy machine.
  it('learns copy-with-offset to loss < 0.01 in 20 epochs and held-out accuracy > 0.98', { timeout: 180_000 }, async () => {
    const inp = tf.input({ shape: [T, V + T] });
    const attention = new MultiHeadAttention({
      numHeads: 2,
      keyDim: 8,
      kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }),
    });
    const mixed = attention.apply([inp, inp]) as tf.SymbolicTensor;
    const out = tf.layers
      .dense({ units: V, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) })
      .apply(mixed) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: out });
    model.compile({ optimizer: tf.train.adam(0.03), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });

    const train = batch(512, 1);
    const history = await model.fit(train.x, train.y, { epochs: 20, batchSize: 128, shuffle: false, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses[0]).toBeGreaterThan(1.5); // starts near chance
    expect(losses[losses.length - 1]).toBeLessThan(0.01);

    const test = batch(128, 2);
    const pred = model.predict(test.x) as tf.Tensor;
    const accuracy = tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(pred, -1), tf.argMax(test.y, -1)), 'float32')).dataSync()[0]!);
    expect(accuracy).toBeGreaterThan(0.98);
    tf.dispose([train.x, train.y, test.x, test.y, pred]);
    model.dispose();
  });
});
