import { seededRandom, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Transformer, greedyDecode } from './index.js';

// The Annotated Transformer's copy task: vocabulary 11 (pad 0, bos 1, eos 2, symbols 3..10),
// sequences of 10 symbols; the model must echo held-out inputs exactly.
describe('copy task', () => {
  beforeAll(() => useBackend('wasm'));

  // Typically 25-50 s on 2 cores; the timeout leaves room for a busy machine.
  it('a small model learns to echo held-out sequences exactly', { timeout: 180_000 }, () => {
    const rand = seededRandom(42);
    const L = 10;
    const batch = (n: number) => Array.from({ length: n }, () => Array.from({ length: L }, () => 3 + Math.floor(rand() * 8)));
    const model = new Transformer({
      sourceVocabSize: 11,
      targetVocabSize: 11,
      dModel: 32,
      numHeads: 4,
      ffDim: 64,
      numEncoderLayers: 2,
      numDecoderLayers: 2,
      dropout: 0,
      normFirst: true,
      shareEmbeddings: true,
      seed: 7,
    }).build();
    const optimizer = tf.train.adam(0.008, 0.9, 0.98, 1e-9);
    // warm-up to 0.008 at step 100, then 1/sqrt(step) decay (a constant rate oscillates late)
    const setRate = (step: number) => {
      (optimizer as unknown as { learningRate: number }).learningRate = 0.008 * Math.min(step / 100, Math.sqrt(100 / step));
    };
    const echoes = (xs: number[][]) => {
      const src = tf.tensor2d(xs, [xs.length, L], 'int32');
      const out = greedyDecode(model, src, { maxLength: L + 2 }).map((h) => h.tokens);
      src.dispose();
      return out;
    };
    // Train until two checks in a row echo 32 fresh sequences exactly (about 300 steps).
    let perfect = 0;
    for (let step = 1; step <= 600 && perfect < 2; step++) {
      setRate(step);
      const xs = batch(32);
      const [src, tin, tout] = [xs, xs.map((x) => [1, ...x]), xs.map((x) => [...x, 2])].map((rows) => tf.tensor2d(rows, [32, rows[0]!.length], 'int32'));
      optimizer.minimize(() => model.loss(src!, tin!, tout!, { labelSmoothing: 0 }), false, model.variables());
      tf.dispose([src!, tin!, tout!]);
      if (step % 25 === 0) {
        const probe = batch(32);
        perfect = JSON.stringify(echoes(probe)) === JSON.stringify(probe) ? perfect + 1 : 0;
      }
    }
    const heldOut = batch(50);
    expect(echoes(heldOut)).toEqual(heldOut);
    optimizer.dispose();
    model.dispose();
  });
});
