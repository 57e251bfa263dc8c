export { AttentionError } from '@attnkit/masking';
export { attentionWeights, attentionWithWeights, scaledDotProductAttention } from './attention.js';
export { DEFAULT_CHUNK_SIZE } from './chunked.js';
export { AUTO_CHUNKED_MIN_SCORES, SLICED_MIN_SCORES, choosePath } from './dispatch.js';
export { FUSED_ATTENTION_GRAD_KERNEL, FUSED_ATTENTION_KERNEL, fusedAvailable } from './fused.js';
export type { FusedAttentionAttrs, FusedKernelConfig } from './fused.js';
export { matMul2d, matMulT } from './matmul.js';
export { reshapeView } from './save.js';
export type { MatMulKernelConfig } from './matmul.js';
export { IMPLEMENTATIONS } from './types.js';
export type { AttentionDims, AttentionOptions, AttentionPath, AttentionResult, ChunkSize, Implementation } from './types.js';
export {
  ACTIVATIONS,
  BIAS_ACTIVATION_GRAD_KERNEL,
  DENSE_GRAD_KERNEL,
  DROPOUT_KERNEL,
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
  LOG_SUM_EXP_KERNEL,
  PROJECTED_CROSS_ENTROPY_GRAD_KERNEL,
  PROJECTED_CROSS_ENTROPY_KERNEL,
  SOFTMAX_CROSS_ENTROPY_GRAD_KERNEL,
  SOFTMAX_CROSS_ENTROPY_KERNEL,
  activate,
  dense,
  dropout,
  embeddingLookup,
  layerNorm,
  projectedCrossEntropy,
  rowLogSumExp,
  softmaxCrossEntropy,
} from './training.js';
export type { Activation, CrossEntropyOptions, DenseOptions, DropoutOptions, LayerNormOptions, OpImplementation } from './training.js';
export { ADAM_KERNEL, Adam } from './adam.js';
