/**
 * The one harness every tfjs attention implementation shares: it turns an `attend` function
 * into a Session for each mode (forward, forward+backward, decode with and without KV cache),
 * so implementations differ only in how they compute attention.
 */
import * as tf from '@tensorflow/tfjs-core';
import { randomValues } from '@attnkit/test-utils/random';
import type { Problem, Session } from '../registry.js';

export interface AttendOptions {
  causal: boolean;
  /** Keys before each query it may see (sliding window); null = unlimited. */
  window: number | null;
}

/** q [B, H, Tq, d], k and v [B, Hkv, Tk, d] → [B, H, Tq, d]; may allocate freely (runs in tidy). */
export type AttendFn = (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, options: AttendOptions) => tf.Tensor;

export function tfjsAttentionSession(problem: Problem, attend: AttendFn): Session {
  const { B, H, Hkv, d, mode, causal, window } = problem.config;
  const T = problem.T;
  const q = tf.tensor4d(problem.q, [B, H, T, d]);
  const k = tf.tensor4d(problem.k, [B, Hkv, T, d]);
  const v = tf.tensor4d(problem.v, [B, Hkv, T, d]);
  const owned: tf.Tensor[] = [q, k, v];
  const forward = async () => {
    const y = tf.tidy(() => attend(q, k, v, { causal, window }));
    const data = (await y.data()) as Float32Array;
    y.dispose();
    return data;
  };
  const dispose = () => tf.dispose(owned);

  switch (mode) {
    case 'forward':
      return { run: async () => void (await forward()), output: forward, dispose };
    case 'forward+backward': {
      const dy = tf.tensor4d(randomValues(B * H * T * d, 4), [B, H, T, d]);
      owned.push(dy);
      const grads = tf.grads((a, b, c) => attend(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D, { causal, window }));
      const run = async () => {
        const gs = grads([q, k, v], dy);
        await Promise.all(gs.map((g) => g.data()));
        tf.dispose(gs);
      };
      return { run, output: forward, dispose };
    }
    case 'decode-kv-cache':
    case 'decode-no-cache':
      return decodeSession(problem, attend, q, k, v, dispose);
    default:
      throw new Error(`tfjs harness: mode '${mode}' is not an attention mode`);
  }
}

/**
 * Generates the last `steps` tokens of the sequence one at a time. With a cache, step t appends
 * its key/value row to the cache (tf.concat, as a tfjs user writes it) and attends one query;
 * without, it recomputes causal attention over the whole prefix and keeps the last row.
 */
function decodeSession(problem: Problem, attend: AttendFn, q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, disposeInputs: () => void): Session {
  const { B, H, Hkv, d, mode, window, decodeSteps: steps } = problem.config;
  const T = problem.T;
  const T0 = T - steps;
  const row = (x: tf.Tensor4D, heads: number, t: number) => tf.slice(x, [0, 0, t, 0], [B, heads, 1, d]); // [B, heads, 1, d]
  const prefix = (x: tf.Tensor4D, heads: number, t: number) => tf.slice(x, [0, 0, 0, 0], [B, heads, t, d]); // [B, heads, t, d]
  // Per-step inputs are what projections would hand the decoder; making them is not timed.
  const qRows = Array.from({ length: steps }, (_, s) => row(q, H, T0 + s));
  const kRows = Array.from({ length: steps }, (_, s) => row(k, Hkv, T0 + s));
  const vRows = Array.from({ length: steps }, (_, s) => row(v, Hkv, T0 + s));
  const kPrefix = prefix(k, Hkv, T0);
  const vPrefix = prefix(v, Hkv, T0);
  const out = new Float32Array(B * H * steps * d);
  const store = (s: number, y: Float32Array) => {
    for (let bh = 0; bh < B * H; bh++) out.set(y.subarray(bh * d, (bh + 1) * d), (bh * steps + s) * d);
  };

  const withCache = async () => {
    let kc: tf.Tensor4D = kPrefix;
    let vc: tf.Tensor4D = vPrefix;
    for (let s = 0; s < steps; s++) {
      const nk = tf.concat([kc, kRows[s]!], 2) as tf.Tensor4D; // [B, Hkv, T0 + s + 1, d]
      const nv = tf.concat([vc, vRows[s]!], 2) as tf.Tensor4D;
      if (kc !== kPrefix) tf.dispose([kc, vc]);
      kc = nk;
      vc = nv;
      const y = tf.tidy(() => attend(qRows[s]!, kc, vc, { causal: true, window })); // [B, H, 1, d]
      store(s, (await y.data()) as Float32Array);
      y.dispose();
    }
    tf.dispose([kc, vc]);
  };
  const withoutCache = async () => {
    for (let s = 0; s < steps; s++) {
      const t = T0 + s + 1;
      const y = tf.tidy(() => {
        const full = attend(prefix(q, H, t), prefix(k, Hkv, t), prefix(v, Hkv, t), { causal: true, window }); // [B, H, t, d]
        return tf.slice(full, [0, 0, t - 1, 0], [B, H, 1, d]); // [B, H, 1, d]
      });
      store(s, (await y.data()) as Float32Array);
      y.dispose();
    }
  };
  const run = mode === 'decode-kv-cache' ? withCache : withoutCache;
  return {
    run,
    output: async () => {
      await run();
      return out.slice();
    },
    dispose: () => {
      tf.dispose([...qRows, ...kRows, ...vRows, kPrefix, vPrefix]);
      disposeInputs();
    },
  };
}
