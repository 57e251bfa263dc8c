/**
 * The wasm kernel's dropout pattern, in JavaScript: weight (b, h, i, j) of a call with rate r
 * and seed s is kept (scaled by 1/(1 - r)) when dropHash(s, ((b·Hq + h)·Tq + i)·Tk + j) >=
 * r·2^32 (r as float32). assembly/attention.ts computes the same hash four lanes at a time;
 * the tests build the kernel's mask with it to check the kernel against the reference path.
 */

/** lowbias32 of index·0x9e3779b9 + seed (32-bit wrap-around), as an unsigned 32-bit number. */
export function dropHash(seed: number, index: number): number {
  let x = (Math.imul(index, 0x9e3779b9) + seed) | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The kept entries (1) of [B, H, Tq, Tk] weights for dropout `rate` and `seed`. */
export function dropoutKeep(shape: [number, number, number, number], rate: number, seed: number): Uint8Array {
  const threshold = Math.trunc(Math.fround(rate) * 2 ** 32);
  const n = shape.reduce((a, b) => a * b, 1);
  const keep = new Uint8Array(n);
  for (let i = 0; i < n; i++) keep[i] = rate > 0 && dropHash(seed, i) < threshold ? 0 : 1;
  return keep;
}
