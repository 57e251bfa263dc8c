export { AttentionError } from '@attnkit/masking';
export { KVCache } from './cache.js';
export type { CachedKV, KVCacheOptions } from './cache.js';
export type {
  Constraint,
  Identifier,
  Initializer,
  MultiHeadAttentionApplyOptions,
  MultiHeadAttentionArgs,
  MultiHeadAttentionCallOptions,
  Regularizer,
} from './args.js';
export { coreAttentionFn } from './attention.js';
export type { AttentionFn, AttentionFnOptions, AttentionFnResult, AttentionPathReport } from './attention.js';
export type { PositionHook } from './hook.js';
export { argsFromConfig } from './config.js';
export { MultiHeadAttention } from './layer.js';
export { REGISTRATION_PREFIX, defaultLayerName, registerAttnkitClass } from './register.js';
export { buildSublayer, disposeSublayer, withNameScope } from './scope.js';
export { checkTorchConfig, fromTorchMultiheadAttention, torchMultiheadAttentionWeights } from './torch.js';
export type { TorchImportOptions, TorchMhaWeights, TorchMultiheadAttentionState } from './torch.js';
export { loadTorchStateDict, torchTensor } from './torch-state.js';
export type { NestedNumbers, TorchStateDictLike, TorchTensorLike } from './torch-state.js';
export { fromTorchAttentionMask, fromTorchKeyPaddingMask, fromTorchMasks, mergeMasks } from './torch-masks.js';
export type { AttnkitMasks } from './torch-masks.js';
