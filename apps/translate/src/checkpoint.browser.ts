/**
 * What a browser bundle gets in place of `checkpoint.ts` (the web page's Vite config maps one to
 * the other, as a package.json `browser` field would): the same format and parser, and
 * `loadCheckpoint` / `saveCheckpoint`, which need a file system, throwing a clear error instead of
 * pulling `node:fs` into the page. In a browser, fetch the bytes and call `parseCheckpoint`.
 */
import { AttentionError } from '@attnkit/masking';
import type { Checkpoint, SaveCheckpointInput } from './checkpoint-format.js';

export { assignWeights, namedWeights, parseCheckpoint, serializeCheckpoint } from './checkpoint-format.js';
export type {
  Checkpoint,
  CheckpointHeader,
  CheckpointMetadata,
  Json,
  SaveCheckpointInput,
  WeightSource,
  WeightTarget,
} from './checkpoint-format.js';

const unavailable = (op: string, path: string) =>
  AttentionError.value(op, 'needs a file system, which a browser does not have (fetch the bytes and use parseCheckpoint)', path);

/** Not available in a browser: throws. */
export function loadCheckpoint(path: string): Checkpoint {
  throw unavailable('loadCheckpoint', path);
}

/** Not available in a browser: rejects. */
export async function saveCheckpoint(path: string, _input: SaveCheckpointInput): Promise<void> {
  throw unavailable('saveCheckpoint', path);
}
