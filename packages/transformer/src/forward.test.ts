import { expectNoLeak, expectTensorsClose, randomTensor, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TransformerDecoderLayer, TransformerEncoderLayer } from './index.js';

const args = { dModel: 8, numHeads: 2, ffDim: 16, dropout: 0, seed: 7 };

describe("blocks' typed forward is what apply() returns [cpu]", () => {
  beforeAll(() => useBackend('cpu'));

  it('encoder: { y, self } on an unbuilt layer, equal to apply() [y, weights]; { y } alone without scores; no leaks', async () => {
    const layer = new TransformerEncoderLayer(args);
    const x = randomTensor([2, 4, 8], 1);
    const paddingMask = tf.tensor2d([1, 1, 1, 0, 1, 1, 0, 0], [2, 4]);
    const typed = layer.forward(x, { paddingMask, returnAttentionScores: true }); // builds the layer
    expect([typed.y.shape, typed.self?.shape]).toEqual([
      [2, 4, 8],
      [2, 2, 4, 4],
    ]);
    const [y, weights] = layer.apply(x, { paddingMask, returnAttentionScores: true }) as tf.Tensor[];
    expectTensorsClose(typed.y, y!, { rtol: 0, atol: 0 });
    expectTensorsClose(typed.self!, weights!, { rtol: 0, atol: 0 });
    const plain = layer.forward(x, { paddingMask });
    expect(Object.keys(plain)).toEqual(['y']);
    await expectNoLeak(() => layer.forward(x, { paddingMask, returnAttentionScores: true }));
    tf.dispose([x, paddingMask, typed.y, typed.self!, y!, weights!, plain.y]);
    layer.dispose();
  });

  it('decoder: { y, self, cross } equal to apply() [y, self, cross]', () => {
    const layer = new TransformerDecoderLayer(args);
    const x = randomTensor([2, 3, 8], 2);
    const memory = randomTensor([2, 5, 8], 3);
    const typed = layer.forward(x, { memory, returnAttentionScores: true });
    expect([typed.y.shape, typed.self?.shape, typed.cross?.shape]).toEqual([
      [2, 3, 8],
      [2, 2, 3, 3],
      [2, 2, 3, 5],
    ]);
    const [y, self, cross] = layer.apply(x, { memory, returnAttentionScores: true }) as tf.Tensor[];
    expectTensorsClose(typed.y, y!, { rtol: 0, atol: 0 });
    expectTensorsClose(typed.self!, self!, { rtol: 0, atol: 0 });
    expectTensorsClose(typed.cross!, cross!, { rtol: 0, atol: 0 });
    tf.dispose([x, memory, typed.y, typed.self!, typed.cross!, y!, self!, cross!]);
    layer.dispose();
  });
});
