export { AttentionError } from '@attnkit/masking';
export {
  AUTO_CHUNKED_MIN_SCORES,
  SLICED_MIN_SCORES,
  attentionWeights,
  attentionWithWeights,
  scaledDotProductAttention,
} from './attention.js';
export { DEFAULT_CHUNK_SIZE } from './chunked.js';
export type { ChunkSize } from './chunked.js';
export type { AttentionOptions, AttentionResult } from './attention.js';
export { FUSED_ATTENTION_GRAD_KERNEL, FUSED_ATTENTION_KERNEL, fusedAvailable } from './fused.js';
export type { FusedAttentionAttrs, FusedKernelConfig } from './fused.js';
export { matMul2d, matMulT } from './matmul.js';
export type { MatMulKernelConfig } from './matmul.js';
export { IMPLEMENTATIONS } from './validate.js';
export type { AttentionDims, Implementation } from './validate.js';
export {
  ACTIVATIONS,
  BIAS_ACTIVATION_GRAD_KERNEL,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
  SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL,
  SOFTMAX_CROSS_ENTROPY_KERNEL,
  activate,
  dense,
  embeddingLookup,
  layerNorm,
  softmaxCrossEntropy,
} from './training.js';
export type { Activation, CrossEntropyOptions, DenseOptions, LayerNormOptions, OpImplementation } from './training.js';
export { ADAM_KERNEL, Adam } from './adam.js';
