import { registerFusedAttention, unregisterFusedAttention } from '@attnkit/kernels';
import { describeEachBackend, useBackend, expectNoLeak, expectTensorsClose, expectThrowsWithoutLeak } from '@attnkit/test-utils';
import { type TorchTensorLike, loadTorchStateDict, torchTensor } from '@attnkit/multi-head';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import layersFixture from '../fixtures/torch/layers.json' with { type: 'json' };
import transformerFixture from '../fixtures/torch/transformer.json' with { type: 'json' };
import {
  AttentionError,
  type TorchState,
  type TorchTransformerMasks,
  fromTorchDecoderLayer,
  fromTorchEncoderLayer,
  fromTorchTransformer,
  fromTorchTransformerDecoder,
  fromTorchTransformerEncoder,
  fromTorchTransformerMasks,
} from './index.js';

/** Cases written by real PyTorch 1.13: fixtures/torch/make_fixtures.py (run with Debian's python3-torch). */
interface TorchCase {
  name: string;
  kind: 'encoder_layer' | 'decoder_layer' | 'encoder' | 'decoder' | 'transformer';
  config: Record<string, unknown>;
  state_dict: TorchState;
  output: TorchTensorLike;
  [input: string]: unknown;
}
const LAYER_CASES = (layersFixture as unknown as { cases: TorchCase[] }).cases;
const TRANSFORMER_CASES = (transformerFixture as unknown as { cases: TorchCase[] }).cases;
/** The tolerance issue #18 sets for PyTorch fixtures. */
const TORCH_TOL = { atol: 1e-5, rtol: 1e-4 };
const MASKS = ['src_mask', 'tgt_mask', 'memory_mask', 'src_key_padding_mask', 'tgt_key_padding_mask', 'memory_key_padding_mask'] as const;

function numHeadsOf(c: TorchCase): number {
  const layer = (c.config.layer as Record<string, unknown> | undefined) ?? c.config;
  return layer.nhead as number;
}

/** Imports the case's module and runs its forward call with the case's inputs and masks. */
function run(c: TorchCase, implementation?: 'reference' | 'sliced' | 'chunked' | 'fused'): tf.Tensor {
  const extras = implementation ? { implementation } : {};
  const state = loadTorchStateDict({ state_dict: c.state_dict });
  const t = (name: string) => (c[name] ? torchTensor(c[name] as TorchTensorLike, name) : null);
  const torchMasks: TorchTransformerMasks = Object.fromEntries(MASKS.map((m) => [m, t(m)]));
  const masks = fromTorchTransformerMasks(torchMasks, { numHeads: numHeadsOf(c) });
  const inputs = { src: t('src'), tgt: t('tgt'), memory: t('memory') };
  try {
    switch (c.kind) {
      case 'encoder_layer': {
        const layer = fromTorchEncoderLayer(state, c.config, extras);
        const y = layer.apply(inputs.src!, masks.encoder) as tf.Tensor;
        layer.dispose();
        return y;
      }
      case 'decoder_layer': {
        const layer = fromTorchDecoderLayer(state, c.config, extras);
        const y = layer.apply(inputs.tgt!, { memory: inputs.memory, ...masks.decoder }) as tf.Tensor;
        layer.dispose();
        return y;
      }
      case 'encoder': {
        const stack = fromTorchTransformerEncoder(state, c.config as never, extras);
        const y = stack.call(inputs.src!, masks.encoder);
        stack.dispose();
        return y;
      }
      case 'decoder': {
        const stack = fromTorchTransformerDecoder(state, c.config as never, extras);
        const y = stack.call(inputs.tgt!, { memory: inputs.memory, ...masks.decoder });
        stack.dispose();
        return y;
      }
      case 'transformer': {
        const model = fromTorchTransformer(state, c.config, extras);
        const y = model.call(inputs.src!, inputs.tgt!, masks);
        model.dispose();
        return y;
      }
    }
  } finally {
    masks.dispose();
    tf.dispose([...Object.values(state), ...Object.values(torchMasks), ...Object.values(inputs)].filter((x): x is tf.Tensor => x != null));
  }
}

