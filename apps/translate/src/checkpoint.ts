/**
 * Checkpoints: one file holding the model config, the tokenizer and the weights, written
 * atomically and validated on load.
 *
 * Layout (little-endian):
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

import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { AttentionError } from '@attnkit/masking';
import * as tf from '@tensorflow/tfjs-core';
import { type DataSourceName, isShippable } from './data/sources.js';
import { type BPEJSON, BPETokenizer } from './tokenizer/bpe.js';

const MAGIC = 'ATNKCKPT';
const VERSION = 1;
const PREFIX = 48;

/** A JSON value: what `config` and `metadata` may hold. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export interface CheckpointMetadata {
  /** Data the model was trained on; decides `shippable`. */
  trainingData: DataSourceName[];
  /** Anything else worth keeping (step, scores, date…). */
  [key: string]: Json;
}

export interface CheckpointHeader {
  format: 'attnkit-translate-checkpoint';
  /** Model configuration, as the model's constructor takes it. */
  config: { [key: string]: Json };
  tokenizer: BPEJSON;
  metadata: CheckpointMetadata;
  /** Whether every training source allows shipping the model (see `DATA_SOURCES`). */
  shippable: boolean;
  weights: { specs: tf.io.WeightsManifestEntry[]; byteLength: number; sha256: string };
}

export interface Checkpoint {
  config: { [key: string]: Json };
  tokenizer: BPETokenizer;
  metadata: CheckpointMetadata;
  shippable: boolean;
  /** The weights by name. The caller owns (and disposes) these tensors. */
  weights: tf.NamedTensorMap;
}

