import { describeEachBackend, expectTensorsClose } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { saveViews } from './save.js';

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
