import { describe, expect, it } from 'vitest';
import { parseModelArgs } from './args.js';

describe('parseModelArgs', () => {
  it('defaults to the issue peer: tiny 64x20, both modes, PyTorch on 2 threads', () => {
    const a = parseModelArgs([]);
    expect(a.sizes).toEqual(['tiny']);
    expect(a.batches).toEqual([[64, 20]]);
    expect(a.modes).toEqual(['train-step', 'decode']);
    expect(a.torchThreads).toBe(2);
    expect(a.decodeBeams).toEqual([1]);
  });

  it('reads sizes, batches and the peer thread count', () => {
    const a = parseModelArgs(['--sizes', 'tiny,small', '--batch', '64x20,128x32', '--torch-threads', '1', '--modes', 'train-step', '--beam', '1,4']);
    expect(a.sizes).toEqual(['tiny', 'small']);
    expect(a.batches).toEqual([
      [64, 20],
      [128, 32],
    ]);
    expect(a.torchThreads).toBe(1);
    expect(a.modes).toEqual(['train-step']);
    expect(a.decodeBeams).toEqual([1, 4]);
  });

  it('rejects bad values, naming the flag', () => {
    expect(() => parseModelArgs(['--torch-threads', '0'])).toThrow(/--torch-threads takes a positive integer, got '0'/);
    expect(() => parseModelArgs(['--batch', '64by20'])).toThrow(/--batch takes BxT pairs/);
    expect(() => parseModelArgs(['--sizes', 'huge'])).toThrow(/unknown size 'huge'/);
    expect(() => parseModelArgs(['--beam', '4,0'])).toThrow(/--beam takes a positive integer, got '0'/);
  });
});