describeEachBackend('PyTorch nn.Transformer* fixtures', () => {
  for (const c of LAYER_CASES) {
    it(`${c.name}: equals PyTorch`, () => {
      const y = run(c);
      const want = torchTensor(c.output);
      expect(y.shape).toEqual(want.shape);
      expectTensorsClose(y, want, { ...TORCH_TOL, label: c.name });
      tf.dispose([y, want]);
    });
  }

  for (const implementation of ['reference', 'sliced', 'chunked'] as const) {
    it(`nn.Transformer 2+2, d 32, with its masks, equals PyTorch (${implementation})`, () => {
      const c = TRANSFORMER_CASES[0]!;
      const y = run(c, implementation);
      const want = torchTensor(c.output);
      expect(y.shape).toEqual([2, 5, 32]);
      expectTensorsClose(y, want, { ...TORCH_TOL, label: c.name });
      tf.dispose([y, want]);
    });
  }

  it('imports leak nothing', async () => {
    await expectNoLeak(() => {
      tf.dispose(run(TRANSFORMER_CASES[0]!));
    });
  });

  it('unsupported or inconsistent PyTorch options raise AttentionError naming them, without leaks', () => {
    const enc = LAYER_CASES.find((c) => c.kind === 'encoder_layer')!;
    const dec = LAYER_CASES.find((c) => c.kind === 'decoder_layer')!;
    const cases: Array<[() => unknown, string]> = [
      [
        () => fromTorchEncoderLayer(enc.state_dict, { ...enc.config, bias: false }),
        "fromTorchEncoderLayer: bias=False is not supported (attnkit layers always have biases), but got 'bias=false'",
      ],
      [
        () => fromTorchEncoderLayer(enc.state_dict, { ...enc.config, activation: 'silu' }),
        "fromTorchEncoderLayer: activation must be 'relu' or 'gelu' (a callable cannot be imported), but got 'silu'",
      ],
      [
        () => fromTorchEncoderLayer(enc.state_dict, { ...enc.config, add_zero_attn: true }),
        "fromTorchEncoderLayer: unknown or unsupported PyTorch option add_zero_attn, but got 'true'",
      ],
      [() => fromTorchEncoderLayer(enc.state_dict, { ...enc.config, d_model: 16 }), "fromTorchEncoderLayer: d_model differs from the state's 8, but got 16"],
      [
        () => fromTorchEncoderLayer(dec.state_dict, dec.config),
        "fromTorchEncoderLayer: state dict entries that no attnkit weight takes, but got 'multihead_attn.in_proj_weight, multihead_attn.in_proj_bias, multihead_attn.out_proj.weight, multihead_attn.out_proj.bias, norm3.weight, norm3.bias'",
      ],
      [() => fromTorchDecoderLayer(enc.state_dict, enc.config), 'fromTorchDecoderLayer: multihead_attn.out_proj.weight must be a square [E, E] tensor'],
      [
        () => fromTorchTransformer(TRANSFORMER_CASES[0]!.state_dict, { ...TRANSFORMER_CASES[0]!.config, custom_encoder: {} }),
        "fromTorchTransformer: custom_encoder is not supported (import its modules separately), but got 'custom_encoder={}'",
      ],
      [
        () => fromTorchTransformer(TRANSFORMER_CASES[0]!.state_dict, { ...TRANSFORMER_CASES[0]!.config, num_encoder_layers: 3 }),
        'fromTorchTransformer: num_layers must match the 2 layers in the state dict, but got 3',
      ],
    ];
    for (const [fn, message] of cases) expect(expectThrowsWithoutLeak(fn, message)).toBeInstanceOf(AttentionError);
  });
});

describe('PyTorch nn.Transformer fixture [wasm, fused kernel]', () => {
  beforeAll(async () => {
    await useBackend('wasm');
    await registerFusedAttention();
  });
  afterAll(() => unregisterFusedAttention());

  it('nn.Transformer 2+2, d 32, with its masks, equals PyTorch (fused)', () => {
    const c = TRANSFORMER_CASES[0]!;
    const y = run(c, 'fused');
    const want = torchTensor(c.output);
    expectTensorsClose(y, want, { ...TORCH_TOL, label: `${c.name} (fused)` });
    tf.dispose([y, want]);
  });

  for (const c of LAYER_CASES) {
    it(`${c.name}: equals PyTorch (fused)`, () => {
      const y = run(c, 'fused');
      const want = torchTensor(c.output);
      expectTensorsClose(y, want, { ...TORCH_TOL, label: `${c.name} (fused)` });
      tf.dispose([y, want]);
    });
  }
});
