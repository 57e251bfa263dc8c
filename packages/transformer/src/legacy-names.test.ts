import { CrossAttention } from '@attnkit/cross-attention';
import { MultiHeadAttention } from '@attnkit/multi-head';
import { PositionEmbedding, SinusoidalPositionEncoding } from '@attnkit/positional';
import { expectTensorsClose, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TokenEmbedding, TransformerDecoderLayer, TransformerEncoderLayer } from './index.js';
import { Linear } from './linear.js';
import { LayerNorm } from './norm.js';

/** Every attnkit class a tf.model can hold: its className now, and the one models were saved with before the prefix. */
const RENAMED: Array<[tf.serialization.SerializableConstructor<tf.serialization.Serializable> & { className: string }, string]> = [
  [MultiHeadAttention, 'MultiHeadAttention'],
  [CrossAttention, 'CrossAttention'],
  [TransformerEncoderLayer, 'TransformerEncoderLayer'],
  [TransformerDecoderLayer, 'TransformerDecoderLayer'],
  [PositionEmbedding, 'PositionEmbedding'],
  [SinusoidalPositionEncoding, 'SinusoidalPositionEncoding'],
  [TokenEmbedding, 'TokenEmbedding'],
  [Linear, 'AttnkitLinear'],
  [LayerNorm, 'AttnkitLayerNorm'],
];

async function artifactsOf(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return saved!;
}

describe('one registration prefix; models saved under the old names still load [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it("every attnkit layer registers as 'attnkit>Name', with default layer names free of '>'", () => {
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    for (const [cls, old] of RENAMED) {
      expect(cls.className).toMatch(/^attnkit>[A-Z]\w+$/);
      expect(map[cls.className]?.[0], cls.className).toBe(cls);
      expect(map[old]?.[0], old).toBe(cls);
    }
    for (const layer of [new TokenEmbedding({ vocabSize: 4, dModel: 2 }), new Linear({ units: 2 }), new LayerNorm()]) expect(layer.name).not.toContain('>');
  });

  it('a tf.model of every attnkit layer, saved with the old classNames, loads and predicts the same', async () => {
    const args = { dModel: 8, numHeads: 2, ffDim: 16, dropout: 0, seed: 5 };
    const ids = tf.input({ shape: [5], dtype: 'int32' });
    const embedded = new TokenEmbedding({ vocabSize: 11, dModel: 8, seed: 1 }).apply(ids) as tf.SymbolicTensor; // [B, 5, 8]
    const positions = new PositionEmbedding({ maxLength: 5, initializer: tf.initializers.randomNormal({ seed: 2 }) }).apply(embedded) as tf.SymbolicTensor;
    let h = tf.layers.add().apply([embedded, positions]) as tf.SymbolicTensor;
    h = new SinusoidalPositionEncoding({}).apply(h) as tf.SymbolicTensor;
    h = new LayerNorm().apply(new Linear({ units: 8, activation: 'gelu' }).apply(h)) as tf.SymbolicTensor;
    const memory = new TransformerEncoderLayer(args).apply(h) as tf.SymbolicTensor;
    const mixed = new MultiHeadAttention({ numHeads: 2, keyDim: 4 }).apply([h, memory]) as tf.SymbolicTensor;
    const decoded = new TransformerDecoderLayer(args).apply([mixed, memory]) as tf.SymbolicTensor;
    const out = new CrossAttention({ numHeads: 2, keyDim: 4 }).apply([decoded, memory]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: ids, outputs: out });

    const artifacts = await artifactsOf(model);
    const saved = JSON.stringify(artifacts.modelTopology);
    let legacy = saved;
    for (const [cls, old] of RENAMED) {
      expect(saved).toContain(`"class_name":"${cls.className}"`);
      legacy = legacy.replaceAll(`"class_name":"${cls.className}"`, `"class_name":"${old}"`);
    }
    expect(legacy).not.toContain('attnkit>');
    const loaded = await tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, modelTopology: JSON.parse(legacy) }));
    const tokens = tf.tensor2d(
      [
        [1, 4, 2, 9, 0],
        [3, 3, 7, 10, 5],
      ],
      [2, 5],
      'int32',
    );
    const want = model.predict(tokens) as tf.Tensor;
    const got = loaded.predict(tokens) as tf.Tensor;
    expect(got.shape).toEqual([2, 5, 8]);
    expectTensorsClose(got, want, { rtol: 1e-6, atol: 1e-6 });
    // and what it saves now carries the prefixed names again
    expect(JSON.stringify((await artifactsOf(loaded)).modelTopology)).toContain('"class_name":"attnkit>TransformerDecoderLayer"');
    tf.dispose([tokens, want, got]);
    model.dispose();
    loaded.dispose();
  });
});
