export { AttentionError } from '@attnkit/masking';
export { readKerasArchive } from './archive.js';
export type { KerasArchive } from './archive.js';
export { loadKerasModel, loadKerasWeights, modelFromKerasJson } from './load.js';
export type { KerasJsonOptions, KerasSource } from './load.js';
