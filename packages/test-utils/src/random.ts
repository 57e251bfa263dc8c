import * as tf from '@tensorflow/tfjs-core';

/** mulberry32: a tiny, fast, seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Seeded integer in [lo, hi] inclusive. */
export function randomInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** Seeded float32 values, uniform in [min, max). */
export function randomValues(size: number, seed: number, min = -1, max = 1): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = min + (max - min) * rand();
  return out;
}

/** A float32 tensor of seeded uniform values in [min, max). */
export function randomTensor(shape: number[], seed: number, min = -1, max = 1): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(randomValues(size, seed, min, max), shape, 'float32');
}

/** A bool tensor where each entry is true with probability `pTrue`. */
export function randomMask(shape: number[], seed: number, pTrue = 0.7): tf.Tensor {
  const rand = seededRandom(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = rand() < pTrue ? 1 : 0;
  return tf.tensor(out, shape, 'bool');
}
