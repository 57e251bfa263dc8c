import { describeEachBackend, expectTensorsClose } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { reshapeView, saveViews } from './save.js';

describeEachBackend('saveViews', () => {
  // square(y) = y², whose gradient reads the saved y.
  const square = tf.customGrad((y, save) => {
    saveViews(save as tf.GradSaveFunc, [y as tf.Tensor]);
    return {
      value: tf.square(y as tf.Tensor),
      gradFunc: (dy: tf.Tensor, [sy]: tf.Tensor[]) => tf.mul(dy, tf.mul(sy!, 2)),
    };
  }) as (y: tf.Tensor) => tf.Tensor;

  it('saves a view (no copy) that outlives its tidy scope, gives the right gradient and leaks nothing', () => {
    const x = tf.tensor1d([1, -2, 3, 0.5]);
    const before = tf.memory().numTensors;
    let viewsDuringForward = -1;
    const g = tf.grad((a: tf.Tensor) => {
      // y lives only inside this tidy: the backward pass must read it through the saved view.
      const out = tf.tidy(() => {
        const y = tf.add(a, tf.scalar(1));
        const { numTensors, numDataBuffers } = tf.memory();
        const value = square(y);
        const after = tf.memory();
        // square adds its output (a tensor and a buffer) and the saved view (a tensor only).
        viewsDuringForward = after.numTensors - numTensors - (after.numDataBuffers - numDataBuffers);
        return value;
      });
      return tf.sum(out);
    })(x);
    expect(viewsDuringForward).toBe(1);
    expectTensorsClose(g, [4, -2, 8, 3]); // d/da Σ (a + 1)² = 2 (a + 1)
    g.dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('leaves the engine as it found it, also when save throws', () => {
    const engine = tf.engine() as unknown as Record<string, unknown>;
    expect(Object.hasOwn(engine, 'clone')).toBe(false);
    expect(() =>
      saveViews(() => {
        throw new Error('boom');
      }, []),
    ).toThrow('boom');
    expect(Object.hasOwn(engine, 'clone')).toBe(false);
  });
});

describeEachBackend('reshapeView', () => {
  it('equals tf.reshape (a -1 inferred), shares the data, runs no kernel and leaks nothing', async () => {
    const x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2]);
    const before = tf.memory();
    const profile = await tf.profile(() => {
      const y = reshapeView(x, [-1, 4]);
      expect(y.shape).toEqual([3, 4]);
      expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers);
      return y;
    });
    expect(profile.kernels.map((k) => k.name)).toEqual([]);
    const y = profile.result as tf.Tensor;
    expectTensorsClose(
      y,
      tf.tidy(() => tf.reshape(x, [3, 4]).dataSync()),
    );
    x.dispose();
    expectTensorsClose(y, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); // outlives x: the data is counted twice
    y.dispose();
    expect(tf.memory().numTensors).toBe(before.numTensors - 1);
    expect(tf.memory().numDataBuffers).toBe(before.numDataBuffers - 1);
  });

  it('is differentiable, twice over, and gives the gradient tf.reshape gives', () => {
    const x = tf.tensor2d([1, -2, 3, 0.5, 4, -1], [2, 3]);
    const w = tf.tensor1d([1, 2, 3, 4, 5, 6]);
    const before = tf.memory().numTensors;
    // d/dx Σ w·flat(x)² = 2·w·x, through a view of a view (a chain of tape nodes)
    const f = (r: (t: tf.Tensor, s: number[]) => tf.Tensor) => tf.grad((a: tf.Tensor) => tf.sum(tf.mul(w, tf.square(r(r(a, [3, 2]), [6])))))(x);
    const g = f((t, s) => reshapeView(t, s));
    const expected = f((t, s) => tf.reshape(t, s));
    expect(g.shape).toEqual([2, 3]);
    expectTensorsClose(g, [2, -8, 18, 4, 40, -12]);
    expectTensorsClose(g, expected.dataSync());
    tf.dispose([g, expected]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, w]);
  });

  it('a shape of another size throws tf.reshape’s error', () => {
    const x = tf.zeros([2, 3]);
    expect(() => reshapeView(x, [4, 2])).toThrow(/Size\(6\) must match the product of shape 4,2/);
    x.dispose();
  });
});
