/**
 * A Keras 3 `.keras` file: a zip archive of `metadata.json`, `config.json` and
 * `model.weights.h5` (keras/src/saving/saving_lib.py), read with fflate.
 */
import { AttentionError } from '@attnkit/masking';
import { unzipSync } from 'fflate';

/** The entries of a `.keras` archive. */
export interface KerasArchive {
  /** `config.json`: the serialized model (`module`, `class_name`, `config`, ...). */
  config: Record<string, unknown>;
  /** `metadata.json` (`keras_version`, `date_saved`), or `{}` when absent. */
  metadata: Record<string, unknown>;
  /** `model.weights.h5`: the weights file, or null when the model was saved without weights. */
  weights: Uint8Array | null;
}

const ZIP_SIGNATURE = [0x50, 0x4b, 0x03, 0x04];
const SHARDED = 'model.weights.json';

/** Bytes of a file given as a Uint8Array, an ArrayBuffer or (in Node) a path. */
export async function bytesOf(op: string, source: Uint8Array | ArrayBuffer | string): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof source === 'string') {
    // A computed specifier keeps browser bundlers from resolving a Node built-in.
    const fsModule = 'node:fs/promises';
    let readFile: (path: string) => Promise<Uint8Array>;
    try {
      ({ readFile } = (await import(/* @vite-ignore */ fsModule)) as { readFile(path: string): Promise<Uint8Array> });
    } catch {
      throw new AttentionError(op, `a path can only be read in Node; pass the file's bytes (Uint8Array or ArrayBuffer) instead of '${source}'`);
    }
    try {
      return new Uint8Array(await readFile(source));
    } catch (e) {
      throw new AttentionError(op, `cannot read '${source}' (${(e as Error).message})`);
    }
  }
  throw AttentionError.value(op, 'the source must be a Uint8Array, an ArrayBuffer or a path', source === null ? null : typeof source);
}

function parseJson(op: string, entry: string, bytes: Uint8Array): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new AttentionError(op, `${entry} is not valid JSON (${(e as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new AttentionError(op, `${entry} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Unzips a `.keras` archive and parses its JSON entries. */
export function readKerasArchive(bytes: Uint8Array, op = 'readKerasArchive'): KerasArchive {
  if (!ZIP_SIGNATURE.every((b, i) => bytes[i] === b)) {
    throw new AttentionError(op, `not a .keras archive: a .keras file is a zip, but the first bytes are not a zip signature (${bytes.length} bytes)`);
  }
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new AttentionError(op, `the .keras archive is corrupted (${(e as Error).message})`);
  }
  const config = files['config.json'];
  if (!config) throw new AttentionError(op, `the .keras archive has no config.json (entries: ${Object.keys(files).join(', ') || 'none'})`);
  if (files['model.weights.npz']) throw new AttentionError(op, 'npz weights (weights_format="npz") are not supported; save with the default h5 format');
  if (files[SHARDED]) throw new AttentionError(op, 'sharded weights (model.weights.json with several .h5 shards) are not supported');
  const metadata = files['metadata.json'];
  return {
    config: parseJson(op, 'config.json', config),
    metadata: metadata ? parseJson(op, 'metadata.json', metadata) : {},
    weights: files['model.weights.h5'] ?? null,
  };
}
