import { describe, expect, it } from 'vitest';
import { parseArgs } from './args.js';
import { expandMatrix, sectionSlug, selectImplementations } from './matrix.js';
import type { BenchImplementation } from './registry.js';

const fake = (over: Partial<BenchImplementation>): BenchImplementation => ({
  name: 'x',
  description: '',
  engine: 'tfjs',
  level: 'attention',
  backends: ['cpu', 'wasm'],
  modes: ['forward', 'decode-kv-cache'],
  setup: () => Promise.reject(new Error('not in this test')),
  ...over,
});

const ALL = [
  fake({ name: 'fam:a' }),
  fake({ name: 'fam:b', unsupported: (c) => (c.Hkv !== c.H ? 'no GQA here' : null) }),
  fake({ name: 'solo', engine: 'onnxruntime-node', backends: ['native'], modes: ['forward'] }),
  fake({ name: 'matmul:tfjs', backends: ['cpu', 'wasm', 'webgpu'], modes: ['matmul'] }),
  fake({ name: 'matmul:onnxruntime-node', engine: 'onnxruntime-node', backends: ['native'], modes: ['matmul'] }),
];

describe('selectImplementations', () => {
  it('picks by exact name or by family, never the ceilings, and rejects unknown names', () => {
    const pick = (impls: string) => selectImplementations(parseArgs(['--impls', impls]), ALL).map((i) => i.name);
    expect(pick('fam')).toEqual(['fam:a', 'fam:b']);
    expect(pick('fam:b,solo')).toEqual(['fam:b', 'solo']);
    expect(() => pick('nope')).toThrow(/unknown implementation\(s\) nope/);
  });
});

describe('expandMatrix', () => {
  it('puts one ceiling per (backend, engine) first, then T ascending per implementation', () => {
    const plan = expandMatrix(parseArgs(['--impls', 'fam:a,solo', '--backends', 'cpu,native', '--T', '512,128']), ALL);
    expect(plan.map((p) => `${p.config.impl}/${p.config.backend}/${p.config.T}`)).toEqual([
      'matmul:tfjs/cpu/512',
      'matmul:onnxruntime-node/native/512',
      'fam:a/cpu/128',
      'fam:a/cpu/512',
      'solo/native/128',
      'solo/native/512',
    ]);
    expect(plan.every((p) => p.reason === null)).toBe(true);
    expect(plan[2]!.config).toMatchObject({ engine: 'tfjs', B: 1, H: 8, Hkv: 8, d: 64, mode: 'forward', causal: false });
  });

  it('keeps what cannot run, with its reason', () => {
    const plan = expandMatrix(
      parseArgs(['--impls', 'fam,solo', '--backends', 'cpu,native', '--modes', 'decode-kv-cache', '--Hkv', '2,3', '--T', '8,32', '--decode-steps', '16']),
      ALL,
    ).filter((p) => p.config.mode !== 'matmul');
    const reason = (impl: string, Hkv: number, T: number) => plan.find((p) => p.config.impl === impl && p.config.Hkv === Hkv && p.config.T === T)?.reason;
    expect(reason('fam:a', 2, 32)).toBeNull();
    expect(reason('fam:a', 2, 8)).toBe('T=8 must exceed the 16 decode steps');
    expect(reason('fam:a', 3, 32)).toBe('H=8 is not a multiple of Hkv=3');
    expect(reason('fam:b', 2, 32)).toBe('no GQA here');
    expect(reason('solo', 2, 32)).toBe('solo has no decode-kv-cache mode');
  });

  it('makes decoding causal and does not repeat configurations', () => {
    const plan = expandMatrix(parseArgs(['--impls', 'fam:a', '--backends', 'cpu', '--modes', 'decode-kv-cache', '--causal', 'true,false', '--T', '64']), ALL);
    const attention = plan.filter((p) => p.config.mode !== 'matmul');
    expect(attention).toHaveLength(1);
    expect(attention[0]!.config.causal).toBe(true);
    expect(sectionSlug(attention[0]!.config)).toBe('decode-kv-cache-B1-H8-Hkv8-d64-causal');
  });
});
