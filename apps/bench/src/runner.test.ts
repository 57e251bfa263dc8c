import { describe, expect, it } from 'vitest';
import { parseArgs } from './args.js';
import { label, progressLine } from './progress.js';
import { childNodeFlags, parseChildOutput, predictSkip } from './runner.js';
import { expandMatrix } from './matrix.js';
import { IMPLEMENTATION_LIST } from './impls/index.js';
import { RESULT_MARKER, type BenchConfig } from './types.js';

const [planned] = expandMatrix(parseArgs(['--impls', 'plain-tfjs', '--backends', 'cpu', '--T', '1024']), IMPLEMENTATION_LIST).filter(
  (p) => p.config.mode !== 'matmul',
);
const config: BenchConfig = planned!.config;

describe('parseChildOutput', () => {
  it('finds the marked line among whatever else the libraries printed', () => {
    const result = { config, status: 'not-run', reason: 'because' };
    const stdout = `Hi, looks like you are running TensorFlow.js in Node.js\n\n${RESULT_MARKER}${JSON.stringify(result)}\n`;
    expect(parseChildOutput(stdout)).toEqual(result);
    expect(parseChildOutput('no marker here\n')).toBeNull();
  });
});

describe('childNodeFlags', () => {
  it('turns relaxed SIMD on by its V8 flag where Node has it only behind one (before 22)', () => {
    expect(childNodeFlags(true, '20.20.2')).toEqual(['--experimental-wasm-relaxed-simd']);
    expect(childNodeFlags(true, '22.1.0')).toEqual([]);
    expect(childNodeFlags(false, '20.20.2')).toEqual([]);
  });
});

describe('predictSkip', () => {
  const at = (T: number) => ({ ...config, T, warmup: 1, budgetMs: 1000 });

  it('runs the first T of a series and whatever fits the limit', () => {
    expect(predictSkip(at(512), undefined, 60)).toBeNull();
    // 100 ms at T=256 → 400 ms at T=512: warm-up + one sample ≈ 4 s startup + 0.8 s
    expect(predictSkip(at(512), { T: 256, medianMs: 100, blocked: null }, 60)).toBeNull();
  });

  it('skips a T whose quadratic prediction passes the limit, naming the numbers', () => {
    // 2 s at T=1024 → 32 s at T=4096, over the budget so one run: 4 s + 32 s = 36 s > 30 s
    expect(predictSkip(at(4096), { T: 1024, medianMs: 2000, blocked: null }, 30)).toBe('skipped: predicted ~36s from T=1024 (2000 ms), over the 30s limit');
    expect(predictSkip(at(4096), { T: 1024, medianMs: 2000, blocked: null }, 40)).toBeNull();
  });

  it('skips every larger T once one timed out or was skipped', () => {
    expect(predictSkip(at(2048), { T: 1024, medianMs: null, blocked: 'timed out' }, 60)).toBe('skipped: T=1024 timed out');
    expect(predictSkip(at(4096), { T: 2048, medianMs: null, blocked: 'skipped' }, 60)).toBe('skipped: T=2048 was skipped');
  });
});

describe('progress', () => {
  it('draws the bar, the count, the elapsed time and the configuration', () => {
    expect(label(planned!)).toBe('plain-tfjs cpu forward T=1024');
    expect(progressLine(5, 10, 83_000, 'x', 44)).toBe('[##########----------] 5/10 1m23s  x'.padEnd(44));
    expect(progressLine(0, 4, 0, 'a long label that will be cut', 30)).toHaveLength(30);
  });
});
