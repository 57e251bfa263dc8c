import { causalMask } from '@attnkit/masking';
import { buildCase, describeEachBackend, expectNoLeak, expectTensorsClose, randomCase, randomMask, randomTensor } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { attentionWeights, attentionWithWeights, scaledDotProductAttention } from './index.js';

describeEachBackend('attention invariants', () => {
  it('a -Infinity bias is a false mask entry: same outputs, weights and gradients, and a row it covers gives exact zeros, on every path', () => {
    const [B, H, Tq, Tk, D] = [2, 2, 4, 6, 4];
    const q = randomTensor([B, H, Tq, D], 11);
    const k = randomTensor([B, H, Tk, D], 12);
    const v = randomTensor([B, H, Tk, D], 13);
    const keep = randomMask([B, H, Tq, Tk], 14, 0.6);
    // row 1 of batch 0, head 0 excluded entirely
    const rowOff = tf.tensor4d(
      Array.from({ length: B * H * Tq * Tk }, (_, n) => (Math.floor(n / Tk) === 1 ? 0 : 1)),
      [B, H, Tq, Tk],
      'bool',
    );
    const mask = tf.logicalAnd(keep, rowOff);
    const finite = randomTensor([B, H, Tq, Tk], 15);
    const bias = tf.where(mask, finite, tf.fill([B, H, Tq, Tk], Number.NEGATIVE_INFINITY)); // -inf where masked
    const dy = randomTensor([B, H, Tq, D], 16);
    for (const implementation of ['reference', 'sliced', 'chunked'] as const) {
      const run = (options: { bias: tf.Tensor; mask?: tf.Tensor }) =>
        tf.grads((qq: tf.Tensor, kk: tf.Tensor, vv: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.mul(scaledDotProductAttention(qq, kk, vv, { ...options, bias: bb, implementation, chunkSize: 2 }), dy)),
        )([q, k, v, options.bias]);
      const withInf = run({ bias });
      const withMask = run({ bias: finite, mask });
      for (const [i, g] of withInf.entries()) {
        expect(Array.from(g.dataSync()).some(Number.isNaN), `${implementation} grad ${i} has no NaN`).toBe(false);
        if (i < 3) expectTensorsClose(g, withMask[i]!, { rtol: 1e-5, atol: 1e-6, label: `${implementation} grad ${i}` });
      }
      // dBias: the mask's gradient where allowed, 0 where the bias is -Infinity
      expectTensorsClose(withInf[3]!, tf.mul(withMask[3]!, tf.cast(mask, 'float32')), { rtol: 1e-5, atol: 1e-6, label: `${implementation} dBias` });
      const out = scaledDotProductAttention(q, k, v, { bias, implementation, chunkSize: 2 });
      const row = tf.slice(out, [0, 0, 1, 0], [1, 1, 1, D]);
      expect(Array.from(row.dataSync()), `${implementation}: the excluded row is exactly 0`).toEqual(new Array(D).fill(0));
      tf.dispose([...withInf, ...withMask, out, row]);
    }
    const { output, weights } = attentionWithWeights(q, k, v, { bias });
    const expected = attentionWithWeights(q, k, v, { bias: finite, mask });
    expectTensorsClose(output, expected.output, { rtol: 1e-6, atol: 0 });
    expectTensorsClose(weights, expected.weights, { rtol: 1e-6, atol: 0 });
    const rowWeights = tf.slice(weights, [0, 0, 1, 0], [1, 1, 1, Tk]);
    expect(Array.from(rowWeights.dataSync())).toEqual(new Array(Tk).fill(0));
    tf.dispose([q, k, v, keep, rowOff, mask, finite, bias, dy, output, weights, expected.output, expected.weights, rowWeights]);
  });

  it('weight rows sum to 1, or to 0 where the mask leaves nothing', () => {
    const q = randomTensor([2, 2, 6, 4], 1);
    const k = randomTensor([2, 2, 6, 4], 2);
    const mask = randomMask([2, 1, 6, 6], 3, 0.4);
    const w = attentionWeights(q, k, { mask });
    const sums = tf.sum(w, -1).dataSync();
    const allowed = tf.any(tf.broadcastTo(mask, [2, 2, 6, 6]), -1).dataSync();
    expect(Array.from(allowed)).toContain(0); // the seed gives some fully-masked rows
    for (const [i, s] of sums.entries()) expect(s).toBeCloseTo(allowed[i] ? 1 : 0, 5);
    tf.dispose([q, k, mask, w]);
  });

  it('causal: true equals an explicit causalMask, square and Tq < Tk', () => {
    for (const [Tq, Tk] of [
      [5, 5],
      [3, 8],
    ] as const) {
      const q = randomTensor([1, 2, Tq, 4], 4);
      const kv = randomTensor([1, 2, Tk, 4], 5);
      const flag = attentionWithWeights(q, kv, kv, { causal: true });
      const m = causalMask(Tq, Tk);
      const explicit = attentionWithWeights(q, kv, kv, { mask: m });
      expectTensorsClose(flag.output, explicit.output, { rtol: 0, atol: 0 });
      expectTensorsClose(flag.weights, explicit.weights, { rtol: 0, atol: 0 });
      tf.dispose([q, kv, m, flag.output, flag.weights, explicit.output, explicit.weights]);
    }
  });

  it('under causal, output t has zero gradient w.r.t. keys and values after t', () => {
    const T = 6;
    const q = randomTensor([1, 2, T, 4], 6);
    const k = randomTensor([1, 2, T, 4], 7);
    const v = randomTensor([1, 2, T, 4], 8);
    for (let t = 0; t < T; t++) {
      const [dq, dk, dv] = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
        tf.sum(tf.slice(scaledDotProductAttention(a, b, c, { causal: true }), [0, 0, t, 0], [1, 2, 1, 4])),
      )([q, k, v]);
      const [perKey, perValue] = [dk!, dv!].map((g) => tf.sum(tf.abs(g), [0, 1, 3]).arraySync() as number[]);
      for (let j = t + 1; j < T; j++) {
        expect(perKey![j]).toBe(0);
        expect(perValue![j]).toBe(0);
      }
      // ... while it does depend on position t itself (a key only matters once there are two)
      expect(perValue![t]).toBeGreaterThan(0);
      if (t > 0) expect(perKey![t]).toBeGreaterThan(0);
      tf.dispose([dq!, dk!, dv!]);
    }
    tf.dispose([q, k, v]);
  });

  it('logits of ±1e4 give finite outputs and the right argmax', () => {
    // One key scores +1e4, the other -1e4: all weight on the first.
    const q = tf.tensor4d([100], [1, 1, 1, 1]);
    const k = tf.tensor4d([100, -100], [1, 1, 2, 1]);
    const v = tf.tensor4d([3, 7], [1, 1, 2, 1]);
    const { output, weights } = attentionWithWeights(q, k, v, { scale: 1 });
    expect(Array.from(weights.dataSync())).toEqual([1, 0]);
    expect(output.dataSync()[0]).toBe(3);
    const [dq] = tf.grads((a: tf.Tensor) => tf.sum(scaledDotProductAttention(a, k, v, { scale: 1 })))([q]);
    expect(Number.isFinite(dq!.dataSync()[0]!)).toBe(true);
    tf.dispose([q, k, v, output, weights, dq!]);
  });

  it('a fully masked row gives zero output, zero weights and zero gradient, never NaN', () => {
    const q = randomTensor([1, 1, 2, 3], 9);
    const kv = randomTensor([1, 1, 3, 3], 10);
    const mask = tf.tensor2d(
      [
        [false, false, false],
        [true, false, true],
      ],
      [2, 3],
      'bool',
    );
    const { output, weights } = attentionWithWeights(q, kv, kv, { mask });
    expect(Array.from(output.dataSync().slice(0, 3))).toEqual([0, 0, 0]);
    expect(Array.from(weights.dataSync().slice(0, 3))).toEqual([0, 0, 0]);
    const [dq] = tf.grads((a: tf.Tensor) => tf.sum(scaledDotProductAttention(a, kv, kv, { mask })))([q]);
    expect(Array.from(dq!.dataSync().slice(0, 3))).toEqual([0, 0, 0]);
    expect(dq!.dataSync().every(Number.isFinite)).toBe(true);
    tf.dispose([q, kv, mask, output, weights, dq!]);
  });

  it('the sliced path equals the reference within 1e-5 relative, forward and gradient', () => {
    for (let seed = 100; seed < 140; seed++) {
      const c = randomCase(seed, 32);
      const built = buildCase(c);
      const opts = { mask: built.mask, bias: built.bias, causal: c.causal ?? false, window: c.window ?? null };
      const run = (implementation: 'reference' | 'sliced') =>
        tf.tidy(() => {
          const f = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) =>
            tf.sum(tf.mul(scaledDotProductAttention(q, k, v, { ...opts, implementation }), tf.range(1, 1 + c.Dv)));
          const out = scaledDotProductAttention(built.query, built.key, built.value, { ...opts, implementation });
          return [out, ...tf.grads(f)([built.query, built.key, built.value])];
        });
      const ref = run('reference');
      const fast = run('sliced');
      expectTensorsClose(fast[0]!, ref[0]!, { rtol: 1e-5, atol: 1e-6, label: `${c.name} output` });
      for (let i = 1; i < 4; i++) expectTensorsClose(fast[i]!, ref[i]!, { rtol: 1e-4, atol: 1e-5, label: `${c.name} grad ${i}` });
      tf.dispose([...ref, ...fast]);
      built.dispose();
    }
  });

  it("'auto' equals the reference on both sides of the sliced-path threshold", () => {
    for (const T of [8, 160]) {
      const q = randomTensor([1, 2, T, 8], 13);
      const kv = randomTensor([1, 1, T, 8], 14);
      const auto = scaledDotProductAttention(q, kv, kv, { causal: true });
      const ref = scaledDotProductAttention(q, kv, kv, { causal: true, implementation: 'reference' });
      expectTensorsClose(auto, ref, { rtol: 1e-5, atol: 1e-6, label: `T=${T}` });
      tf.dispose([q, kv, auto, ref]);
    }
  });

  it('dropout: off unless training; seeded patterns repeat; kept weights scale by 1/(1-rate)', () => {
    const q = randomTensor([1, 2, 16, 8], 11);
    const kv = randomTensor([1, 2, 16, 8], 12);
    const plain = scaledDotProductAttention(q, kv, kv);
    const inference = scaledDotProductAttention(q, kv, kv, { dropout: 0.5 });
    expectTensorsClose(inference, plain, { rtol: 0, atol: 0 });
    const a = scaledDotProductAttention(q, kv, kv, { dropout: 0.5, training: true, seed: 7 });
    const b = scaledDotProductAttention(q, kv, kv, { dropout: 0.5, training: true, seed: 7 });
    const c = scaledDotProductAttention(q, kv, kv, { dropout: 0.5, training: true, seed: 8 });
    expectTensorsClose(a, b, { rtol: 0, atol: 0 });
    expect(tf.max(tf.abs(tf.sub(a, c))).dataSync()[0]).toBeGreaterThan(1e-3);
    // With value = identity rows, the output is the dropped weight matrix itself.
    const eye = tf.reshape(tf.eye(16), [1, 1, 16, 16]);
    const w = attentionWeights(q, kv);
    const dropped = scaledDotProductAttention(q, kv, tf.tile(eye, [1, 2, 1, 1]), { dropout: 0.25, training: true, seed: 3 });
    const wv = w.dataSync();
    const dv = dropped.dataSync();
    let kept = 0;
    dv.forEach((x, i) => {
      if (x === 0) return;
      kept++;
      expect(x).toBeCloseTo(wv[i]! / 0.75, 5);
    });
    // 512 weights, keep probability 0.75: expect 384 kept; 5 standard deviations is ±49.
    expect(Math.abs(kept - 384)).toBeLessThan(49);
    tf.dispose([q, kv, plain, inference, a, b, c, eye, w, dropped]);
  });

  it('leaks no tensor, forward or backward, with every option', async () => {
    const built = buildCase({ ...randomCase(5), mask: { shape: [4, 4] }, Tq: 4, Tk: 4, causal: true });
    for (const implementation of ['reference', 'sliced', 'auto'] as const) {
      const opts = { mask: built.mask, bias: built.bias, causal: true, implementation };
      await expectNoLeak(() => scaledDotProductAttention(built.query, built.key, built.value, opts));
      await expectNoLeak(() => attentionWithWeights(built.query, built.key, built.value, { ...opts, dropout: 0.1, training: true }));
      await expectNoLeak(() => attentionWeights(built.query, built.key, opts));
      await expectNoLeak(() =>
        tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) => tf.sum(scaledDotProductAttention(q, k, v, opts)))([built.query, built.key, built.value]),
      );
    }
    built.dispose();
  });
});
