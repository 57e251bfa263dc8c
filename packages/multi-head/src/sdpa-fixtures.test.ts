import { attentionWithWeights, scaledDotProductAttention } from '@attnkit/core';
import { registerFusedAttention, unregisterFusedAttention } from '@attnkit/kernels';
import { describeEachBackend, expectTensorsClose, useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fixture from '../fixtures/torch/sdpa.json' with { type: 'json' };
import { type TorchTensorLike, fromTorchAttentionMask, torchTensor } from './index.js';

/**
 * Scaled dot-product attention cases written by PyTorch 1.13's F._scaled_dot_product_attention
 * (packages/transformer/fixtures/torch/make_fixtures.py). There a bool mask is True = may attend
 * (as attnkit's) and a float mask is added to the logits; is_causal is top-left, which is
 * attnkit's bottom-right alignment when Tq = Tk.
 */
interface SdpaCase {
  name: string;
  query: TorchTensorLike;
  key: TorchTensorLike;
  value: TorchTensorLike;
  mask: (TorchTensorLike & { dtype?: string }) | null;
  is_causal: boolean;
  output: TorchTensorLike;
  weights: TorchTensorLike;
}
const CASES = (fixture as unknown as { cases: SdpaCase[] }).cases;
const TORCH_TOL = { atol: 1e-5, rtol: 1e-4 };

describeEachBackend('scaled dot-product attention fixtures from PyTorch 1.13', () => {
  for (const implementation of ['reference', 'sliced', 'chunked'] as const) {
    it.each(CASES.map((c) => [c.name, c] as const))(`%s (${implementation})`, (_, c) => {
      const [q, k, v] = [c.query, c.key, c.value].map((t) => torchTensor(t));
      const raw = c.mask ? torchTensor(c.mask) : null;
      // a float mask: its finite part is a bias, its -inf entries a bool mask
      const converted = raw && raw.dtype === 'float32' ? fromTorchAttentionMask(raw) : null;
      const mask = raw?.dtype === 'bool' ? raw : (converted?.attentionMask ?? null);
      const bias = converted?.attentionBias ?? null;
      const options = { mask, bias, causal: c.is_causal, implementation };
      const out = scaledDotProductAttention(q!, k!, v!, options);
      const { output, weights } = attentionWithWeights(q!, k!, v!, { mask, bias, causal: c.is_causal });
      const [wantOut, wantWeights] = [torchTensor(c.output), torchTensor(c.weights)];
      expect(out.shape).toEqual(wantOut.shape);
      expectTensorsClose(out, wantOut, { ...TORCH_TOL, label: `${c.name} output` });
      expectTensorsClose(output, wantOut, { ...TORCH_TOL, label: `${c.name} output (with weights)` });
      expectTensorsClose(weights, wantWeights, { ...TORCH_TOL, label: `${c.name} weights` });
      tf.dispose([q!, k!, v!, raw, converted?.attentionMask, bias, out, output, weights, wantOut, wantWeights].filter((t): t is tf.Tensor => t != null));
    });
  }
});

describe('scaled dot-product attention fixtures from PyTorch 1.13 [wasm, fused kernel]', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    await registerFusedAttention();
  });
  afterAll(() => unregisterFusedAttention());

  it.each(CASES.map((c) => [c.name, c] as const))('%s (fused)', (_, c) => {
    const [q, k, v] = [c.query, c.key, c.value].map((t) => torchTensor(t));
    const raw = c.mask ? torchTensor(c.mask) : null;
    const converted = raw && raw.dtype === 'float32' ? fromTorchAttentionMask(raw) : null;
    const mask = raw?.dtype === 'bool' ? raw : (converted?.attentionMask ?? null);
    const bias = converted?.attentionBias ?? null;
    const out = scaledDotProductAttention(q!, k!, v!, { mask, bias, causal: c.is_causal, implementation: 'fused' });
    const want = torchTensor(c.output);
    expectTensorsClose(out, want, { ...TORCH_TOL, label: `${c.name} output (fused)` });
    tf.dispose([q!, k!, v!, raw, converted?.attentionMask, bias, out, want].filter((t): t is tf.Tensor => t != null));
  });
});
