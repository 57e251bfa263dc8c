import { describeEachBackend, expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak, randomTensor } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { LayerNorm } from './norm.js';
import { AttentionError, Transformer, TransformerDecoderLayer, TransformerEncoderLayer, beamSearch, greedyDecode } from './index.js';

const args = { dModel: 16, numHeads: 4, ffDim: 32, dropout: 0 };

describeEachBackend('encoder and decoder layers', () => {
  for (const normFirst of [false, true]) {
    it(`encoder: padded positions cannot change the real ones (${normFirst ? 'pre' : 'post'}-norm)`, () => {
      const layer = new TransformerEncoderLayer({ ...args, normFirst });
      const x = randomTensor([2, 5, 16], 1);
      const paddingMask = tf.tensor2d(
        [
          [1, 1, 1, 1, 1],
          [1, 1, 1, 0, 0],
        ],
        [2, 5],
        'bool',
      );
      const y = layer.apply(x, { paddingMask }) as tf.Tensor;
      const scribble = tf.mul(randomTensor([2, 5, 16], 2, 5, 9), tf.reshape(tf.tensor([0, 0, 0, 0, 0, 0, 0, 0, 1, 1]), [2, 5, 1]));
      const y2 = layer.apply(tf.add(x, scribble), { paddingMask }) as tf.Tensor;
      expectTensorsClose(tf.slice(y2, [1, 0, 0], [1, 3, 16]), tf.slice(y, [1, 0, 0], [1, 3, 16]), { rtol: 1e-5, atol: 1e-5 });
      expect(tf.max(tf.abs(tf.sub(tf.slice(y2, [0, 0, 0], [1, 5, 16]), tf.slice(y, [0, 0, 0], [1, 5, 16])))).dataSync()[0]).toBe(0);
      tf.dispose([x, paddingMask, y, scribble, y2]);
      layer.dispose();
    });

    it(`decoder: output t has zero gradient w.r.t. inputs after t (${normFirst ? 'pre' : 'post'}-norm)`, () => {
      const layer = new TransformerDecoderLayer({ ...args, normFirst });
      const x = randomTensor([1, 6, 16], 3);
      const memory = randomTensor([1, 4, 16], 4);
      // a random read-out: a plain sum of a post-norm output is constant (layer norm centres it)
      const readout = randomTensor([1, 1, 16], 11);
      for (const t of [0, 2, 5]) {
        const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(tf.slice(layer.apply(input, { memory }) as tf.Tensor, [0, t, 0], [1, 1, 16]), readout)))(x);
        const perPosition = tf.sum(tf.abs(g), [0, 2]).arraySync() as number[];
        for (const [j, v] of perPosition.entries()) {
          if (j > t) expect(v).toBe(0);
          else expect(v).toBeGreaterThan(0);
        }
        g.dispose();
      }
      tf.dispose([x, memory, readout]);
      layer.dispose();
    });
  }

  it('LayerNorm equals tfjs-layers LayerNormalization, value and gradient', () => {
    const x = randomTensor([3, 4, 8], 5, -3, 3);
    const ours = new LayerNorm({ epsilon: 1e-5 });
    const theirs = tf.layers.layerNormalization({ axis: -1, epsilon: 1e-5 });
    ours.build(x.shape);
    theirs.build(x.shape);
    const gamma = randomTensor([8], 6);
    const beta = randomTensor([8], 7);
    ours.setWeights([gamma, beta]);
    theirs.setWeights([gamma, beta]);
    expectTensorsClose(ours.apply(x) as tf.Tensor, theirs.apply(x) as tf.Tensor, { rtol: 1e-5, atol: 1e-5 });
    const w = randomTensor([3, 4, 8], 8);
    const grad = (l: tf.layers.Layer) => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(l.apply(v) as tf.Tensor, w)))(x);
    expectTensorsClose(grad(ours), grad(theirs), { rtol: 1e-4, atol: 1e-5 });
    tf.dispose([x, gamma, beta, w]);
  });

  it('layers round-trip through getConfig / fromConfig', () => {
    const layer = new TransformerDecoderLayer({ ...args, normFirst: true, activation: 'gelu' });
    const copy = tf.serialization.SerializationMap.getMap().classNameMap.TransformerDecoderLayer![1](
      TransformerDecoderLayer as never,
      layer.getConfig(),
    ) as TransformerDecoderLayer;
    expect(copy.config).toEqual(layer.config);
  });

  it('leaks no tensor in training-mode forward and backward', async () => {
    const layer = new TransformerDecoderLayer({ ...args, dropout: 0.1 });
    const x = randomTensor([2, 3, 16], 9);
    const memory = randomTensor([2, 4, 16], 10);
    tf.dispose(layer.apply(x, { memory }) as tf.Tensor);
    await expectNoLeak(() => tf.grad((v: tf.Tensor) => tf.sum(layer.apply(v, { memory, training: true }) as tf.Tensor))(x));
    tf.dispose([x, memory]);
    layer.dispose();
  });
});

