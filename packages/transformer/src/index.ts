export { AttentionError } from '@attnkit/masking';
export { TransformerDecoderLayer, TransformerEncoderLayer } from './blocks.js';
export type { DecoderCallOptions, EncoderCallOptions, NamedWeight, TransformerBlockArgs } from './blocks.js';
export { beamSearch, beamSearchAsync, greedyDecode, greedyDecodeAsync } from './decode.js';
export type { BeamOptions, DecodeOptions, Hypothesis, TokenAttention } from './decode.js';
export { TokenEmbedding } from './embedding.js';
export { BASE_CONFIG, Transformer } from './model.js';
export type { DecodeStepOutput, DecoderState, ResolvedConfig, TransformerConfig } from './model.js';
export { EncoderDecoder, TransformerDecoder, TransformerEncoder } from './stack.js';
export {
  fromTorchDecoderLayer,
  fromTorchEncoderLayer,
  fromTorchTransformer,
  fromTorchTransformerDecoder,
  fromTorchTransformerEncoder,
  fromTorchTransformerMasks,
} from './torch.js';
export type {
  ConvertedTransformerMasks,
  TorchImportExtras,
  TorchLayerConfig,
  TorchStackConfig,
  TorchState,
  TorchTransformerMasks,
} from './torch.js';
