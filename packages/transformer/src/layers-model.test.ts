import { expectTensorsClose, expectThrowsWithoutLeak, randomTensor, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { AttentionError, Transformer, TransformerDecoderLayer, TransformerEncoderLayer } from './index.js';

/** Saves through a handler that keeps what a file would (JSON topology, binary weights), then loads it. */
async function saveAndLoad(model: tf.LayersModel): Promise<{ loaded: tf.LayersModel; saved: tf.io.ModelArtifacts }> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = { ...JSON.parse(JSON.stringify({ ...artifacts, weightData: undefined })), weightData: artifacts.weightData };
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return { loaded: await tf.loadLayersModel(tf.io.fromMemory(saved!)), saved: saved! };
}

/** fit() for a few epochs; every weight of the model must change, with no tfjs discrepancy warning. */
async function fitChangesEveryWeight(model: tf.LayersModel, inputs: tf.Tensor[], target: tf.Tensor) {
  const warn = vi.spyOn(console, 'warn');
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
  const before = model.getWeights().map((w) => w.clone());
  await model.fit(inputs, target, { epochs: 2, batchSize: inputs[0]!.shape[0]!, verbose: 0 });
  const after = model.getWeights();
  const unchanged = after.flatMap((w, i) => (tf.tidy(() => tf.max(tf.abs(tf.sub(w, before[i]!))).dataSync()[0]!) > 0 ? [] : [model.weights[i]!.originalName]));
  expect(unchanged).toEqual([]);
  expect(warn.mock.calls.flat().join(' ')).not.toContain('Discrepancy');
  warn.mockRestore();
  tf.dispose(before);
  return after.length;
}

const args = { dModel: 8, numHeads: 2, ffDim: 16, dropout: 0, seed: 3 };

describe('encoder and decoder layers inside tf.model [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it('encoder: weights and stable names after symbolic apply; fit trains all 16; save -> load gives the same outputs', async () => {
    const x = tf.input({ shape: [5, 8] });
    const pad = tf.input({ shape: [5] });
    const enc = new TransformerEncoderLayer({ ...args, name: 'enc' });
    const y = enc.apply([x, pad]) as tf.SymbolicTensor;
    const model = tf.model({ inputs: [x, pad], outputs: y });
    expect(enc.weights.map((w) => w.originalName)).toEqual([
      ...['query', 'key', 'value', 'attention_output'].flatMap((n) => [`enc/self_attention/${n}/kernel`, `enc/self_attention/${n}/bias`]),
      'enc/attention_norm/gamma',
      'enc/attention_norm/beta',
      'enc/ffn_intermediate/kernel',
      'enc/ffn_intermediate/bias',
      'enc/ffn_output/kernel',
      'enc/ffn_output/bias',
      'enc/ffn_norm/gamma',
      'enc/ffn_norm/beta',
    ]);
    const xs = randomTensor([3, 5, 8], 1);
    const mask = tf.tensor2d(
      [
        [1, 1, 1, 1, 1],
        [1, 1, 1, 0, 0],
        [1, 1, 0, 0, 0],
      ],
      [3, 5],
    );
    const target = randomTensor([3, 5, 8], 2);
    expect(await fitChangesEveryWeight(model, [xs, mask], target)).toBe(16);
    const predicted = model.predict([xs, mask]) as tf.Tensor;
    const eager = enc.apply(xs, { paddingMask: mask }) as tf.Tensor;
    expectTensorsClose(predicted, eager, { rtol: 1e-6, atol: 1e-6 });
    const { loaded, saved } = await saveAndLoad(model);
    expect(saved.weightSpecs!.map((s) => s.name)).toEqual(enc.weights.map((w) => w.originalName));
    expectTensorsClose(loaded.predict([xs, mask]) as tf.Tensor, predicted, { rtol: 1e-6, atol: 1e-6 });
    tf.dispose([xs, mask, target, predicted, eager]);
    model.dispose();
    loaded.dispose();
  });

  it('a model saved before any call holds every weight', async () => {
    const x = tf.input({ shape: [4, 8] });
    const model = tf.model({ inputs: x, outputs: new TransformerEncoderLayer({ ...args, name: 'fresh' }).apply(x) as tf.SymbolicTensor });
    const { loaded, saved } = await saveAndLoad(model);
    expect(saved.weightSpecs!.length).toBe(16);
    const xs = randomTensor([2, 4, 8], 3);
    expectTensorsClose(loaded.predict(xs) as tf.Tensor, model.predict(xs) as tf.Tensor, { rtol: 1e-6, atol: 1e-6 });
    xs.dispose();
    model.dispose();
    loaded.dispose();
  });

  it('decoder: apply([x, memory, memoryMask]) predicts; fit trains all 26 weights; save -> load gives the same outputs', async () => {
    const x = tf.input({ shape: [4, 8] });
    const m = tf.input({ shape: [6, 8] });
    const mm = tf.input({ shape: [6] });
    const dec = new TransformerDecoderLayer({ ...args, name: 'dec', normFirst: true });
    const model = tf.model({ inputs: [x, m, mm], outputs: dec.apply([x, m, mm]) as tf.SymbolicTensor });
    expect(dec.weights.map((w) => w.originalName).filter((n) => n.includes('/cross_attention/'))[0]).toBe('dec/cross_attention/query/kernel');
    expect(dec.weights.map((w) => w.originalName)).toContain('dec/cross_attention_norm/gamma');
    const xs = randomTensor([2, 4, 8], 4);
    const ms = randomTensor([2, 6, 8], 5);
    const mask = tf.tensor2d(
      [
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 0, 0],
      ],
      [2, 6],
    );
    const target = randomTensor([2, 4, 8], 6);
    expect(await fitChangesEveryWeight(model, [xs, ms, mask], target)).toBe(26);
    const predicted = model.predict([xs, ms, mask]) as tf.Tensor;
    const eager = dec.apply(xs, { memory: ms, memoryMask: mask }) as tf.Tensor;
    expectTensorsClose(predicted, eager, { rtol: 1e-6, atol: 1e-6 });
    const { loaded } = await saveAndLoad(model);
    expectTensorsClose(loaded.predict([xs, ms, mask]) as tf.Tensor, predicted, { rtol: 1e-6, atol: 1e-6 });
    tf.dispose([xs, ms, mask, target, predicted, eager]);
    model.dispose();
    loaded.dispose();
  });

  it('inside tf.model, masks as apply() options are refused, naming them', () => {
    const x = tf.input({ shape: [4, 8] });
    const dec = new TransformerDecoderLayer(args);
    const bias = tf.zeros([4, 4]);
    const err = expectThrowsWithoutLeak(
      () => dec.apply([x, x], { selfAttentionBias: bias }),
      "TransformerDecoderLayer: inside tf.model only training may be an apply() option (pass masks and memory as inputs), but got 'selfAttentionBias'",
    );
    expect(err).toBeInstanceOf(AttentionError);
    bias.dispose();
  });
});