export interface SaveCheckpointInput {
  config: { [key: string]: Json };
  tokenizer: BPETokenizer;
  metadata: CheckpointMetadata;
  /** Named tensors, e.g. `namedWeights(model.weights)`. Not disposed. */
  weights: tf.NamedTensorMap;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A `tf.Variable`, or a tfjs-layers `LayerVariable` (what `model.weights` lists). */
export type WeightSource = tf.Variable | { name: string; read(): tf.Tensor };

/** A `tf.Variable`, or a tfjs-layers `LayerVariable` (written with `write`). */
export type WeightTarget = tf.Variable | { name: string; shape: number[]; dtype: tf.DataType; write(value: tf.Tensor): unknown };

/**
 * The tensors of `variables` keyed by their names (`tf.Variable.name`, or `LayerVariable.name`
 * for Keras-style layers). Throws on duplicate names: they could not be told apart on load.
 */
export function namedWeights(variables: readonly WeightSource[]): tf.NamedTensorMap {
  const out: tf.NamedTensorMap = {};
  for (const v of variables) {
    if (v.name in out) throw AttentionError.value('namedWeights', 'weight names must be unique', v.name);
    out[v.name] = v instanceof tf.Tensor ? v : v.read();
  }
  return out;
}

/**
 * Writes a checkpoint atomically: a temporary file beside `path`, flushed to disk, then renamed
 * over `path`. A crash leaves the old checkpoint (or none), never a partial one.
 */
export async function saveCheckpoint(path: string, input: SaveCheckpointInput): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(input.weights);
  const weights = new Uint8Array(Array.isArray(data) ? await new Blob(data).arrayBuffer() : data);
  const header: CheckpointHeader = {
    format: 'attnkit-translate-checkpoint',
    config: input.config,
    tokenizer: input.tokenizer.toJSON(),
    metadata: input.metadata,
    shippable: isShippable(input.metadata.trainingData),
    weights: { specs, byteLength: weights.byteLength, sha256: sha256(weights) },
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const prefix = Buffer.alloc(PREFIX);
  prefix.write(MAGIC, 0, 'ascii');
  prefix.writeUInt32LE(VERSION, 8);
  prefix.writeUInt32LE(headerBytes.byteLength, 12);
  Buffer.from(sha256(headerBytes), 'hex').copy(prefix, 16);

  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const part of [prefix, headerBytes, weights]) writeSync(fd, part);
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

function fail(path: string, problem: string, got: unknown): never {
  throw AttentionError.value('loadCheckpoint', `${path}: ${problem}`, got);
}

/** Reads and validates a checkpoint; every failure names the file and what is wrong. */
export function loadCheckpoint(path: string): Checkpoint {
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch (error) {
    return fail(path, 'cannot read the checkpoint file', (error as NodeJS.ErrnoException).code ?? String(error));
  }
  // 1) fixed prefix
  if (file.byteLength < PREFIX) fail(path, `file is truncated: the ${PREFIX}-byte prefix is incomplete`, `${file.byteLength} bytes`);
  const magic = file.toString('ascii', 0, 8);
  if (magic !== MAGIC) fail(path, `not an attnkit checkpoint (magic should be '${MAGIC}')`, magic);
  const version = file.readUInt32LE(8);
  if (version !== VERSION) fail(path, `unsupported checkpoint version (this code reads ${VERSION})`, version);
  const headerLength = file.readUInt32LE(12);
  if (file.byteLength < PREFIX + headerLength) {
    fail(path, `file is truncated: header should span bytes ${PREFIX}..${PREFIX + headerLength}`, `a file of ${file.byteLength} bytes`);
  }
  // 2) header: checksum, then JSON, then structure
  const headerBytes = file.subarray(PREFIX, PREFIX + headerLength);
  const headerSum = file.toString('hex', 16, PREFIX);
  if (sha256(headerBytes) !== headerSum) fail(path, `header is corrupted: SHA-256 should be ${headerSum}`, sha256(headerBytes));
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes)) as CheckpointHeader;
  } catch (error) {
    return fail(path, 'header is not valid UTF-8 JSON', (error as Error).message);
  }
  if (header?.format !== 'attnkit-translate-checkpoint') fail(path, "header format should be 'attnkit-translate-checkpoint'", header?.format);
  const w = header.weights;
  if (!w || !Array.isArray(w.specs) || !Number.isInteger(w.byteLength) || typeof w.sha256 !== 'string') {
    fail(path, 'header.weights must hold specs, byteLength and sha256', JSON.stringify(w)?.slice(0, 80));
  }
  if (!header.metadata || !Array.isArray(header.metadata.trainingData)) fail(path, 'header.metadata.trainingData must be a list', JSON.stringify(header.metadata)?.slice(0, 80));
  // 3) weights: length, then checksum
  const expectedEnd = PREFIX + headerLength + w.byteLength;
  if (file.byteLength < expectedEnd) {
    fail(path, `file is truncated: weights need ${w.byteLength} bytes after the header`, `${file.byteLength - PREFIX - headerLength} bytes`);
  }
  if (file.byteLength > expectedEnd) fail(path, `file has trailing bytes after the weights (expected ${expectedEnd} bytes in all)`, `${file.byteLength} bytes`);
  const weightBytes = file.subarray(PREFIX + headerLength, expectedEnd);
  const weightSum = sha256(weightBytes);
  if (weightSum !== w.sha256) fail(path, `weights are corrupted: SHA-256 should be ${w.sha256}`, weightSum);
  let tokenizer: BPETokenizer;
  try {
    tokenizer = BPETokenizer.fromJSON(header.tokenizer);
  } catch (error) {
    return fail(path, 'tokenizer is invalid', (error as Error).message);
  }
  // 4) tensors (copied out of the file buffer so they own aligned memory)
  const weightData = weightBytes.buffer.slice(weightBytes.byteOffset, weightBytes.byteOffset + weightBytes.byteLength);
  let weights: tf.NamedTensorMap;
  try {
    weights = tf.io.decodeWeights(weightData as ArrayBuffer, w.specs);
  } catch (error) {
    return fail(path, 'weight specs do not match the weight data', (error as Error).message);
  }
  return { config: header.config, tokenizer, metadata: header.metadata, shippable: header.shippable, weights };
}

/**
 * Assigns loaded weights to variables by name. Every variable must have a loaded tensor of the
 * same shape and dtype, and (by default) every loaded tensor must be used. Nothing is assigned
 * unless all checks pass. The loaded tensors are not disposed.
 */
export function assignWeights(variables: readonly WeightTarget[], weights: tf.NamedTensorMap, options: { allowUnused?: boolean } = {}): void {
  const { allowUnused = false } = options;
  const op = 'assignWeights';
  const names = new Set(variables.map((v) => v.name));
  for (const v of variables) {
    const t = weights[v.name];
    if (!t) throw AttentionError.value(op, 'every variable needs a weight of the same name', `no weight for '${v.name}'`);
    if (t.dtype !== v.dtype) throw AttentionError.value(op, `weight '${v.name}' must have dtype ${v.dtype}`, t.dtype);
    if (!tf.util.arraysEqual(t.shape, v.shape)) {
      throw AttentionError.shapes(op, `weight '${v.name}' must have the variable's shape`, { variable: v.shape, weight: t.shape });
    }
  }
  if (!allowUnused) {
    const unused = Object.keys(weights).filter((n) => !names.has(n));
    if (unused.length > 0) throw AttentionError.value(op, 'every weight must match a variable (pass allowUnused to skip)', unused.join(', '));
  }
  for (const v of variables) {
    if (v instanceof tf.Variable) v.assign(weights[v.name]!);
    else v.write(weights[v.name]!);
  }
}
