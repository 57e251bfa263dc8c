import { describeEachBackend, expectNoLeak, expectThrowsWithoutLeak, randomMask, randomTensor } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AttentionError, KVCache, MultiHeadAttention, argsFromConfig, fromTorchMultiheadAttention } from './index.js';
import { rotaryHook } from './testing/mha-oracle.js';

const mha = (args: Record<string, unknown>) => () => new MultiHeadAttention({ numHeads: 4, keyDim: 4, ...args } as never);

describeEachBackend('MultiHeadAttention errors and leaks', () => {
  let layer: MultiHeadAttention;
  let q: tf.Tensor;
  let v: tf.Tensor;
  /** Bad inputs, made before the calls so that only what a call allocates counts as a leak. */
  const bad: Record<string, tf.Tensor> = {};
  beforeAll(() => {
    layer = new MultiHeadAttention({ numHeads: 4, keyDim: 4, numKeyValueHeads: 2, queryShape: [null, null, 8], valueShape: [null, null, 8] });
    q = randomTensor([2, 4, 8], 1);
    v = randomTensor([2, 5, 8], 2);
    Object.assign(bad, {
      rank2: tf.zeros([4, 8]),
      int32: tf.zeros([2, 4, 8], 'int32'),
      batch3: tf.zeros([3, 5, 8]),
      key6: tf.zeros([2, 6, 8]),
      dim7: tf.zeros([2, 4, 7]),
      mask444: tf.ones([2, 4, 4], 'bool'),
      mask4d: tf.ones([2, 3, 4, 5], 'bool'),
      bias444: tf.zeros([2, 4, 4]),
      biasInt: tf.zeros([2, 4, 5], 'int32'),
      gone: tf.zeros([2, 5, 8]),
    });
    bad.gone!.dispose();
  });
  afterAll(() => {
    tf.dispose([q, v, ...Object.values(bad).filter((t) => !t.isDisposed)]);
    layer.dispose();
  });

  const constructorCases: Array<[string, () => unknown, string]> = [
    ['numHeads 0', mha({ numHeads: 0 }), 'MultiHeadAttention: numHeads must be a positive integer, but got 0'],
    ['keyDim 2.5', mha({ keyDim: 2.5 }), 'MultiHeadAttention: keyDim must be a positive integer, but got 2.5'],
    ['valueDim -1', mha({ valueDim: -1 }), 'MultiHeadAttention: valueDim must be a positive integer, but got -1'],
    [
      'numKeyValueHeads not dividing',
      mha({ numKeyValueHeads: 3 }),
      'MultiHeadAttention: numKeyValueHeads must be a positive integer dividing numHeads (4), but got 3',
    ],
    ['dropout 1', mha({ dropout: 1 }), 'MultiHeadAttention: dropout must be a number in [0, 1), but got 1'],
    [
      'implementation',
      mha({ implementation: 'fast' }),
      "MultiHeadAttention: implementation must be one of auto, reference, sliced, chunked, fused, but got 'fast'",
    ],
    ['outputShape [0]', mha({ outputShape: [0] }), 'MultiHeadAttention: outputShape must be a positive integer or a non-empty list of them, but got [0]'],
    ['positionHook without apply', mha({ positionHook: {} }), "MultiHeadAttention: positionHook must have an apply(x, offset) method, but got 'object'"],
    ['unknown initializer', mha({ kernelInitializer: 'fancy_init' }), "MultiHeadAttention: unknown initializer, but got 'FancyInit'"],
    [
      'Keras attention_axes over two axes',
      () => argsFromConfig({ num_heads: 2, key_dim: 2, attention_axes: [1, 2] }),
      'MultiHeadAttention: only attention over the time axis of [B, T, d] inputs is supported (attention_axes null or [1]), but got [1,2]',
    ],
    [
      'Keras activity_regularizer',
      () => argsFromConfig({ num_heads: 2, key_dim: 2, activity_regularizer: { class_name: 'L2', config: { l2: 0.1 } } }),
      'MultiHeadAttention: activity regularizers are not supported',
    ],
  ];
  it.each(constructorCases)('constructor: %s', (_, fn, message) => {
    const err = expectThrowsWithoutLeak(fn, message);
    expect(err).toBeInstanceOf(AttentionError);
  });

  const callCases: Array<[string, () => unknown, string | RegExp]> = [
    ['value missing (call)', () => layer.call(q, {}), 'MultiHeadAttention: value must be a tf.Tensor, but got undefined'],
    [
      'value missing (apply)',
      () => layer.apply(q, {}),
      'MultiHeadAttention: value is required: apply(query, {value}) or apply([query, value]), but got undefined',
    ],
    ['value twice', () => layer.apply([q, v], { value: v }), 'MultiHeadAttention: pass value and key either in the input list or as options, not both'],
    ['query rank 2', () => layer.call(bad.rank2!, { value: v }), 'MultiHeadAttention: query must be rank 3 [B, T, d], but got query [4,8]'],
    ['query int32', () => layer.call(bad.int32!, { value: v }), "MultiHeadAttention: query must be float32, but got 'int32'"],
    [
      'batch mismatch',
      () => layer.call(q, { value: bad.batch3! }),
      'MultiHeadAttention: query, value and key batch sizes must match, but got query [2,4,8], value [3,5,8] and key [3,5,8]',
    ],
    [
      'key and value lengths',
      () => layer.call(q, { value: v, key: bad.key6! }),
      'MultiHeadAttention: key and value lengths must match, but got key [2,6,8] and value [2,5,8]',
    ],
    [
      'query dim differs from build',
      () => layer.call(bad.dim7!, { value: v }),
      'MultiHeadAttention: query last dim must be 8, as the layer was built, but got query [2,4,7]',
    ],
    [
      'mask shape',
      () => layer.call(q, { value: v, attentionMask: bad.mask444! }),
      'MultiHeadAttention: attentionMask must broadcast to [B, Tq, Tk] = [2,4,5] or [B, N, Tq, Tk] = [2,4,4,5], but got attentionMask [2,4,4]',
    ],
    [
      'mask rank 4 with 3 heads for 4',
      () => layer.call(q, { value: v, attentionMask: bad.mask4d! }),
      'MultiHeadAttention: attentionMask must broadcast to [B, Tq, Tk] = [2,4,5] or [B, N, Tq, Tk] = [2,4,4,5], but got attentionMask [2,3,4,5]',
    ],
    [
      'bias shape',
      () => layer.call(q, { value: v, attentionBias: bad.bias444! }),
      'MultiHeadAttention: attentionBias must broadcast to [B, Tq, Tk] = [2,4,5] or [B, N, Tq, Tk] = [2,4,4,5], but got attentionBias [2,4,4]',
    ],
    ['bias dtype', () => layer.call(q, { value: v, attentionBias: bad.biasInt! }), "MultiHeadAttention: attentionBias must be float32, but got 'int32'"],
    [
      'useCausalMask not boolean',
      () => layer.call(q, { value: v, useCausalMask: 'yes' as never }),
      "MultiHeadAttention: useCausalMask must be a boolean, but got 'yes'",
    ],
    ['cache not a KVCache', () => layer.call(q, { value: v, cache: {} as never }), "MultiHeadAttention: cache must be a KVCache, but got 'object'"],
    ['disposed value', () => layer.call(q, { value: bad.gone! }), 'MultiHeadAttention: value has been disposed, but got value [2,5,8]'],
  ];
  it.each(callCases)('call: %s', (_, fn, message) => {
    const err = expectThrowsWithoutLeak(fn, message);
    expect(err).toBeInstanceOf(AttentionError);
  });

  it('call: a cache filled for another batch size is refused before anything changes', () => {
    const cache = new KVCache();
    const one = randomTensor([1, 3, 8], 3);
    tf.dispose(layer.call(one, { value: one, cache }) as tf.Tensor);
    expectThrowsWithoutLeak(
      () => layer.call(q, { value: v, cache }),
      'MultiHeadAttention: new keys and values must match the cached batch, heads and head dims, but got cached key [1,2,3,4], cached value [1,2,3,4], new key [2,2,5,4] and new value [2,2,5,4]',
    );
    expect(cache.length).toBe(3);
    cache.dispose();
    one.dispose();
  });

  it('tf.model: a tensor attentionMask cannot be baked into a graph', () => {
    const qi = tf.input({ shape: [4, 8] });
    const other = new MultiHeadAttention({ numHeads: 2, keyDim: 2 });
    const mask = tf.ones([1, 4, 4], 'bool');
    expectThrowsWithoutLeak(
      () => other.apply([qi, qi], { attentionMask: mask }),
      "MultiHeadAttention: attentionMask cannot be used inside tf.model (only serializable options), but got 'object'",
    );
    mask.dispose();
  });

  const cacheCases: Array<[string, () => unknown, string]> = [
    ['maxLength 0', () => new KVCache({ maxLength: 0 }), 'KVCache: maxLength must be a positive integer or null, but got 0'],
    ['reorder an empty cache', () => new KVCache().reorder([0]), 'KVCache.reorder: the cache is empty, but got 0'],
    [
      'reorder out of range',
      () => {
        const c = new KVCache();
        tf.tidy(() => {
          c.append(tf.zeros([2, 1, 1, 2]), tf.zeros([2, 1, 1, 2]));
        });
        try {
          c.reorder([0, 2]);
        } finally {
          c.dispose();
        }
      },
      'KVCache.reorder: batchIndices must be integers in [0, 2), but got [0,2]',
    ],
    [
      'append key/value disagree',
      () =>
        tf.tidy(() => {
          new KVCache().append(tf.zeros([1, 2, 3, 4]), tf.zeros([1, 2, 2, 4]));
        }),
      'KVCache.append: new key and value must agree in batch, heads and length, but got key [1,2,3,4] and value [1,2,2,4]',
    ],
  ];
  it.each(cacheCases)('KVCache: %s', (_, fn, message) => {
    expectThrowsWithoutLeak(fn, message);
  });

  const torchCases: Array<[string, () => Record<string, tf.Tensor>, number, string]> = [
    [
      'out_proj.weight not square',
      () => ({ in_proj_weight: tf.zeros([12, 4]), 'out_proj.weight': tf.zeros([4, 3]) }),
      2,
      'fromTorchMultiheadAttention: out_proj.weight must be a square [E, E] tensor, but got out_proj.weight [4,3]',
    ],
    [
      'numHeads not dividing E',
      () => ({ in_proj_weight: tf.zeros([12, 4]), 'out_proj.weight': tf.zeros([4, 4]) }),
      3,
      'fromTorchMultiheadAttention: numHeads must be a positive integer dividing embed_dim 4, but got 3',
    ],
    [
      'in_proj_weight shape',
      () => ({ in_proj_weight: tf.zeros([8, 4]), 'out_proj.weight': tf.zeros([4, 4]) }),
      2,
      'fromTorchMultiheadAttention: in_proj_weight must be [3E, E] = [12,4], but got in_proj_weight [8,4]',
    ],
    [
      'add_bias_kv',
      () => ({ in_proj_weight: tf.zeros([12, 4]), 'out_proj.weight': tf.zeros([4, 4]), bias_k: tf.zeros([1, 1, 4]) }),
      2,
      "fromTorchMultiheadAttention: add_bias_kv (bias_k, bias_v) is not supported, but got 'bias_k'",
    ],
  ];
  it.each(torchCases)('fromTorchMultiheadAttention: %s', (_, make, numHeads, message) => {
    const state = make();
    expectThrowsWithoutLeak(() => fromTorchMultiheadAttention(state as never, { numHeads }), message);
    tf.dispose(Object.values(state));
  });

  it('no leaks: eager call and apply, with mask, causal, scores, hook, dropout in training', async () => {
    const mask = randomMask([2, 4, 5], 4);
    await expectNoLeak(() => layer.call(q, { value: v }));
    await expectNoLeak(() => layer.apply([q, v, v], { attentionMask: mask, useCausalMask: true }));
    await expectNoLeak(() => layer.call(q, { value: v, returnAttentionScores: true }));
    const hooked = new MultiHeadAttention({
      numHeads: 2,
      keyDim: 4,
      dropout: 0.3,
      positionHook: rotaryHook,
      queryShape: [null, null, 8],
      valueShape: [null, null, 8],
    });
    await expectNoLeak(() => hooked.call(q, { value: v, training: true, attentionMask: mask }));
    hooked.dispose();
    mask.dispose();
  });

  it('no leaks: building on first call creates exactly the 8 weights; dispose frees them', async () => {
    const before = tf.memory().numTensors;
    const fresh = new MultiHeadAttention({ numHeads: 2, keyDim: 3 });
    const out = fresh.apply(q, { value: v }) as tf.Tensor;
    out.dispose();
    expect(tf.memory().numTensors - before).toBe(8);
    fresh.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('no leaks: model.predict and model.fit steps', async () => {
    const qi = tf.input({ shape: [4, 8] });
    const vi = tf.input({ shape: [5, 8] });
    const inner = new MultiHeadAttention({ numHeads: 2, keyDim: 4, dropout: 0.1, useCausalMask: true });
    const model = tf.model({ inputs: [qi, vi], outputs: inner.apply([qi, vi]) as tf.SymbolicTensor });
    model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const target = tf.zeros([2, 4, 8]);
    await model.fit([q, v], target, { epochs: 1, verbose: 0 }); // creates optimizer state once
    await expectNoLeak(() => model.predict([q, v]));
    const before = tf.memory().numTensors;
    await model.fit([q, v], target, { epochs: 2, verbose: 0 });
    expect(tf.memory().numTensors - before).toBe(0);
    target.dispose();
    model.dispose();
  });
});
