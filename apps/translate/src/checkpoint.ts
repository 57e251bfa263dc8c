/**
 * Checkpoints: one file holding the model config, the tokenizer and the weights, written
 * atomically and validated on load.
 *
 * The format and its pure parser live in `checkpoint-format.ts` (usable in a browser); this module
 * adds the file system. Layout (little-endian):
 *
 * | bytes            | content                                                  |
 * |------------------|----------------------------------------------------------|
 * | 0..7             | magic `ATNKCKPT`                                         |
 * | 8..11            | format version (uint32, 1)                               |
 * | 12..15           | header length H in bytes (uint32)                        |
 * | 16..47           | SHA-256 of the header bytes                              |
 * | 48..48+H         | header: UTF-8 JSON (`CheckpointHeader`)                  |
 * | 48+H..end        | weights: tfjs `tf.io.encodeWeights` data, `weights.byteLength` bytes |
 *
 * The header names each weight (tfjs `WeightsManifestEntry`: name, shape, dtype) and holds the
 * SHA-256 and byte length of the weight data, so truncation and corruption are detected and
 * reported with the file name and what is wrong. Weights are any named tensors, so a model's
 * `tf.Variable`s (e.g. `@attnkit/transformer`'s) go in with `namedWeights(model.weights)` and come
 * back with `assignWeights`.
 */

import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { AttentionError } from '@attnkit/masking';
import { type Checkpoint, type SaveCheckpointInput, parseCheckpoint, serializeCheckpoint } from './checkpoint-format.js';

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

/**
 * Writes a checkpoint atomically: a temporary file beside `path`, flushed to disk, then renamed
 * over `path`. A crash leaves the old checkpoint (or none), never a partial one.
 */
export async function saveCheckpoint(path: string, input: SaveCheckpointInput): Promise<void> {
  const parts = await serializeCheckpoint(input);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const part of parts) writeSync(fd, part);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** Reads and validates a checkpoint file; every failure names the file and what is wrong. */
export function loadCheckpoint(path: string): Checkpoint {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch (error) {
    throw AttentionError.value('loadCheckpoint', `${path}: cannot read the checkpoint file`, (error as NodeJS.ErrnoException).code ?? String(error));
  }
  return parseCheckpoint(file, path, 'loadCheckpoint');
}
