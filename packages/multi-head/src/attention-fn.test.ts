import { FUSED_ATTENTION_KERNEL } from '@attnkit/core';
import { registerFusedAttention, unregisterFusedAttention } from '@attnkit/kernels';
import { expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak, randomTensor, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AttentionFn, type AttentionFnOptions, MultiHeadAttention, coreAttentionFn } from './index.js';

const B = 2;
const Tq = 3;
const Tk = 5;
const d = 8;
const shapes = { queryShape: [null, null, d], valueShape: [null, null, d] };

/** Two layers with the same weights: `a` as given, `b` with `b`'s own arguments. */
function twins(a: ConstructorParameters<typeof MultiHeadAttention>[0], b: Partial<ConstructorParameters<typeof MultiHeadAttention>[0]>) {
  const first = new MultiHeadAttention({ ...shapes, ...a });
  const second = new MultiHeadAttention({ ...shapes, ...a, ...b });
  second.setWeights(first.getWeights());
  return [first, second] as const;
}

describe('MultiHeadAttention attentionFn [cpu]', () => {
  beforeAll(() => useBackend('cpu'));

  it('a custom attentionFn gets the projected heads and the call options, and its output is what the layer merges', () => {
    const calls: Array<{ query: number[]; key: number[]; value: number[]; options: Omit<AttentionFnOptions, 'mask' | 'bias'>; mask: number[] | null }> = [];
    // every output head is a constant: the layer's output must be that constant through the output projection
    const constant: AttentionFn = (query, key, value, options) => {
      const { mask, bias: _bias, ...rest } = options;
      calls.push({ query: query.shape, key: key.shape, value: value.shape, options: rest, mask: mask ? mask.shape : null });
      return { output: tf.fill([query.shape[0], query.shape[1], query.shape[2], value.shape[3]], 0.5) as tf.Tensor4D, weights: null };
    };
    const layer = new MultiHeadAttention({ numHeads: 4, keyDim: 3, valueDim: 2, numKeyValueHeads: 2, dropout: 0.25, ...shapes, attentionFn: constant });
    const [query, value] = [randomTensor([B, Tq, d], 1), randomTensor([B, Tk, d], 2)];
    const mask = tf.ones([B, Tq, Tk], 'bool');
    const y = layer.apply(query, { value, attentionMask: mask, useCausalMask: true, training: true }) as tf.Tensor;
    expect(calls).toEqual([
      {
        query: [B, 4, Tq, 3], // [B, N, Tq, H]
        key: [B, 2, Tk, 3], // [B, Nkv, Tk, H]
        value: [B, 2, Tk, 2], // [B, Nkv, Tk, Hv]
        options: { causal: true, dropout: 0.25, training: true, returnWeights: false },
        mask: [B, 1, Tq, Tk], // Keras' [B, Tq, Tk] for every head
      },
    ]);
    const [outKernel, outBias] = layer.getWeights().slice(6); // attention_output/kernel [N, Hv, d], bias [d]
    const expected = tf.tidy(() => tf.broadcastTo(tf.add(tf.mul(tf.sum(outKernel!, [0, 1]), 0.5), outBias!), [B, Tq, d]));
    expectTensorsClose(y, expected, { rtol: 1e-5, atol: 1e-6 });
    expect(layer.lastAttentionPath).toBe('custom');
    tf.dispose([query, value, mask, y, expected]);
    layer.dispose();
  });

  it('coreAttentionFn(implementation) as attentionFn equals the implementation shorthand, and reports the path', () => {
    const [short, injected] = twins(
      { numHeads: 2, keyDim: 4, implementation: 'reference' },
      { implementation: undefined, attentionFn: coreAttentionFn('reference') },
    );
    const [query, value] = [randomTensor([B, Tq, d], 3), randomTensor([B, Tk, d], 4)];
    const a = short.apply(query, { value, returnAttentionScores: true }) as tf.Tensor[];
    const b = injected.apply(query, { value, returnAttentionScores: true }) as tf.Tensor[];
    expectTensorsClose(b[0]!, a[0]!, { rtol: 0, atol: 0 });
    expectTensorsClose(b[1]!, a[1]!, { rtol: 0, atol: 0 });
    expect([short.lastAttentionPath, injected.lastAttentionPath]).toEqual(['reference', 'reference']);
    expect(injected.customAttention).toBe(true);
    tf.dispose([query, value, ...a, ...b]);
    short.dispose();
    injected.dispose();
  });

  it("returnAttentionScores returns the attentionFn's weights; a custom path it reports is the layer's report", () => {
    const uniform: AttentionFn = (query, key, value, options) => {
      const weights = tf.fill([query.shape[0], query.shape[1], query.shape[2], key.shape[2]], 1 / key.shape[2]) as tf.Tensor4D; // [B, N, Tq, Tk]
      const output = coreAttentionFn('reference')(query, key, value, { ...options, returnWeights: false }).output;
      return { output, weights: options.returnWeights ? weights : null, path: 'reference' };
    };
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 4, ...shapes, attentionFn: uniform });
    const [query, value] = [randomTensor([B, Tq, d], 5), randomTensor([B, Tk, d], 6)];
    const [, scores] = layer.apply(query, { value, returnAttentionScores: true }) as tf.Tensor[];
    expect(scores!.shape).toEqual([B, 2, Tq, Tk]);
    expectTensorsClose(scores!, tf.fill([B, 2, Tq, Tk], 1 / Tk), { rtol: 0, atol: 1e-7 });
    expect(layer.lastAttentionPath).toBe('reference');
    tf.dispose([query, value, scores!]);
    layer.dispose();
  });

  it('errors: attentionFn with another implementation, a non-function, a result of the wrong shape; no leaks', async () => {
    const noop: AttentionFn = (q, _k, v) => ({ output: tf.zeros([q.shape[0], q.shape[1], q.shape[2], v.shape[3]]) as tf.Tensor4D, weights: null });
    expectThrowsWithoutLeak(
      () => new MultiHeadAttention({ numHeads: 2, keyDim: 4, implementation: 'sliced', attentionFn: noop }),
      "MultiHeadAttention: pass either attentionFn or implementation, not both (implementation is shorthand for attentionFn: coreAttentionFn(implementation); only 'auto' may go with a custom attentionFn), but got 'sliced'",
    );
    expectThrowsWithoutLeak(
      () => new MultiHeadAttention({ numHeads: 2, keyDim: 4, attentionFn: 'flash' as unknown as AttentionFn }),
      "MultiHeadAttention: attentionFn must be a function, but got 'string'",
    );
    expect(new MultiHeadAttention({ numHeads: 2, keyDim: 4, implementation: 'auto', attentionFn: noop }).customAttention).toBe(true); // 'auto' is what a saved config carries
    const wrong: AttentionFn = (q) => ({ output: tf.zeros(q.shape) as tf.Tensor4D, weights: null }); // Hv 2 != H 4
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 4, valueDim: 2, ...shapes, attentionFn: wrong });
    const [query, value] = [randomTensor([B, Tq, d], 7), randomTensor([B, Tk, d], 8)];
    expectThrowsWithoutLeak(
      () => layer.apply(query, { value }),
      'MultiHeadAttention.attentionFn: must return output [B, N, Tq, Hv] = [2,2,3,2], but got output [2,2,3,4]',
    );
    const weightless = new MultiHeadAttention({ numHeads: 2, keyDim: 4, ...shapes, attentionFn: noop });
    expectThrowsWithoutLeak(
      () => weightless.apply(query, { value, returnAttentionScores: true }),
      'MultiHeadAttention.attentionFn: must return weights [B, N, Tq, Tk] = [2,2,3,5] when returnWeights, but got weights []',
    );
    await expectNoLeak(() => weightless.apply(query, { value }));
    tf.dispose([query, value]);
    layer.dispose();
    weightless.dispose();
  });

  it('attentionFn is not serialized: the config round-trips as before, and a layer from it runs core with its implementation', () => {
    const custom: AttentionFn = (q, k, v, o) => coreAttentionFn('reference')(q, k, v, o);
    const plain = new MultiHeadAttention({ numHeads: 2, keyDim: 4, ...shapes, name: 'plain' });
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 4, ...shapes, name: 'plain', attentionFn: custom });
    const config = layer.getConfig();
    expect(config).toEqual(plain.getConfig());
    expect(Object.keys(config)).not.toContain('attentionFn');
    const json = JSON.parse(JSON.stringify(config));
    const rebuilt = MultiHeadAttention.fromConfig(MultiHeadAttention, json) as MultiHeadAttention;
    expect(rebuilt.getConfig()).toEqual(config);
    expect([rebuilt.customAttention, rebuilt.implementation]).toEqual([false, 'auto']);
    rebuilt.setWeights(layer.getWeights());
    const [query, value] = [randomTensor([B, Tq, d], 9), randomTensor([B, Tk, d], 10)];
    expectTensorsClose(rebuilt.apply(query, { value }) as tf.Tensor, layer.apply(query, { value }) as tf.Tensor, { rtol: 1e-5, atol: 1e-6 });
    expect(rebuilt.lastAttentionPath).toBe('reference'); // 'auto' at these sizes on cpu
    tf.dispose([query, value]);
    for (const l of [plain, layer, rebuilt]) l.dispose();
  });
});