describe('Transformer configuration and errors', () => {
  it("the base preset has the paper's sizes and parameter count", () => {
    const V = 1000;
    const m = Transformer.base({ sourceVocabSize: V, targetVocabSize: V, shareEmbeddings: true });
    const d = 512;
    const ff = 2048;
    const attention = 4 * (d * d + d);
    const ffn = d * ff + ff + ff * d + d;
    const norm = 2 * d;
    const expected = V * d + 6 * (attention + ffn + 2 * norm) + 6 * (2 * attention + ffn + 3 * norm);
    expect(m.countParams()).toBe(expected);
    expect(m.config).toMatchObject({ dModel: 512, numHeads: 8, ffDim: 2048, numEncoderLayers: 6, numDecoderLayers: 6, dropout: 0.1 });
    m.dispose();
  });

  it('the same seed gives the same initial weights; another seed does not', () => {
    const config = {
      sourceVocabSize: 9,
      targetVocabSize: 9,
      dModel: 8,
      numHeads: 2,
      ffDim: 8,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
      positional: 'learned' as const,
      tieOutput: false,
    };
    const [a, b, c] = [7, 7, 8].map((seed) => new Transformer({ ...config, seed }));
    const values = (m: Transformer) => m.namedWeights().map((w) => Array.from(w.variable.read().dataSync()));
    expect(values(b!)).toEqual(values(a!));
    const [va, vc] = [values(a!), values(c!)];
    // every randomly initialised weight differs (biases, gammas and betas start as constants)
    const random = a!.namedWeights().flatMap((w, i) => (/kernel|embeddings/.test(w.name) ? [i] : []));
    expect(random.length).toBe(21); // 6 encoder + 10 decoder kernels, 4 embedding tables, the output kernel
    for (const i of random) expect(vc[i]).not.toEqual(va[i]);
    for (const m of [a!, b!, c!]) m.dispose();
  });

  it('refuses bad configurations and inputs, naming what it got', () => {
    const cases: Array<[() => unknown, string]> = [
      [() => new Transformer({ sourceVocabSize: 0, targetVocabSize: 5 }), 'Transformer: sourceVocabSize must be a positive integer, but got 0'],
      [
        () => new Transformer({ sourceVocabSize: 5, targetVocabSize: 6, shareEmbeddings: true }),
        "Transformer: shared embeddings need equal vocabularies, but got '5 and 6'",
      ],
      [() => new Transformer({ sourceVocabSize: 5, targetVocabSize: 5, eosId: 5 }), 'Transformer: eosId must be a token id below targetVocabSize 5, but got 5'],
      [
        () => new TransformerEncoderLayer({ dModel: 10, numHeads: 4 }),
        'TransformerEncoderLayer: numHeads must be a positive integer dividing dModel (10), but got 4',
      ],
      [() => new TransformerDecoderLayer({ dModel: 8, numHeads: 2, dropout: 1 }), 'TransformerDecoderLayer: dropout must be a number in [0, 1), but got 1'],
    ];
    for (const [fn, message] of cases) expect(expectThrowsWithoutLeak(fn, message)).toBeInstanceOf(AttentionError);
    const m = new Transformer({ sourceVocabSize: 7, targetVocabSize: 7, dModel: 8, numHeads: 2, ffDim: 8, numEncoderLayers: 1, numDecoderLayers: 1 });
    m.build();
    const floats = tf.zeros([1, 3]);
    const ids = tf.tensor2d([[3, 4]], [1, 2], 'int32');
    const encoder = new TransformerEncoderLayer({ dModel: 8, numHeads: 2 });
    const wrongWidth = tf.zeros([1, 2, 6]);
    const more: Array<[() => unknown, string]> = [
      [() => m.encode(floats), 'Transformer.encode: source must be non-empty int32 token ids [B, T], but got source [1,3]'],
      [() => m.decode(ids, {}), "Transformer.decode: pass exactly one of memory and state, but got 'neither'"],
      [() => greedyDecode(m, floats), 'greedyDecode: source must be non-empty int32 token ids [B, Ts], but got source [1,3]'],
      [() => greedyDecode(m, ids, { maxLength: 0 }), 'greedyDecode: maxLength must be a positive integer, but got 0'],
      [() => beamSearch(m, ids, { beamSize: 0 }), 'beamSearch: beamSize must be a positive integer, but got 0'],
      [
        () => m.loss(ids, ids, tf.tensor2d([[1]], [1, 1], 'int32')),
        'Transformer.loss: targetIn and targetOut must have the same shape [B, Tt], but got targetIn [1,2] and targetOut [1,1]',
      ],
      [() => encoder.apply(wrongWidth), 'TransformerEncoderLayer: input must be [B, T, dModel=8], but got input [1,2,6]'],
    ];
    for (const [fn, message] of more) expect(() => fn()).toThrow(message);
    tf.dispose([floats, ids, wrongWidth]);
    m.dispose();
  });
});
