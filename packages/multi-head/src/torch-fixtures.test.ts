import { describeEachBackend, expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import fixture from '../fixtures/torch/mha.json' with { type: 'json' };
import {
  AttentionError,
  type TorchStateDictLike,
  type TorchTensorLike,
  fromTorchMasks,
  fromTorchMultiheadAttention,
  loadTorchStateDict,
  torchTensor,
} from './index.js';

/** Cases written by real PyTorch: packages/transformer/fixtures/torch/make_fixtures.py. */
interface MhaCase {
  name: string;
  config: Record<string, unknown> & { num_heads: number };
  state_dict: TorchStateDictLike;
  query: TorchTensorLike;
  key: TorchTensorLike;
  value: TorchTensorLike;
  attn_mask?: TorchTensorLike | null;
  key_padding_mask?: TorchTensorLike | null;
  average_attn_weights: boolean;
  output: TorchTensorLike;
  weights: TorchTensorLike;
}
const CASES = (fixture as unknown as { cases: MhaCase[] }).cases;
/** The tolerance issue #18 sets for PyTorch fixtures. */
const TORCH_TOL = { atol: 1e-5, rtol: 1e-4 };

describeEachBackend('nn.MultiheadAttention fixtures from PyTorch 1.13', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s: output and weights equal PyTorch', (_, c) => {
    const state = loadTorchStateDict(JSON.stringify({ state_dict: c.state_dict })); // as read from a file
    const { num_heads: numHeads, ...torchConfig } = c.config;
    const layer = fromTorchMultiheadAttention(state, { numHeads, torchConfig });
    const [q, k, v] = [c.query, c.key, c.value].map((t) => torchTensor(t));
    const attnMask = c.attn_mask ? torchTensor(c.attn_mask) : null;
    const keyPaddingMask = c.key_padding_mask ? torchTensor(c.key_padding_mask) : null;
    const masks = fromTorchMasks({ attnMask, keyPaddingMask, numHeads });
    const [out, weights] = layer.call(q!, {
      value: v!,
      key: k!,
      ...masks,
      returnAttentionScores: true,
      averageWeights: c.average_attn_weights,
    }) as tf.Tensor[];
    const [wantOut, wantWeights] = [torchTensor(c.output), torchTensor(c.weights)];
    expect(weights!.shape).toEqual(wantWeights.shape);
    expectTensorsClose(out!, wantOut, { ...TORCH_TOL, label: `${c.name} output` });
    expectTensorsClose(weights!, wantWeights, { ...TORCH_TOL, label: `${c.name} weights` });
    tf.dispose(
      [...Object.values(state), q!, k!, v!, attnMask, keyPaddingMask, masks.attentionMask, masks.attentionBias, out!, weights!, wantOut, wantWeights].filter(
        (t): t is tf.Tensor => t != null,
      ),
    );
    layer.dispose();
  });

  it('PyTorch options attnkit does not support raise at import, naming the option, without leaks', () => {
    const c = CASES[0]!;
    const state = loadTorchStateDict(c.state_dict);
    for (const [option, message] of [
      [
        'add_zero_attn',
        "fromTorchMultiheadAttention: add_zero_attn (a zero key/value appended to every sequence) is not supported, but got 'add_zero_attn=true'",
      ],
      [
        'add_bias_kv',
        "fromTorchMultiheadAttention: add_bias_kv (learned bias_k/bias_v appended to keys and values) is not supported, but got 'add_bias_kv=true'",
      ],
      ['kdim_typo', "fromTorchMultiheadAttention: unknown or unsupported PyTorch option kdim_typo, but got 'true'"],
    ] as const) {
      const err = expectThrowsWithoutLeak(() => fromTorchMultiheadAttention(state, { numHeads: 2, torchConfig: { [option]: true } }), message);
      expect(err).toBeInstanceOf(AttentionError);
    }
    expectThrowsWithoutLeak(
      () => fromTorchMultiheadAttention(state, { numHeads: 2, torchConfig: { embed_dim: 16 } }),
      "fromTorchMultiheadAttention: embed_dim in the PyTorch config differs from the state's 8, but got 16",
    );
    tf.dispose(Object.values(state));
  });

  it('loadTorchStateDict reads {shape, data}, base64 float32 and nested arrays, and leaks nothing', async () => {
    const bytes = new Uint8Array(new Float32Array([1.5, Number.NEGATIVE_INFINITY]).buffer);
    const base64 = btoa(String.fromCharCode(...bytes));
    const state = loadTorchStateDict({ a: { shape: [2], data: [0.25, '-inf'] }, b: { shape: [1, 2], dtype: 'float32', base64 }, c: [[1, 2]] });
    expect(Array.from(state.a!.dataSync())).toEqual([0.25, Number.NEGATIVE_INFINITY]);
    expect(Array.from(state.b!.dataSync())).toEqual([1.5, Number.NEGATIVE_INFINITY]);
    expect(state.c!.shape).toEqual([1, 2]);
    tf.dispose(Object.values(state));
    expectThrowsWithoutLeak(() => loadTorchStateDict({ a: { shape: [3], data: [1, 2] } }), 'loadTorchStateDict: a: data must hold 3 values, but got shape [3]');
    await expectNoLeak(() => {
      const s = loadTorchStateDict({ state_dict: CASES[1]!.state_dict });
      tf.dispose(Object.values(s));
    });
  });
});
