export { AttentionError } from '@attnkit/masking';
export { KVCache } from './cache.js';
export type { CachedKV, KVCacheOptions } from './cache.js';
export type { Constraint, Identifier, Initializer, Regularizer } from './config.js';
export type { PositionHook } from './hook.js';
export { MultiHeadAttention, argsFromConfig } from './layer.js';
export type { MultiHeadAttentionArgs, MultiHeadAttentionCallOptions } from './layer.js';
export { fromTorchMultiheadAttention } from './torch.js';
export type { TorchImportOptions, TorchMultiheadAttentionState } from './torch.js';
