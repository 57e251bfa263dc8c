/**
 * ruvector-attention-wasm: a Rust/wasm attention library with a per-query API,
 * scaled_dot_attention(query [d], keys: [d][], values: [d][], scale). One call per
 * (batch, head, query); causal and window masks become the slice of keys a query sees.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { BenchImplementation, Problem, Session } from '../registry.js';

interface Ruvector {
  initSync(module: { module: Uint8Array }): unknown;
  scaled_dot_attention(query: Float32Array, keys: Float32Array[], values: Float32Array[], scale?: number | null): Float32Array;
  version(): string;
}

async function setup(problem: Problem): Promise<Session> {
  const rv = (await import('ruvector-attention-wasm')) as unknown as Ruvector;
  const wasmPath = createRequire(import.meta.url).resolve('ruvector-attention-wasm/ruvector_attention_wasm_bg.wasm');
  rv.initSync({ module: readFileSync(wasmPath) });
  const { B, H, Hkv, d, causal, window } = problem.config;
  const T = problem.T;
  const group = H / Hkv;
  // Rows as the API wants them (views, no copies): keys[b][kvh][j] is a [d] vector.
  const rows = (x: Float32Array) =>
    Array.from({ length: B }, (_, b) =>
      Array.from({ length: Hkv }, (_, h) => Array.from({ length: T }, (_, j) => x.subarray(((b * Hkv + h) * T + j) * d, ((b * Hkv + h) * T + j + 1) * d))),
    );
  const keys = rows(problem.k);
  const values = rows(problem.v);
  const scale = 1 / Math.sqrt(d);
  const out = new Float32Array(B * H * T * d);
  const output = async () => {
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++) {
        const kv = Math.floor(h / group);
        for (let i = 0; i < T; i++) {
          const lo = window === null ? 0 : Math.max(0, i - window);
          const hi = causal ? i + 1 : T;
          const row = ((b * H + h) * T + i) * d;
          const q = problem.q.subarray(row, row + d);
          const ks = lo === 0 && hi === T ? keys[b]![kv]! : keys[b]![kv]!.slice(lo, hi);
          const vs = lo === 0 && hi === T ? values[b]![kv]! : values[b]![kv]!.slice(lo, hi);
          out.set(rv.scaled_dot_attention(q, ks, vs, scale), row);
        }
      }
    return out.slice();
  };
  return { run: async () => void (await output()), output, dispose: () => {} };
}

export const ruvector: BenchImplementation = {
  name: 'ruvector',
  description: 'ruvector-attention-wasm 0.1.32, per-query scaled_dot_attention (one call per query row)',
  engine: 'ruvector',
  level: 'attention',
  backends: ['wasm'],
  modes: ['forward'],
  setup,
};
