import { expectTensorsClose, randomTensor, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectThrowsWithoutLeak } from '@attnkit/test-utils';
import {
  FUSED_ATTENTION_GRAD_KERNEL,
  FUSED_ATTENTION_KERNEL,
  type FusedKernelConfig,
  attentionWeights,
  attentionWithWeights,
  choosePath,
  scaledDotProductAttention,
} from './index.js';

// A stand-in kernel pair on cpu that takes head dims up to 8 only, and records the calls it gets
// (then stops them: what it computes is the kernels package's business, not core's).
describe('dispatch to a registered fused kernel that declines some calls [cpu]', () => {
  const calls: number[][] = [];
  const stop: tf.KernelFunc = ({ inputs }) => {
    calls.push((inputs.query as tf.TensorInfo).shape);
    throw new Error('stand-in kernel ran');
  };
  beforeAll(async () => {
    await useBackend('cpu');
    const forward: FusedKernelConfig = {
      kernelName: FUSED_ATTENTION_KERNEL,
      backendName: 'cpu',
      kernelFunc: stop,
      supports: ({ Dk, Dv }) => (Math.max(Dk, Dv) > 8 ? `head dims above 8 (got ${Dk}, ${Dv})` : null),
    };
    tf.registerKernel(forward);
    tf.registerKernel({ kernelName: FUSED_ATTENTION_GRAD_KERNEL, backendName: 'cpu', kernelFunc: stop });
  });
  afterAll(() => {
    tf.unregisterKernel(FUSED_ATTENTION_KERNEL, 'cpu');
    tf.unregisterKernel(FUSED_ATTENTION_GRAD_KERNEL, 'cpu');
  });

  it("'auto' takes core's own path for a call the kernel declines", () => {
    const q = randomTensor([1, 2, 5, 16], 1);
    const auto = scaledDotProductAttention(q, q, q, { causal: true });
    const reference = scaledDotProductAttention(q, q, q, { causal: true, implementation: 'reference' });
    expectTensorsClose(auto, reference);
    expect(calls).toEqual([]);
    tf.dispose([q, auto, reference]);
  });

  it("'fused' refuses a declined call with the kernel's reason", () => {
    const q = randomTensor([1, 2, 5, 16], 1);
    expect(() => scaledDotProductAttention(q, q, q, { implementation: 'fused' })).toThrow(
      "scaledDotProductAttention: implementation 'fused' cannot run: head dims above 8 (got 16, 16), but got 'fused'",
    );
    expect(calls).toEqual([]);
    q.dispose();
  });

  it("weights requests under 'fused' throw, as scaledDotProductAttention's refusals do (one rule), even where the kernel takes the call", () => {
    const q = randomTensor([1, 2, 5, 8], 1);
    const reason =
      "implementation 'fused' cannot run: it never forms the attention weights this call returns; use 'auto', 'reference' or 'sliced', but got 'fused'";
    expectThrowsWithoutLeak(() => attentionWithWeights(q, q, q, { implementation: 'fused' }), `attentionWithWeights: ${reason}`);
    expectThrowsWithoutLeak(() => attentionWeights(q, q, { implementation: 'fused' }), `attentionWeights: ${reason}`);
    // under 'auto' the weights come from core's own path; the kernel is not asked
    const { output, weights } = attentionWithWeights(q, q, q);
    expect(weights.shape).toEqual([1, 2, 5, 5]);
    expect(calls).toEqual([]);
    tf.dispose([q, output, weights]);
  });

  it('choosePath: fused for output-only calls the kernel takes, never for weights', () => {
    const dims = { B: 1, Hq: 2, Hkv: 2, Tq: 5, Tk: 5, Dk: 8, Dv: 8, group: 1 };
    expect(choosePath({}, dims, 'cpu', false)).toBe('fused');
    expect(choosePath({}, dims, 'cpu', true)).toBe('reference');
    expect(choosePath({ dropout: 0.5, training: true }, dims, 'cpu', false)).toBe('reference');
    expect(choosePath({}, { ...dims, Dk: 16 }, 'cpu', false)).toBe('reference');
  });

  it("'auto' dispatches a call the kernel takes", () => {
    const q = randomTensor([1, 2, 5, 8], 1);
    expect(() => scaledDotProductAttention(q, q, q)).toThrow('stand-in kernel ran');
    expect(calls).toEqual([[1, 2, 5, 8]]);
    q.dispose();
  });
});