describe('typed options [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it('a misspelt encoder or decoder option does not compile', () => {
    const enc = new TransformerEncoderLayer(args);
    const dec = new TransformerDecoderLayer(args);
    const x = randomTensor([1, 2, 8], 9);
    // @ts-expect-error paddingMsk is not an option (paddingMask is)
    const a = enc.apply(x, { paddingMsk: null }) as tf.Tensor;
    // @ts-expect-error useCasualMask is not an option (useCausalMask is)
    const b = dec.apply(x, { memory: x, useCasualMask: false }) as tf.Tensor;
    expect(a.shape).toEqual([1, 2, 8]);
    expect(b.shape).toEqual([1, 2, 8]);
    tf.dispose([x, a, b]);
    enc.dispose();
    dec.dispose();
  });
});

describe('Transformer masks and biases [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it('encode/decode: a -1e9 bias on some keys equals masking them; a zero bias changes nothing', () => {
    const model = new Transformer({
      sourceVocabSize: 9,
      targetVocabSize: 9,
      dModel: 8,
      numHeads: 2,
      ffDim: 8,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
      seed: 5,
    });
    const src = tf.tensor2d([[3, 4, 5, 6]], [1, 4], 'int32');
    const tgt = tf.tensor2d([[1, 7, 8]], [1, 3], 'int32');
    const keep = tf.tensor2d(
      [
        [1, 0, 1, 1],
        [1, 1, 0, 1],
        [1, 1, 1, 0],
        [0, 1, 1, 1],
      ],
      [4, 4],
      'bool',
    ); // [Ts, Ts]
    const cross = tf.tensor2d(
      [
        [1, 1, 0, 1],
        [0, 1, 1, 1],
        [1, 0, 1, 1],
      ],
      [3, 4],
      'bool',
    ); // [Tt, Ts]
    const asBias = (m: tf.Tensor) => tf.where(m, tf.zeros(m.shape), tf.fill(m.shape, -1e9));
    const run = (enc: Record<string, tf.Tensor>, dec: Record<string, tf.Tensor>) =>
      tf.tidy(() => {
        const { memory, memoryMask } = model.encode(src, enc);
        return model.decode(tgt, { memory, memoryMask, ...dec }).logits;
      });
    const masked = run({ attentionMask: keep }, { crossAttentionMask: cross });
    const [kb, cb] = [asBias(keep), asBias(cross)];
    const biased = run({ attentionBias: kb }, { crossAttentionBias: cb });
    expectTensorsClose(biased, masked, { rtol: 1e-5, atol: 1e-6 });
    const plain = run({}, {});
    const zeros = tf.zeros([3, 3]);
    const zeroBias = run({}, { selfAttentionBias: zeros });
    expectTensorsClose(zeroBias, plain, { rtol: 1e-6, atol: 1e-7 });
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(masked, plain))).dataSync()[0]!)).toBeGreaterThan(1e-3);
    tf.dispose([src, tgt, keep, cross, kb, cb, masked, biased, plain, zeros, zeroBias]);
    model.dispose();
  });
});

