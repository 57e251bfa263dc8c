import { describeEachBackend, expectNoLeak, expectThrowsWithoutLeak } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { AttentionError, MASK_FILL, causalMask, combineMasks, maskToBias, paddingMask, prefixLMMask, segmentMask, slidingWindowMask } from './index.js';

/** Reads a bool tensor as nested 0/1 arrays, for readable expectations. */
// biome-ignore lint/suspicious/noExplicitAny: nested arrays of any rank
const bits = (t: tf.Tensor): any => JSON.parse(JSON.stringify(t.arraySync()).replace(/true/g, '1').replace(/false/g, '0'));

/** Plain-loop expectation: entry (i, j) of a [Tq, Tk] mask. */
const table = (Tq: number, Tk: number, f: (i: number, j: number) => boolean) =>
  Array.from({ length: Tq }, (_, i) => Array.from({ length: Tk }, (_, j) => (f(i, j) ? 1 : 0)));

describeEachBackend('masks', () => {
  it('causalMask is lower-triangular when square', () => {
    const m = causalMask(3);
    expect(m.dtype).toBe('bool');
    expect(bits(m)).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
    ]);
    m.dispose();
  });

  it('causalMask aligns bottom-right when Tq != Tk and honours an explicit offset', () => {
    const m = causalMask(2, 5);
    expect(bits(m)).toEqual(table(2, 5, (i, j) => j <= i + 3));
    const tall = causalMask(4, 2);
    expect(bits(tall)).toEqual(table(4, 2, (i, j) => j <= i - 2)); // first two rows see nothing
    const top = causalMask(2, 5, { offset: 0 });
    expect(bits(top)).toEqual(table(2, 5, (i, j) => j <= i));
    tf.dispose([m, tall, top]);
  });

  it('causalMask equals ts[:, None] >= ts[None, :] on the aligned positions', () => {
    for (const [Tq, Tk] of [
      [1, 1],
      [1, 7],
      [5, 5],
      [6, 9],
    ] as const) {
      const m = causalMask(Tq, Tk);
      expect(bits(m)).toEqual(table(Tq, Tk, (i, j) => i + Tk - Tq >= j));
      m.dispose();
    }
  });

  it('slidingWindowMask has inclusive bounds, default right = 0, and bottom-right alignment', () => {
    const w = slidingWindowMask(5, 5, { left: 1 });
    expect(bits(w)).toEqual(table(5, 5, (i, j) => j >= i - 1 && j <= i));
    const two = slidingWindowMask(3, 6, { left: 2, right: 1 });
    expect(bits(two)).toEqual(table(3, 6, (i, j) => j >= i + 3 - 2 && j <= i + 3 + 1));
    const off = slidingWindowMask(2, 4, { left: 0, right: 0, offset: 1 });
    expect(bits(off)).toEqual(table(2, 4, (i, j) => j === i + 1));
    tf.dispose([w, two, off]);
  });

  it('paddingMask from lengths and from ids gives [B, 1, 1, Tk]', () => {
    const fromLengths = paddingMask({ lengths: [2, 4, 0], maxLength: 4 });
    expect(fromLengths.shape).toEqual([3, 1, 1, 4]);
    expect(bits(fromLengths)).toEqual([[[[1, 1, 0, 0]]], [[[1, 1, 1, 1]]], [[[0, 0, 0, 0]]]]);
    const ids = tf.tensor2d(
      [
        [5, 7, 0, 0],
        [3, 0, 9, 1],
      ],
      [2, 4],
      'int32',
    );
    const fromIds = paddingMask({ ids });
    expect(bits(fromIds)).toEqual([[[[1, 1, 0, 0]]], [[[1, 0, 1, 1]]]]);
    const customPad = paddingMask({ ids, padId: 9 });
    expect(bits(customPad)).toEqual([[[[1, 1, 1, 1]]], [[[1, 1, 0, 1]]]]);
    const lengthsTensor = paddingMask({ lengths: tf.tensor1d([1, 3], 'int32'), maxLength: 3 });
    expect(bits(lengthsTensor)).toEqual([[[[1, 0, 0]]], [[[1, 1, 1]]]]);
    tf.dispose([fromLengths, ids, fromIds, customPad, lengthsTensor]);
  });

  it('segmentMask is block-diagonal over packed documents', () => {
    const seg = tf.tensor2d([[0, 0, 1, 1, 1]], [1, 5], 'int32');
    const m = segmentMask(seg);
    expect(m.shape).toEqual([1, 1, 5, 5]);
    const ids = [0, 0, 1, 1, 1];
    expect(bits(m)[0][0]).toEqual(table(5, 5, (i, j) => ids[i] === ids[j]));
    const kseg = tf.tensor2d([[1, 0, 1]], [1, 3], 'int32');
    const cross = segmentMask(seg, kseg);
    expect(bits(cross)[0][0]).toEqual(table(5, 3, (i, j) => ids[i] === [1, 0, 1][j]));
    tf.dispose([seg, m, kseg, cross]);
  });

  it('prefixLMMask is bidirectional inside the prefix and causal after it', () => {
    const m = prefixLMMask(5, 2);
    expect(bits(m)).toEqual(table(5, 5, (i, j) => j <= i || j < 2));
    const batched = prefixLMMask(3, [0, 3]);
    expect(batched.shape).toEqual([2, 1, 3, 3]);
    expect(bits(batched)[0][0]).toEqual(table(3, 3, (i, j) => j <= i));
    expect(bits(batched)[1][0]).toEqual(table(3, 3, () => true));
    tf.dispose([m, batched]);
  });

  it('combineMasks ANDs with broadcasting and returns null for none', () => {
    expect(combineMasks()).toBeNull();
    expect(combineMasks(null, undefined)).toBeNull();
    const causal = causalMask(3); // [3, 3]
    const pad = paddingMask({ lengths: [2, 3], maxLength: 3 }); // [2, 1, 1, 3]
    const both = combineMasks(causal, null, pad)!;
    expect(both.shape).toEqual([2, 1, 3, 3]);
    expect(bits(both)[0][0]).toEqual(table(3, 3, (i, j) => j <= i && j < 2));
    expect(bits(both)[1][0]).toEqual(table(3, 3, (i, j) => j <= i));
    const single = combineMasks(causal)!;
    expect(single).not.toBe(causal); // a copy the caller owns
    expect(bits(single)).toEqual(bits(causal));
    tf.dispose([causal, pad, both, single]);
  });

  it('maskToBias gives 0 where attending and a finite fill elsewhere', () => {
    const m = causalMask(2);
    const b = maskToBias(m);
    expect(b.dtype).toBe('float32');
    expect(b.arraySync()).toEqual([
      [0, MASK_FILL],
      [0, 0],
    ]);
    const custom = maskToBias(m, { fill: -50 });
    expect(custom.arraySync()).toEqual([
      [0, -50],
      [0, 0],
    ]);
    tf.dispose([m, b, custom]);
  });

  it('leaks no tensor', async () => {
    await expectNoLeak(() => causalMask(4, 6));
    await expectNoLeak(() => slidingWindowMask(4, 6, { left: 1, right: 1 }));
    await expectNoLeak(() => paddingMask({ lengths: [1, 2], maxLength: 3 }));
    await expectNoLeak(() => prefixLMMask(4, [1, 2]));
    await expectNoLeak(() => {
      const a = causalMask(3);
      const p = paddingMask({ lengths: [2], maxLength: 3 });
      const r = combineMasks(a, p);
      tf.dispose([a, p]);
      return r;
    });
  });
});

