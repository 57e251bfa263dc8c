// The consumer type check (scripts/pack-install.sh): a TypeScript user's file over every package,
// compiled with `skipLibCheck: false` under `moduleResolution` bundler and node16, so every
// published .d.ts (and what it imports) is checked. The @ts-expect-error lines must stay errors:
// typed call options catch a misspelt option.
import * as tf from '@tensorflow/tfjs';
import { type AttentionOptions, scaledDotProductAttention } from '@attnkit/core';
import { CrossAttention, type CrossAttentionCallOptions } from '@attnkit/cross-attention';
import { type KerasSource, loadKerasModel, modelFromKerasJson } from '@attnkit/keras';
import { registerFusedAttention, wasmKernelInfo } from '@attnkit/kernels';
import { causalMask, combineMasks, paddingMask } from '@attnkit/masking';
import { MultiHeadAttention, type MultiHeadAttentionCallOptions } from '@attnkit/multi-head';
import { PositionEmbedding, SinusoidalPositionEncoding } from '@attnkit/positional';
import { TransformerDecoderLayer, TransformerEncoderLayer, greedyDecode } from '@attnkit/transformer';

export async function main(): Promise<number[]> {
  await registerFusedAttention();
  const info: { build: string; threads: number } | null = wasmKernelInfo();
  const q = tf.zeros([1, 2, 4, 8]);
  const options: AttentionOptions = { causal: true, mask: combineMasks(causalMask(4, 4), paddingMask({ lengths: [4], maxLength: 4 })) };
  const out: tf.Tensor = scaledDotProductAttention(q, q, q, options);

  const x = tf.input({ shape: [4, 16] });
  const mha = new MultiHeadAttention({ numHeads: 2, keyDim: 8 });
  const call: MultiHeadAttentionCallOptions = { useCausalMask: true };
  // @ts-expect-error a misspelt option is a type error
  const typo: MultiHeadAttentionCallOptions = { useCasualMask: true };
  const memory = tf.input({ shape: [5, 16] });
  const xattn = new CrossAttention({ numHeads: 2, keyDim: 8 });
  const crossCall: CrossAttentionCallOptions = {};
  const pos = new SinusoidalPositionEncoding().apply(x) as tf.SymbolicTensor;
  const learned = new PositionEmbedding({ maxLength: 8 }).apply(pos) as tf.SymbolicTensor;
  const encoded = new TransformerEncoderLayer({ dModel: 16, numHeads: 2, ffDim: 32 }).apply(learned) as tf.SymbolicTensor;
  const decoded = new TransformerDecoderLayer({ dModel: 16, numHeads: 2, ffDim: 32 }).apply([encoded, memory]) as tf.SymbolicTensor;
  const model = tf.model({ inputs: [x, memory], outputs: [mha.apply(decoded) as tf.SymbolicTensor, xattn.apply([decoded, memory]) as tf.SymbolicTensor] });
  const source: KerasSource = new Uint8Array(0);
  const loaders: [(s: KerasSource) => Promise<tf.LayersModel>, typeof modelFromKerasJson] = [loadKerasModel, modelFromKerasJson];
  void [call, typo, crossCall, greedyDecode, info, source, loaders];
  tf.dispose(out);
  return model.outputs.map((o) => o.shape.length);
}
