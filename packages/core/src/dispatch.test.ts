import { describe, expect, it } from 'vitest';
import { AttentionError, SLICED_MIN_SCORES, choosePath } from './index.js';
import type { AttentionDims, Implementation } from './types.js';

// choosePath is the one rule of all three entry points (no fused kernel registered here; the
// fused branch is tested in fused.test.ts with a stand-in kernel).
const dims = (Tq: number, Tk: number, extra: Partial<AttentionDims> = {}): AttentionDims => ({
  B: 1,
  Hq: 1,
  Hkv: 1,
  Tq,
  Tk,
  Dk: 8,
  Dv: 8,
  group: 1,
  ...extra,
});

describe('choosePath', () => {
  it("'auto': chunked from AUTO_CHUNKED_MIN_SCORES (2^21 on cpu, 2^23 elsewhere), sliced on cpu and wasm from SLICED_MIN_SCORES, else reference", () => {
    expect(choosePath({}, dims(16, 16), 'cpu', false)).toBe('reference');
    expect(choosePath({}, dims(128, 128), 'cpu', false)).toBe('sliced');
    expect(choosePath({}, dims(128, 128), 'wasm', false)).toBe('sliced');
    expect(choosePath({}, dims(128, 128), 'webgl', false)).toBe('reference');
    expect(choosePath({}, dims(1024, 2048), 'cpu', false)).toBe('chunked');
    expect(choosePath({}, dims(1024, 2048), 'wasm', false)).toBe('sliced');
    expect(choosePath({}, dims(4096, 2048), 'wasm', false)).toBe('chunked');
    expect(choosePath({}, dims(4096, 2048), 'webgpu', false)).toBe('chunked');
    // GQA: the sliced threshold counts the group's rows of one slice
    expect(choosePath({}, dims(64, 64, { Hq: 4, group: 4 }), 'wasm', false)).toBe(64 * 64 * 4 >= SLICED_MIN_SCORES ? 'sliced' : 'reference');
  });

  it("'auto' never picks chunked or fused when the weights are wanted", () => {
    expect(choosePath({}, dims(4096, 2048), 'wasm', true)).toBe('sliced');
    expect(choosePath({}, dims(4096, 2048), 'webgpu', true)).toBe('reference');
  });

  it('an explicit path runs as named or throws naming the op', () => {
    for (const path of ['reference', 'sliced', 'chunked'] as Implementation[]) {
      expect(choosePath({ implementation: path }, dims(4, 4), 'cpu', false)).toBe(path);
    }
    expect(() => choosePath({ implementation: 'fused' }, dims(4, 4), 'cpu', false)).toThrow(
      new AttentionError(
        'scaledDotProductAttention',
        "implementation 'fused' cannot run: no AttnkitFusedAttention kernel registered for backend 'cpu', but got 'fused'",
      ),
    );
    expect(() => choosePath({ implementation: 'chunked' }, dims(4, 4), 'cpu', true, 'attentionWeights')).toThrow(
      /^attentionWeights: implementation 'chunked' cannot run: it never forms the attention weights/,
    );
  });
});
