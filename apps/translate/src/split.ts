/**
 * Deterministic, seeded train/dev/test assignment by key.
 *
 * Each key is hashed (32-bit FNV-1a over `seed`, a NUL separator and the key's UTF-8 bytes) to a
 * number in [0, 1); the key falls into `dev` below `dev`, into `test` below `dev + test`, and into
 * `train` otherwise. The assignment depends on nothing but the key and the seed: not on input
 * order, not on which other keys exist. So every item that shares a key (for the Ding corpus, an
 * English sentence) lands in the same split, and adding data never moves an old key.
 */

import { AttentionError } from '@attnkit/masking';

export type SplitName = 'train' | 'dev' | 'test';

export interface SplitOptions {
  /** Seed mixed into the hash. Default `'attnkit'`. */
  seed?: string;
  /** Fraction of keys in dev. Default `0.05`. */
  dev?: number;
  /** Fraction of keys in test. Default `0.05`. */
  test?: number;
}

const encoder = new TextEncoder();

/** 32-bit FNV-1a of `seed`, a NUL byte and `key`, as a fraction in [0, 1). */
export function hashToUnit(key: string, seed: string): number {
  let h = 0x811c9dc5;
  const bytes = encoder.encode(`${seed}\u0000${key}`);
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // FNV's low bits mix poorly for short inputs; a final avalanche (murmur3 fmix32) fixes that.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/** The split a key belongs to. */
export function splitOf(key: string, options: SplitOptions = {}): SplitName {
  const { seed = 'attnkit', dev = 0.05, test = 0.05 } = options;
  if (!(dev >= 0 && test >= 0 && dev + test <= 1)) {
    throw AttentionError.value('splitOf', 'dev and test must be fractions summing to at most 1', `dev ${dev} and test ${test}`);
  }
  const u = hashToUnit(key, seed);
  if (u < dev) return 'dev';
  if (u < dev + test) return 'test';
  return 'train';
}

export interface Splits<T> {
  train: T[];
  dev: T[];
  test: T[];
}

/** Partitions items by `splitOf(keyOf(item))`, keeping their order inside each split. */
export function splitBy<T>(items: Iterable<T>, keyOf: (item: T) => string, options: SplitOptions = {}): Splits<T> {
  const out: Splits<T> = { train: [], dev: [], test: [] };
  for (const item of items) out[splitOf(keyOf(item), options)].push(item);
  return out;
}