describe('mask errors', () => {
  // Each case: inputs made before the call (disposed after), the refused call, the message.
  const cases: Array<[string, () => tf.Tensor[], (inputs: tf.Tensor[]) => unknown, RegExp]> = [
    ['zero query length', () => [], () => causalMask(0), /^causalMask: queryLength must be a positive integer, but got 0$/],
    ['fractional key length', () => [], () => causalMask(2, 2.5), /^causalMask: keyLength must be a positive integer, but got 2\.5$/],
    ['fractional offset', () => [], () => causalMask(2, 2, { offset: 0.5 }), /^causalMask: offset must be an integer, but got 0\.5$/],
    ['negative window', () => [], () => slidingWindowMask(2, 2, { left: -1 }), /^slidingWindowMask: left window must be a non-negative integer, but got -1$/],
    [
      'fractional right window',
      () => [],
      () => slidingWindowMask(3, 3, { left: 1, right: 1.5 }),
      /^slidingWindowMask: right window must be a non-negative integer, but got 1\.5$/,
    ],
    [
      'length beyond maxLength',
      () => [],
      () => paddingMask({ lengths: [5], maxLength: 4 }),
      /^paddingMask: each length must be an integer in \[0, 4\], but got 5$/,
    ],
    [
      'no lengths',
      () => [],
      () => paddingMask({ lengths: [], maxLength: 2 }),
      /^paddingMask: lengths must be a non-empty array or a rank-1 tensor, but got \[\]$/,
    ],
    [
      'ids of rank 1',
      () => [tf.tensor1d([1, 2])],
      ([ids]) => paddingMask({ ids: ids as tf.Tensor2D }),
      /^paddingMask: ids must be a rank-2 tensor \[B, T\], but got ids \[2\]$/,
    ],
    ['prefix beyond length', () => [], () => prefixLMMask(3, 4), /^prefixLMMask: prefixLength must be an integer in \[0, 3\], but got 4$/],
    [
      'segment batch mismatch',
      () => [tf.zeros([2, 3]), tf.zeros([1, 3])],
      ([q, k]) => segmentMask(q as tf.Tensor2D, k as tf.Tensor2D),
      /^segmentMask: keySegments must be a rank-2 tensor \[B, Tk\] with the batch of querySegments, but got querySegments \[2,3\] and keySegments \[1,3\]$/,
    ],
    [
      'float mask to combine',
      () => [tf.ones([2, 2])],
      ([m]) => combineMasks(m),
      /^combineMasks: mask 0 must be a bool tensor \(true = attend\), but got 'float32'$/,
    ],
    [
      'masks that do not broadcast',
      () => [tf.ones([2, 3], 'bool'), tf.ones([4, 3], 'bool')],
      ([a, b]) => combineMasks(a, b),
      /^combineMasks: masks must broadcast together, but got mask0 \[2,3\] and mask1 \[4,3\]$/,
    ],
    ['float mask to bias', () => [tf.ones([2])], ([m]) => maskToBias(m!), /^maskToBias: mask must be a bool tensor \(true = attend\), but got 'float32'$/],
  ];
  it.each(cases)('%s', (_, setup, call, message) => {
    const inputs = setup();
    const err = expectThrowsWithoutLeak(() => call(inputs), message);
    expect(err).toBeInstanceOf(AttentionError);
    tf.dispose(inputs);
  });
});
