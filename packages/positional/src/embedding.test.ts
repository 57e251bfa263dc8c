import { describeEachBackend, expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak, randomTensor, randomValues } from '@attnkit/test-utils';
import * as tfl from '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { PositionEmbedding, SinusoidalPositionEncoding } from './index.js';

/** A layer whose `embeddings` table is set to known values `table` [maxLength * d]. */
function layerWithTable(maxLength: number, d: number, table: Float32Array, extra = {}) {
  const layer = new PositionEmbedding({ maxLength, ...extra });
  layer.build([null, 1, d]);
  const t = tf.tensor2d(table, [maxLength, d]);
  layer.setWeights([t]);
  t.dispose();
  return layer;
}

/** Rows offset … offset+T-1 of a [maxLength, d] table, repeated for each of B batch entries. */
function expectedRows(table: Float32Array, d: number, batch: number, length: number, offset: number): Float32Array {
  const rows = table.slice(offset * d, (offset + length) * d);
  const out = new Float32Array(batch * length * d);
  for (let b = 0; b < batch; b++) out.set(rows, b * length * d);
  return out;
}

/** Frees a layer's weights (tfjs refuses `layer.dispose()` for layers only called eagerly). */
function disposeWeights(layer: tfl.layers.Layer) {
  for (const w of layer.weights) w.dispose();
}

async function saveAndLoad(model: tfl.LayersModel) {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
  return { artifacts: artifacts!, loaded };
}

