export { AttentionError } from '@attnkit/masking';
export { alibiBias, alibiSlopes } from './alibi.js';
export type { AlibiBiasOptions } from './alibi.js';
export { PositionEmbedding } from './embedding.js';
export type { Initializer, PositionEmbeddingArgs, PositionEmbeddingCallKwargs } from './embedding.js';
export { RotaryEmbedding } from './rotary.js';
export type { PositionHook, RotaryConfig, RotaryLayout, RotaryOptions } from './rotary.js';
export { SinusoidalPositionEncoding, sinusoidalEncoding } from './sinusoidal.js';
export type { SinusoidalCallKwargs, SinusoidalOptions, SinusoidalPositionEncodingArgs } from './sinusoidal.js';
