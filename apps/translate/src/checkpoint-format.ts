/**
 * The checkpoint format, without file system access: `parseCheckpoint` reads and validates the
 * bytes of a checkpoint (in Node through `loadCheckpoint`, in a browser from `fetch`),
 * `serializeCheckpoint` writes them. Layout (little-endian):
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
 * reported with the file name and what is wrong.
 */

import { AttentionError } from '@attnkit/masking';
import * as tf from '@tensorflow/tfjs-core';
import { type DataSourceName, isShippable } from './data/sources.js';
import { sha256Hex as sha256 } from './sha256.js';
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
 * The bytes of a checkpoint, in file order (prefix, header, weights): write them one after the
 * other. The tensors are read, not disposed.
 */
export async function serializeCheckpoint(input: SaveCheckpointInput): Promise<Uint8Array[]> {
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
  const prefix = new Uint8Array(PREFIX);
  const view = new DataView(prefix.buffer);
  prefix.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(8, VERSION, true);
  view.setUint32(12, headerBytes.byteLength, true);
  prefix.set(hexToBytes(sha256(headerBytes)), 16);
  return [prefix, headerBytes, weights];
}

const hexToBytes = (hex: string) => Uint8Array.from(hex.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
const bytesToHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Reads and validates the bytes of a checkpoint; `name` (a path or URL) and `op` name the
 * checkpoint and the caller in every error. The caller owns the returned tensors.
 */
export function parseCheckpoint(file: Uint8Array, name: string, op = 'parseCheckpoint'): Checkpoint {
  const fail = (problem: string, got: unknown): never => {
    throw AttentionError.value(op, `${name}: ${problem}`, got);
  };
  const ascii = (start: number, end: number) => String.fromCharCode(...file.subarray(start, end));
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  // 1) fixed prefix
  if (file.byteLength < PREFIX) fail(`file is truncated: the ${PREFIX}-byte prefix is incomplete`, `${file.byteLength} bytes`);
  const magic = ascii(0, 8);
  if (magic !== MAGIC) fail(`not an attnkit checkpoint (magic should be '${MAGIC}')`, magic);
  const version = view.getUint32(8, true);
  if (version !== VERSION) fail(`unsupported checkpoint version (this code reads ${VERSION})`, version);
  const headerLength = view.getUint32(12, true);
  if (file.byteLength < PREFIX + headerLength) {
    fail(`file is truncated: header should span bytes ${PREFIX}..${PREFIX + headerLength}`, `a file of ${file.byteLength} bytes`);
  }
  // 2) header: checksum, then JSON, then structure
  const headerBytes = file.subarray(PREFIX, PREFIX + headerLength);
  const headerSum = bytesToHex(file.subarray(16, PREFIX));
  if (sha256(headerBytes) !== headerSum) fail(`header is corrupted: SHA-256 should be ${headerSum}`, sha256(headerBytes));
  let header: CheckpointHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes)) as CheckpointHeader;
  } catch (error) {
    return fail('header is not valid UTF-8 JSON', (error as Error).message);
  }
  if (header?.format !== 'attnkit-translate-checkpoint') fail("header format should be 'attnkit-translate-checkpoint'", header?.format);
  const w = header.weights;
  if (!w || !Array.isArray(w.specs) || !Number.isInteger(w.byteLength) || typeof w.sha256 !== 'string') {
    fail('header.weights must hold specs, byteLength and sha256', JSON.stringify(w)?.slice(0, 80));
  }
  if (!header.metadata || !Array.isArray(header.metadata.trainingData))
    fail('header.metadata.trainingData must be a list', JSON.stringify(header.metadata)?.slice(0, 80));
  // 3) weights: length, then checksum
  const expectedEnd = PREFIX + headerLength + w.byteLength;
  if (file.byteLength < expectedEnd) {
    fail(`file is truncated: weights need ${w.byteLength} bytes after the header`, `${file.byteLength - PREFIX - headerLength} bytes`);
  }
  if (file.byteLength > expectedEnd) fail(`file has trailing bytes after the weights (expected ${expectedEnd} bytes in all)`, `${file.byteLength} bytes`);
  const weightBytes = file.subarray(PREFIX + headerLength, expectedEnd);
  const weightSum = sha256(weightBytes);
  if (weightSum !== w.sha256) fail(`weights are corrupted: SHA-256 should be ${w.sha256}`, weightSum);
  let tokenizer: BPETokenizer;
  try {
    tokenizer = BPETokenizer.fromJSON(header.tokenizer);
  } catch (error) {
    return fail('tokenizer is invalid', (error as Error).message);
  }
  // 4) tensors (copied out of the file buffer so they own aligned memory)
  const weightData = weightBytes.buffer.slice(weightBytes.byteOffset, weightBytes.byteOffset + weightBytes.byteLength);
  let weights: tf.NamedTensorMap;
  try {
    weights = tf.io.decodeWeights(weightData as ArrayBuffer, w.specs);
  } catch (error) {
    return fail('weight specs do not match the weight data', (error as Error).message);
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
