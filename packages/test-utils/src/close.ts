import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

export type Numeric = tf.Tensor | ArrayLike<number>;

export interface CloseOptions {
  /** Relative tolerance: |a - e| <= atol + rtol * |e|. Default 1e-5. */
  rtol?: number;
  /** Absolute tolerance. Default 1e-6. */
  atol?: number;
  /** Label printed with a failure. */
  label?: string;
}

function values(x: Numeric): ArrayLike<number> {
  return x instanceof tf.Tensor ? (x.dataSync() as ArrayLike<number>) : x;
}

/** Largest |a - e| / (atol + rtol*|e|) over all entries; <= 1 means close. */
export function maxViolation(actual: Numeric, expected: Numeric, rtol = 1e-5, atol = 1e-6) {
  const a = values(actual);
  const e = values(expected);
  let worst = 0;
  let at = -1;
  let maxAbs = 0;
  for (let i = 0; i < e.length; i++) {
    const ai = a[i]!;
    const ei = e[i]!;
    const diff = Math.abs(ai - ei);
    if (!Number.isFinite(ai) || !Number.isFinite(ei)) {
      if (!Object.is(ai, ei)) return { ratio: Number.POSITIVE_INFINITY, at: i, maxAbs: Number.NaN };
      continue;
    }
    maxAbs = Math.max(maxAbs, diff);
    const ratio = diff / (atol + rtol * Math.abs(ei));
    if (ratio > worst) {
      worst = ratio;
      at = i;
    }
  }
  return { ratio: worst, at, maxAbs };
}

/**
 * Asserts two tensors (or arrays) have the same shape (when both are tensors) and
 * elementwise |actual - expected| <= atol + rtol * |expected|.
 */
export function expectTensorsClose(actual: Numeric, expected: Numeric, options: CloseOptions = {}) {
  const { rtol = 1e-5, atol = 1e-6, label = '' } = options;
  if (actual instanceof tf.Tensor && expected instanceof tf.Tensor) {
    expect(actual.shape, `${label} shape`).toEqual(expected.shape);
  }
  const a = values(actual);
  const e = values(expected);
  expect(a.length, `${label} size`).toBe(e.length);
  const { ratio, at, maxAbs } = maxViolation(a, e, rtol, atol);
  if (ratio > 1) {
    expect.fail(`${label} not close at flat index ${at}: actual ${a[at]} vs expected ${e[at]} ` + `(max |diff| ${maxAbs}, rtol ${rtol}, atol ${atol})`);
  }
}