/** The kernel names one call ran, from tfjs' profiler. */
async function kernelsOf(fn: () => tf.Tensor | tf.Tensor[]): Promise<string[]> {
  const info = await tf.profile(() => fn() as tf.TensorContainer);
  tf.dispose(info.result as tf.TensorContainer);
  return info.kernels.map((k) => k.name);
}

describe('MultiHeadAttention reports the attention path [wasm]', () => {
  beforeAll(() => useBackend('wasm'));
  afterAll(() => unregisterFusedAttention());

  it('with fused kernels registered: fused without scores, reference with scores; without them, never fused', async () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 8, ...shapes });
    const [query, value] = [randomTensor([B, Tq, d], 11), randomTensor([B, Tk, d], 12)];
    const run = (returnAttentionScores: boolean) => () => layer.apply(query, { value, returnAttentionScores }) as tf.Tensor | tf.Tensor[];

    await registerFusedAttention();
    const fast = await kernelsOf(run(false));
    expect(layer.lastAttentionPath).toBe('fused');
    expect(fast).toContain(FUSED_ATTENTION_KERNEL);
    const withScores = await kernelsOf(run(true));
    expect(layer.lastAttentionPath).toBe('reference'); // scores need the weights: the fused kernel never forms them
    expect(withScores).not.toContain(FUSED_ATTENTION_KERNEL);

    unregisterFusedAttention();
    const plain = await kernelsOf(run(false));
    expect(layer.lastAttentionPath).toBe('reference');
    expect(plain).not.toContain(FUSED_ATTENTION_KERNEL);
    await kernelsOf(run(true));
    expect(layer.lastAttentionPath).toBe('reference');
    tf.dispose([query, value]);
    layer.dispose();
  });

  it("implementation: 'fused' with scores throws core's error instead of leaving the fused path silently", async () => {
    await registerFusedAttention();
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 8, ...shapes, implementation: 'fused' });
    const [query, value] = [randomTensor([B, Tq, d], 13), randomTensor([B, Tk, d], 14)];
    const y = layer.apply(query, { value }) as tf.Tensor;
    expect(layer.lastAttentionPath).toBe('fused');
    expectThrowsWithoutLeak(
      () => layer.apply(query, { value, returnAttentionScores: true }),
      "attentionWithWeights: implementation 'fused' cannot run: it never forms the attention weights this call returns",
    );
    tf.dispose([query, value, y]);
    layer.dispose();
    unregisterFusedAttention();
  });
});
