export { AttentionError } from '@attnkit/masking';
export { MemoryCache } from './cache.js';
export { CrossAttention } from './layer.js';
export type { CrossAttentionArgs, CrossAttentionCallOptions } from './layer.js';
