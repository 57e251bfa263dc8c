import { describe, expect, it } from 'vitest';
import { BenchArgError, PRESETS, parseArgs } from './args.js';

describe('parseArgs', () => {
  it('gives the quick preset with no arguments', () => {
    expect(parseArgs([])).toEqual(PRESETS.quick);
  });

  it('applies the preset first, whatever the flag order, then the overrides', () => {
    const o = parseArgs(['--T', '64,256', '--preset', 'full']);
    expect(o.preset).toBe('full');
    expect(o.T).toEqual([64, 256]);
    expect(o.modes).toEqual(PRESETS.full.modes);
    expect(o.samples).toBe(PRESETS.full.samples);
  });

  it('reads lists, booleans, windows and --flag=value, and ignores a bare -- from pnpm/turbo', () => {
    const o = parseArgs([
      '--',
      '--impls=attnkit,onnxruntime-node',
      '--backends',
      'wasm,webgpu',
      '--H',
      '8',
      '--Hkv',
      '2,8',
      '--causal',
      'true,false',
      '--window',
      'none,32',
      '--no-progress',
      '--relaxed-simd',
      '--ort-threads',
      '1',
    ]);
    expect(o.impls).toEqual(['attnkit', 'onnxruntime-node']);
    expect(o.backends).toEqual(['wasm', 'webgpu']);
    expect(o.H).toEqual([8]);
    expect(o.Hkv).toEqual([2, 8]);
    expect(o.causal).toEqual([true, false]);
    expect(o.window).toEqual([null, 32]);
    expect(o.progress).toBe(false);
    expect(o.relaxedSimd).toBe(true);
    expect(o.ortThreads).toBe(1);
  });

  it("expands 'decode' into both decode modes and accepts 'backward' for forward+backward", () => {
    expect(parseArgs(['--modes', 'forward,decode,backward']).modes).toEqual(['forward', 'decode-kv-cache', 'decode-no-cache', 'forward+backward']);
  });

  it('names the flag and the bad value in its errors', () => {
    expect(() => parseArgs(['--T', '12x'])).toThrow(BenchArgError);
    expect(() => parseArgs(['--T', '12x'])).toThrow(/--T: expected an integer >= 1, got '12x'/);
    expect(() => parseArgs(['--backends', 'cuda'])).toThrow(/--backends: expected one of cpu, wasm, webgpu, native, got 'cuda'/);
    expect(() => parseArgs(['--causal', 'yes'])).toThrow(/--causal: expected true or false, got 'yes'/);
    expect(() => parseArgs(['--preset', 'huge'])).toThrow(/--preset: expected one of quick, full, got 'huge'/);
    expect(() => parseArgs(['--frobnicate', '1'])).toThrow(/unknown option '--frobnicate'/);
    expect(() => parseArgs(['--samples'])).toThrow(/--samples: missing value/);
    expect(() => parseArgs(['--samples', '0'])).toThrow(/--samples: expected an integer >= 1, got '0'/);
    expect(() => parseArgs(['stray'])).toThrow(/unexpected argument 'stray'/);
    expect(() => parseArgs(['--T', ','])).toThrow(/--T: needs at least one value/);
  });
});
