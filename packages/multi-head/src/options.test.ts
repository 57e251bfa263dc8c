import { describeEachBackend, expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak, randomMask, toF64 } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { expect, it, vi } from 'vitest';
import { AttentionError, MultiHeadAttention, argsFromConfig, fromTorchAttentionMask, fromTorchKeyPaddingMask, fromTorchMasks } from './index.js';
import { input, mhaOracle, seedWeights } from './testing/mha-oracle.js';

const TOL = { rtol: 1e-4, atol: 1e-5 };

/** A built 2-head layer with seeded weights and its float64 weights. */
function layerWith(args: Partial<ConstructorParameters<typeof MultiHeadAttention>[0]> = {}, seed = 1) {
  const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, queryShape: [null, null, 4], valueShape: [null, null, 4], ...args });
  return { layer, weights: seedWeights(layer, seed) };
}

describeEachBackend('MultiHeadAttention call options keep no state; bias; PyTorch masks', () => {
  it('a symbolic apply leaves eager calls as they were (no remembered useCausalMask)', () => {
    const { layer, weights } = layerWith();
    const x = input([2, 5, 4], 3);
    const inp = tf.input({ shape: [5, 4] });
    const model = tf.model({ inputs: inp, outputs: layer.apply([inp, inp]) as tf.SymbolicTensor });
    const eager = layer.apply(x.t, { value: x.t }) as tf.Tensor;
    expectTensorsClose(eager, mhaOracle({ query: x.f, value: x.f, weights, causal: false }).output.data, TOL);
    const predicted = model.predict(x.t) as tf.Tensor;
    expectTensorsClose(predicted, mhaOracle({ query: x.f, value: x.f, weights, causal: false }).output.data, TOL);
    tf.dispose([x.t, eager, predicted]);
    layer.dispose();
  });

  it('inside tf.model, useCausalMask differing from the constructor throws, naming the fix', () => {
    const { layer } = layerWith();
    const inp = tf.input({ shape: [5, 4] });
    const err = expectThrowsWithoutLeak(
      () => layer.apply([inp, inp], { useCausalMask: true }),
      "MultiHeadAttention: inside tf.model useCausalMask is the layer's constructor argument (false): pass it to new MultiHeadAttention({useCausalMask: true}) instead of apply(), but got true",
    );
    expect(err).toBeInstanceOf(AttentionError);
    const bias = tf.zeros([1]);
    expectThrowsWithoutLeak(
      () => layer.apply([inp, inp], { attentionBias: bias }),
      "MultiHeadAttention: attentionBias cannot be used inside tf.model (only serializable options), but got 'object'",
    );
    bias.dispose();
    layer.dispose();
  });

  it('constructor useCausalMask is the default of every call, a call option overrides it, predict follows it', () => {
    const { layer, weights } = layerWith({ useCausalMask: true }, 2);
    const x = input([2, 5, 4], 4);
    const causal = mhaOracle({ query: x.f, value: x.f, weights, causal: true }).output.data;
    const open = mhaOracle({ query: x.f, value: x.f, weights, causal: false }).output.data;
    const a = layer.call(x.t, { value: x.t }) as tf.Tensor;
    const b = layer.call(x.t, { value: x.t, useCausalMask: false }) as tf.Tensor;
    expectTensorsClose(a, causal, TOL);
    expectTensorsClose(b, open, TOL);
    const inp = tf.input({ shape: [5, 4] });
    const model = tf.model({ inputs: inp, outputs: layer.apply([inp, inp]) as tf.SymbolicTensor });
    const p = model.predict(x.t) as tf.Tensor;
    expectTensorsClose(p, causal, TOL);
    expect(layer.getConfig().useCausalMask).toBe(true);
    const copy = new MultiHeadAttention({ numHeads: 2, keyDim: 3 });
    expect(copy.getConfig().useCausalMask).toBe(false);
    tf.dispose([x.t, a, b, p]);
    layer.dispose();
  });

  it('attentionBias [B, Tq, Tk] and per head [B, N, Tq, Tk], with and without a mask, equal the float64 oracle', () => {
    const { layer, weights } = layerWith({}, 3);
    const q = input([2, 3, 4], 5);
    const v = input([2, 6, 4], 6);
    const bias3 = input([2, 3, 6], 7);
    const bias4 = input([2, 2, 3, 6], 8);
    const mask = randomMask([2, 3, 6], 9, 0.7);
    for (const [bias, m] of [
      [bias3, null],
      [bias4, null],
      [bias4, mask],
    ] as const) {
      const [out, scores] = layer.call(q.t, { value: v.t, attentionBias: bias.t, attentionMask: m, returnAttentionScores: true }) as tf.Tensor[];
      const want = mhaOracle({ query: q.f, value: v.f, weights, bias: bias.f, mask: m ? toF64(m) : null });
      expectTensorsClose(out!, want.output.data, TOL);
      expectTensorsClose(scores!, want.scores.data, TOL);
      tf.dispose([out!, scores!]);
    }
    tf.dispose([q.t, v.t, bias3.t, bias4.t, mask]);
    layer.dispose();
  });

  it('averageWeights returns the scores averaged over heads [B, Tq, Tk]', () => {
    const { layer, weights } = layerWith({}, 4);
    const q = input([1, 3, 4], 10);
    const [, scores] = layer.call(q.t, { value: q.t, returnAttentionScores: true, averageWeights: true }) as tf.Tensor[];
    const want = mhaOracle({ query: q.f, value: q.f, weights }).scores; // [1, 2, 3, 3]
    const mean = Float64Array.from({ length: 9 }, (_, i) => (want.data[i]! + want.data[9 + i]!) / 2);
    expect(scores!.shape).toEqual([1, 3, 3]);
    expectTensorsClose(scores!, mean, TOL);
    tf.dispose([q.t, scores!]);
    layer.dispose();
  });

  it('PyTorch bool attn_mask (True = ignore) and float 0/-inf mask give the same as the attnkit mask', () => {
    const { layer, weights } = layerWith({}, 5);
    const q = input([2, 4, 4], 11);
    const allowed = [
      [1, 0, 0, 0],
      [1, 1, 0, 0],
      [1, 1, 1, 0],
      [1, 1, 1, 1],
    ];
    const torchBool = tf.tensor2d(
      allowed.map((r) => r.map((a) => !a)),
      [4, 4],
      'bool',
    );
    const torchFloat = tf.tensor2d(
      allowed.map((r) => r.map((a) => (a ? 0 : Number.NEGATIVE_INFINITY))),
      [4, 4],
    );
    const want = mhaOracle({ query: q.f, value: q.f, weights, causal: true }).output;
    for (const m of [fromTorchAttentionMask(torchBool), fromTorchAttentionMask(torchFloat)]) {
      const out = layer.call(q.t, { value: q.t, ...m }) as tf.Tensor;
      expectTensorsClose(out, want.data, TOL);
      tf.dispose([out, m.attentionMask!, m.attentionBias ?? []].flat());
    }
    tf.dispose([q.t, torchBool, torchFloat]);
    layer.dispose();
  });

  it('3-D [B*H, Tq, Tk] float masks are per head, batch major; key_padding_mask merges in', () => {
    const { layer, weights } = layerWith({}, 6);
    const q = input([2, 3, 4], 12);
    const v = input([2, 4, 4], 13);
    const perHead = input([4, 3, 4], 14); // [B*H, Tq, Tk], finite values
    const kpm = tf.tensor2d(
      [
        [false, false, false, true],
        [false, true, false, false],
      ],
      [2, 4],
      'bool',
    );
    const m = fromTorchMasks({ attnMask: perHead.t, keyPaddingMask: kpm, numHeads: 2 });
    expect(m.attentionMask!.shape).toEqual([2, 2, 3, 4]);
    expect(m.attentionBias!.shape).toEqual([2, 2, 3, 4]);
    const out = layer.call(q.t, { value: v.t, ...m }) as tf.Tensor;
    const keep = [1, 1, 1, 0, 1, 0, 1, 1];
    const want = mhaOracle({
      query: q.f,
      value: v.f,
      weights,
      bias: { data: perHead.f.data, shape: [2, 2, 3, 4] },
      mask: { data: Float64Array.from({ length: 2 * 3 * 4 }, (_, i) => keep[Math.floor(i / 12) * 4 + (i % 4)]!), shape: [2, 3, 4] },
    });
    expectTensorsClose(out, want.output.data, TOL);
    const padded = fromTorchKeyPaddingMask(kpm);
    expect(padded.attentionMask!.shape).toEqual([2, 1, 4]);
    expect(Array.from(padded.attentionMask!.dataSync())).toEqual(keep);
    tf.dispose([q.t, v.t, perHead.t, kpm, m.attentionMask!, m.attentionBias!, out, padded.attentionMask!]);
    layer.dispose();
  });

  it('a row that a PyTorch float mask masks completely gives zero weights (PyTorch gives NaN)', () => {
    const { layer } = layerWith({}, 7);
    const q = input([1, 2, 4], 15);
    const torchFloat = tf.tensor2d(
      [
        [0, -1],
        [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY],
      ],
      [2, 2],
    );
    const m = fromTorchAttentionMask(torchFloat);
    const [, scores] = layer.call(q.t, { value: q.t, ...m, returnAttentionScores: true }) as tf.Tensor[];
    const s = Array.from(scores!.dataSync()); // [1, 2 heads, 2 rows, 2 keys]
    for (const head of [0, 1]) {
      expect(s[head * 4]! + s[head * 4 + 1]!).toBeCloseTo(1, 6); // row 0 attends
      expect(s.slice(head * 4 + 2, head * 4 + 4)).toEqual([0, 0]); // row 1 has nothing to attend to
    }
    tf.dispose([q.t, torchFloat, m.attentionMask!, m.attentionBias!, scores!]);
    layer.dispose();
  });

  it('call and apply options are typed: a misspelt option does not compile', () => {
    const { layer } = layerWith({}, 8);
    const x = tf.zeros([1, 2, 4]);
    // @ts-expect-error useCasualMask is not an option (useCausalMask is)
    const a = layer.call(x, { value: x, useCasualMask: true }) as tf.Tensor;
    // @ts-expect-error returnAttentionScore is not an option
    const b = layer.apply(x, { value: x, returnAttentionScore: true }) as tf.Tensor;
    expect(a.shape).toEqual([1, 2, 4]);
    expect(b.shape).toEqual([1, 2, 4]);
    tf.dispose([x, a, b]);
    layer.dispose();
  });

  it('Keras arguments: a mixed_float16 policy throws; seed and flash_attention are accepted with a warning', () => {
    expectThrowsWithoutLeak(
      () => argsFromConfig({ num_heads: 2, key_dim: 2, dtype: { class_name: 'DTypePolicy', config: { name: 'mixed_float16' } } }),
      "MultiHeadAttention: only the float32 dtype policy is supported (mixed precision would change the numbers), but got 'mixed_float16'",
    );
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const args = argsFromConfig({ num_heads: 2, key_dim: 2, seed: 7, flash_attention: true, dtype: 'float32' });
    expect(args).toMatchObject({ numHeads: 2, keyDim: 2, dtype: 'float32' });
    expect(warn.mock.calls.map((c) => c[0])).toEqual([
      "MultiHeadAttention: Keras argument seed=7 is accepted but ignored: dropout draws from tfjs' random state, not from this seed",
      'MultiHeadAttention: Keras argument flash_attention=true is accepted but ignored: the implementation option chooses the attention path',
    ]);
    argsFromConfig({ num_heads: 2, key_dim: 2, seed: null, flash_attention: null });
    expect(warn).toHaveBeenCalledTimes(2);
    warn.mockRestore();
  });

  it("registers as 'attnkit>MultiHeadAttention', default names carry no '>', the old name still loads", () => {
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    expect(MultiHeadAttention.className).toBe('attnkit>MultiHeadAttention');
    expect(map['attnkit>MultiHeadAttention']?.[0]).toBe(MultiHeadAttention);
    expect(map.MultiHeadAttention?.[0]).toBe(MultiHeadAttention);
    const layer = new MultiHeadAttention({ numHeads: 1, keyDim: 2, queryShape: [null, null, 2], valueShape: [null, null, 2] });
    expect(layer.name).toMatch(/^multi_head_attention_\d+$/);
    expect(layer.weights[0]!.originalName).toBe(`${layer.name}/query/kernel`);
    const old = map.MultiHeadAttention![1](MultiHeadAttention as never, layer.getConfig()) as MultiHeadAttention;
    expect(old.getConfig()).toEqual({ ...layer.getConfig(), name: old.name });
    layer.dispose();
    old.dispose();
  });

  it('mask helpers: errors name the op and shapes; no leaks', async () => {
    const m3 = tf.zeros([6, 2, 2]);
    expectThrowsWithoutLeak(
      () => fromTorchAttentionMask(m3, { numHeads: 4 }),
      'fromTorchAttentionMask: a 3-D attn_mask needs numHeads dividing its first dim (numHeads 4), but got attn_mask [6,2,2]',
    );
    const i32 = tf.zeros([2, 2], 'int32');
    expectThrowsWithoutLeak(
      () => fromTorchKeyPaddingMask(i32),
      "fromTorchKeyPaddingMask: key_padding_mask must be bool (True = ignore) or float32 (additive, -inf = ignore), but got 'int32'",
    );
    const kpm = tf.zeros([2, 2]);
    await expectNoLeak(() => {
      const r = fromTorchMasks({ attnMask: m3, keyPaddingMask: kpm, numHeads: 3 });
      tf.dispose([r.attentionMask!, r.attentionBias!]);
    });
    tf.dispose([m3, i32, kpm]);
  });
});
