export { AttentionError } from '@attnkit/masking';
export { SLICED_MIN_SCORES, attentionWeights, attentionWithWeights, scaledDotProductAttention } from './attention.js';
export type { AttentionOptions, AttentionResult } from './attention.js';
export { matMul2d } from './matmul.js';
export { IMPLEMENTATIONS } from './validate.js';
export type { AttentionDims, Implementation } from './validate.js';