describe('decoder target padding [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it('paddingMask [B, T] (tgt_key_padding_mask inverted) equals the same keys masked by selfAttentionMask; shapes are checked', () => {
    const dec = new TransformerDecoderLayer(args);
    const x = randomTensor([2, 4, 8], 20);
    const memory = randomTensor([2, 3, 8], 21);
    const padding = tf.tensor2d(
      [
        [1, 1, 1, 1],
        [1, 1, 0, 0],
      ],
      [2, 4],
      'bool',
    );
    const a = dec.apply(x, { memory, paddingMask: padding }) as tf.Tensor;
    const asMask = tf.expandDims(padding, 1); // [B, 1, T]
    const b = dec.apply(x, { memory, selfAttentionMask: asMask }) as tf.Tensor;
    expectTensorsClose(a, b, { rtol: 1e-6, atol: 1e-7 });
    const open = dec.apply(x, { memory }) as tf.Tensor;
    // unpadded sentence: unchanged; padded one: causal rows 0-1 see only real keys (unchanged), rows 2-3 lose the padded keys
    expectTensorsClose(tf.slice(a, [0, 0, 0], [1, 4, 8]), tf.slice(open, [0, 0, 0], [1, 4, 8]), { rtol: 1e-6, atol: 1e-7 });
    expectTensorsClose(tf.slice(a, [1, 0, 0], [1, 2, 8]), tf.slice(open, [1, 0, 0], [1, 2, 8]), { rtol: 1e-6, atol: 1e-7 });
    expect(
      tf.tidy(() => tf.min(tf.max(tf.abs(tf.sub(tf.slice(a, [1, 2, 0], [1, 2, 8]), tf.slice(open, [1, 2, 0], [1, 2, 8]))), -1)).dataSync()[0]!),
    ).toBeGreaterThan(1e-4);
    const wrong = tf.ones([2, 3], 'bool');
    expectThrowsWithoutLeak(
      () => dec.apply(x, { memory, paddingMask: wrong }),
      'TransformerDecoderLayer: paddingMask must be [B, Tk] = [2,4], but got paddingMask [2,3]',
    );
    tf.dispose([x, memory, padding, a, asMask, b, open, wrong]);
    dec.dispose();
  });
});

describe('Transformer.dispose [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it('frees every weight also when build() was never called (only encode / decode / logits)', () => {
    const before = tf.memory().numTensors;
    const config = {
      sourceVocabSize: 9,
      targetVocabSize: 9,
      dModel: 8,
      numHeads: 2,
      ffDim: 8,
      numEncoderLayers: 1,
      numDecoderLayers: 1,
      normFirst: true,
      positional: 'learned' as const,
      tieOutput: false,
    };
    const model = new Transformer(config);
    const src = tf.tensor2d([[3, 4, 5]], [1, 3], 'int32');
    const tgt = tf.tensor2d([[1, 6]], [1, 2], 'int32');
    tf.dispose(model.logits(src, tgt));
    const weights = tf.memory().numTensors - before - 2; // everything but src and tgt is a weight
    expect(weights).toBeGreaterThan(40);
    model.dispose();
    model.dispose(); // a second dispose is a no-op
    tf.dispose([src, tgt]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