describeEachBackend('PositionEmbedding', () => {
  it('returns rows offset … offset+T-1 of its table, broadcast over the batch', () => {
    const table = randomValues(10 * 6, 1);
    const layer = layerWithTable(10, 6, table);
    const x = randomTensor([3, 4, 6], 2);
    for (const offset of [0, 2, 6]) {
      const y = layer.apply(x, { offset }) as tf.Tensor;
      expect(y.shape).toEqual([3, 4, 6]);
      expectTensorsClose(y, expectedRows(table, 6, 3, 4, offset), { rtol: 0, atol: 0, label: `offset ${offset}` });
      y.dispose();
    }
    x.dispose();
  });

  it('embeds [B, T] token ids with outputDim, as float32', () => {
    const table = randomValues(8 * 5, 3);
    const layer = new PositionEmbedding({ maxLength: 8, outputDim: 5 });
    const ids = tf.tensor2d([3, 1, 4, 1, 5, 9], [2, 3], 'int32');
    layer.apply(ids); // builds the [8, 5] table
    const t = tf.tensor2d(table, [8, 5]);
    layer.setWeights([t]);
    const y = layer.apply(ids, { offset: 5 }) as tf.Tensor;
    expect(y.shape).toEqual([2, 3, 5]);
    expect(y.dtype).toBe('float32');
    expectTensorsClose(y, expectedRows(table, 5, 2, 3, 5), { rtol: 0, atol: 0 });
    tf.dispose([ids, t, y]);
  });

  it('token by token with offsets equals the whole sequence', () => {
    const layer = layerWithTable(9, 4, randomValues(9 * 4, 4));
    const x = randomTensor([2, 9, 4], 5);
    const whole = layer.apply(x) as tf.Tensor;
    const steps = Array.from({ length: 9 }, (_, t) => layer.apply(tf.slice(x, [0, t, 0], [2, 1, 4]), { offset: t }) as tf.Tensor);
    expectTensorsClose(tf.concat(steps, 1), whole, { rtol: 0, atol: 0 });
    tf.dispose([x, whole, ...steps]);
  });

  it('trains only the rows it used: the gradient is the batch sum of the upstream gradient on those rows', () => {
    const layer = layerWithTable(6, 3, randomValues(6 * 3, 6));
    const x = tf.zeros([2, 2, 3]);
    const g = randomTensor([2, 2, 3], 7);
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.mul(layer.apply(x, { offset: 3 }) as tf.Tensor, g)) as tf.Scalar,
      [layer.trainableWeights[0]!.read() as tf.Variable],
    );
    const gv = g.dataSync();
    const expected = new Float32Array(6 * 3);
    for (let b = 0; b < 2; b++) for (let k = 0; k < 6; k++) expected[9 + k]! += gv[b * 6 + k]!;
    expectTensorsClose(Object.values(grads)[0]!, expected, { rtol: 1e-6, atol: 1e-7 });
    tf.dispose([x, g, ...Object.values(grads)]);
  });

  it('round-trips through save and load: same config, same weights, same outputs', async () => {
    const input = tfl.input({ shape: [5, 4] });
    const learned = new PositionEmbedding({
      maxLength: 7,
      initializer: tfl.initializers.randomNormal({ mean: 0, stddev: 0.5, seed: 9 }),
    });
    const sinusoid = new SinusoidalPositionEncoding({ base: 300 });
    const summed = tfl.layers.add().apply([input, learned.apply(input) as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: sinusoid.apply(summed) as tfl.SymbolicTensor });
    const { artifacts, loaded } = await saveAndLoad(model);
    const topology = JSON.stringify(artifacts.modelTopology);
    expect(topology).toContain('"class_name":"attnkit>PositionEmbedding"');
    expect(topology).toContain('"class_name":"attnkit>SinusoidalPositionEncoding"');
    const copy = loaded.layers.find((l) => l instanceof PositionEmbedding) as PositionEmbedding;
    expect(copy.maxLength).toBe(7);
    expect(copy.initializer.getClassName()).toBe('RandomNormal');
    expect(copy.initializer.getConfig()).toMatchObject({ stddev: 0.5, seed: 9 });
    const x = randomTensor([2, 5, 4], 10);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expectTensorsClose(b, a, { rtol: 0, atol: 0 });
    expectTensorsClose(copy.getWeights()[0]!, learned.getWeights()[0]!, { rtol: 0, atol: 0, label: 'embeddings' });
    expect(copy.getWeights()[0]!.shape).toEqual([7, 4]);
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });

  it('a model saved under the old classNames (PositionEmbedding, SinusoidalPositionEncoding) still loads, with the same outputs', async () => {
    const input = tfl.input({ shape: [5, 4] });
    const learned = new PositionEmbedding({ maxLength: 5, initializer: tfl.initializers.randomNormal({ seed: 4 }) });
    const summed = tfl.layers.add().apply([input, learned.apply(input) as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: new SinusoidalPositionEncoding({}).apply(summed) as tfl.SymbolicTensor });
    const { artifacts } = await saveAndLoad(model);
    // what the layers saved before the attnkit> prefix: their className without it
    const topology = JSON.stringify(artifacts.modelTopology).replaceAll('"class_name":"attnkit>', '"class_name":"');
    expect(topology).toContain('"class_name":"PositionEmbedding"');
    expect(topology).toContain('"class_name":"SinusoidalPositionEncoding"');
    const old = await tfl.loadLayersModel(tf.io.fromMemory({ ...artifacts, modelTopology: JSON.parse(topology) }));
    expect(old.layers.some((l) => l instanceof PositionEmbedding) && old.layers.some((l) => l instanceof SinusoidalPositionEncoding)).toBe(true);
    const x = randomTensor([2, 5, 4], 13);
    const [a, b] = [model.predict(x) as tf.Tensor, old.predict(x) as tf.Tensor];
    expectTensorsClose(b, a, { rtol: 0, atol: 0 });
    tf.dispose([x, a, b]);
    model.dispose();
    old.dispose();
  });

  it('inside tf.model, fit trains the table (weights exist after symbolic apply) and the trained model reloads', async () => {
    const input = tfl.input({ shape: [4, 3] });
    const learned = new PositionEmbedding({ maxLength: 4, name: 'positions', initializer: tfl.initializers.randomNormal({ seed: 3 }) });
    const added = tfl.layers.add().apply([input, learned.apply(input) as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: new SinusoidalPositionEncoding({}).apply(added) as tfl.SymbolicTensor });
    expect(learned.weights.map((w) => w.originalName)).toEqual(['positions/embeddings']);
    model.compile({ optimizer: tfl.train.sgd(0.5), loss: 'meanSquaredError' });
    const x = randomTensor([2, 4, 3], 11);
    const y = randomTensor([2, 4, 3], 12);
    const before = learned.getWeights()[0]!.clone();
    await model.fit(x, y, { epochs: 2, verbose: 0 });
    const after = learned.getWeights()[0]!;
    const changedRows = (tf.sum(tf.abs(tf.sub(after, before)), 1).arraySync() as number[]).filter((v) => v > 0).length;
    expect(changedRows).toBe(4);
    const { loaded } = await saveAndLoad(model);
    expectTensorsClose(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor, { rtol: 0, atol: 0 });
    tf.dispose([x, y, before]);
    model.dispose();
    loaded.dispose();
  });

  it('does not leak', async () => {
    const layer = layerWithTable(6, 4, randomValues(6 * 4, 11));
    const x = randomTensor([2, 3, 4], 12);
    await expectNoLeak(() => layer.apply(x, { offset: 2 }));
    x.dispose();
    disposeWeights(layer);
  });

  it('takes Keras/tfjs initializer identifiers as strings', async () => {
    for (const [identifier, className] of [
      ['ones', 'Ones'],
      ['random_normal', 'RandomNormal'],
      ['truncatedNormal', 'TruncatedNormal'],
    ] as const) {
      const layer = new PositionEmbedding({ maxLength: 3, initializer: identifier });
      expect(layer.initializer.getClassName()).toBe(className);
    }
    const layer = new PositionEmbedding({ maxLength: 3, initializer: 'ones' });
    const y = layer.apply(tf.zeros([1, 2, 4])) as tf.Tensor; // builds the [3, 4] table of ones
    expect(Array.from(await y.data())).toEqual(new Array(8).fill(1));
    y.dispose();
    disposeWeights(layer);
  });

  it('rejects bad options, inputs and offsets with a message, leaking nothing', () => {
    expect(() => new PositionEmbedding({ maxLength: 0 })).toThrow(/PositionEmbedding: maxLength must be a positive integer, but got 0/);
    expect(() => new PositionEmbedding({ maxLength: 4, outputDim: 2.5 })).toThrow(/PositionEmbedding: outputDim must be a positive integer, but got 2.5/);
    expect(() => new PositionEmbedding({ maxLength: 4, initializer: { className: 'NoSuchInit', config: {} } })).toThrow(
      /PositionEmbedding: initializer must be a registered tfjs initializer, but got 'NoSuchInit'/,
    );
    expect(() => new PositionEmbedding({ maxLength: 4, initializer: 'no_such_init' })).toThrow(
      /PositionEmbedding: initializer must be a registered tfjs initializer, but got 'NoSuchInit'/,
    );
    const layer = layerWithTable(5, 4, randomValues(5 * 4, 13));
    const x = tf.zeros([1, 3, 4]);
    const wide = tf.zeros([1, 3, 6]);
    const ids = tf.zeros([1, 3], 'int32');
    const rank4 = tf.zeros([1, 1, 3, 4]);
    expectThrowsWithoutLeak(
      () => layer.apply(x, { offset: 3 }),
      /PositionEmbedding: offset \+ sequence length must be at most maxLength 5 \(offset 3, length 3\), but got 6/,
    );
    expectThrowsWithoutLeak(() => layer.apply(x, { offset: -1 }), /PositionEmbedding: offset must be a non-negative integer, but got -1/);
    expectThrowsWithoutLeak(() => layer.apply(ids), /PositionEmbedding: \[B, T\] inputs need the outputDim option, but got inputs \[1,3\]/);
    expectThrowsWithoutLeak(() => layer.apply(rank4), /PositionEmbedding: inputs must be \[B, T\] or \[B, T, d\], but got inputs \[1,1,3,4\]/);
    const fixed = new PositionEmbedding({ maxLength: 5, outputDim: 4 });
    expectThrowsWithoutLeak(() => fixed.apply(wide), /PositionEmbedding: the input's last dimension must equal outputDim 4, but got inputs \[1,3,6\]/);
    tf.dispose([x, wide, ids, rank4]);
    disposeWeights(layer);
  });
});
