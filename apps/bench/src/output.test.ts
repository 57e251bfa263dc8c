import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ceilingsOf, fmt, headlineTable, markdownReport, rowOf, writeOutputs } from './output.js';
import type { BenchConfig, BenchReport, BenchResult } from './types.js';

const base: BenchConfig = {
  impl: 'attnkit:auto',
  engine: 'tfjs',
  backend: 'cpu',
  mode: 'forward',
  B: 1,
  H: 8,
  Hkv: 8,
  T: 128,
  d: 64,
  causal: false,
  window: null,
  warmup: 1,
  samples: 3,
  budgetMs: 1000,
  errorT: 128,
  decodeSteps: 16,
  matmulN: 512,
  ortThreads: 0,
};

/** A result whose samples have the given median; 1 GFLOP per run unless told. */
function ok(over: Partial<BenchConfig>, medianMs: number, flops = 1e9): BenchResult {
  return {
    config: { ...base, ...over },
    status: 'ok',
    measurement: {
      samplesMs: [medianMs * 1.5, medianMs, medianMs * 0.5],
      flops,
      tfPeakBytes: over.engine && over.engine !== 'tfjs' ? null : 64 * 1024 * 1024,
      baselineRssBytes: 100 * 1024 * 1024,
      peakRssBytes: 300 * 1024 * 1024,
      maxError: 1.5e-7,
      errorT: 128,
      notes: [],
    },
  };
}

const results: BenchResult[] = [
  // ceilings from the fastest run (half the median here): tfjs cpu 2 GFLOP/s, onnxruntime-node 20 GFLOP/s
  ok({ impl: 'matmul:tfjs', mode: 'matmul', T: 512, d: 512 }, 1000, 1e9),
  ok({ impl: 'matmul:onnxruntime-node', engine: 'onnxruntime-node', backend: 'native', mode: 'matmul' }, 100, 1e9),
  ok({ T: 128 }, 10),
  ok({ T: 128, impl: 'plain-tfjs' }, 30),
  ok({ T: 128, impl: 'onnxruntime-node', engine: 'onnxruntime-node', backend: 'native' }, 5),
  ok({ T: 1024 }, 1000),
  ok({ T: 1024, impl: 'plain-tfjs' }, 1500),
  { config: { ...base, T: 1024, impl: 'onnxruntime-node', engine: 'onnxruntime-node', backend: 'native' }, status: 'not-run', reason: 'timed out after 60s' },
];

const report: BenchReport = {
  command: 'pnpm bench --T 128,1024',
  preset: 'quick',
  startedAt: '2025-01-01T00:00:00.000Z',
  finishedAt: '2025-01-01T00:01:00.000Z',
  machine: {
    cpuModel: 'Test CPU',
    cores: 2,
    totalMemoryBytes: 8 * 1024 ** 3,
    platform: 'linux',
    arch: 'x64',
    node: '20.0.0',
    versions: { 'onnxruntime-node': '1.30.0' },
  },
  ceilings: ceilingsOf(results),
  results,
};

describe('ceilings and rows', () => {
  it('turns matmul results into per-(backend, engine) GFLOP/s', () => {
    expect(report.ceilings).toEqual([
      { backend: 'cpu', engine: 'tfjs', N: 512, gflops: 2 },
      { backend: 'native', engine: 'onnxruntime-node', N: 512, gflops: 20 },
    ]);
  });

  it('computes a row from the samples: median, range, GFLOP/s, share of its own ceiling, memory', () => {
    const row = rowOf(results[2]!, report.ceilings)!;
    expect(row).toMatchObject({ medianMs: 10, minMs: 5, maxMs: 15, runs: 3, gflops: 100, tfPeakMB: 64, peakRssMB: 300, rssGrowthMB: 200 });
    expect(row.pctCeiling).toBe(5000); // 100 GFLOP/s of a 2 GFLOP/s ceiling: synthetic numbers
    expect(rowOf(results[4]!, report.ceilings)!.pctCeiling).toBe(1000); // 200 of 20, its own engine's
    expect(rowOf(results[7]!, report.ceilings)).toBeNull();
  });

  it('formats to three significant digits', () => {
    expect(fmt(1234.5)).toBe('1230');
    expect(fmt(0.012345)).toBe('0.0123');
    expect(fmt(1.5e-7, 2)).toBe('1.5e-7');
    expect(fmt(null)).toBe('—');
  });
});

describe('markdown', () => {
  it('states the headline ratios of attnkit against plain tfjs and onnxruntime-node', () => {
    const table = headlineTable(results);
    expect(table).toContain('| 128 | 3× | 0.5× |'); // plain 30 ms ÷ 10 ms; ort 5 ms ÷ 10 ms
    expect(table).toContain('| 1024 | 1.5× | — |'); // onnxruntime-node did not run
  });

  it('has the command, machine, ceilings, every result, and the not-run reasons', () => {
    const md = markdownReport(report, { 'attnkit:auto': "attnkit's default path" });
    expect(md).toContain('Command: `pnpm bench --T 128,1024`');
    expect(md).toContain('Machine: Test CPU, 2 cores, 8 GiB');
    expect(md).toContain('Node 20.0.0  ');
    expect(markdownReport({ ...report, machine: { ...report.machine, nodeFlags: ['--experimental-wasm-relaxed-simd'] } })).toContain(
      'Node 20.0.0 --experimental-wasm-relaxed-simd  ',
    );
    expect(md).toContain('| cpu | tfjs | 512 | 2 |');
    expect(md).toContain('| 128 | cpu | attnkit:auto | 10 | 5–15 (3) | 100 | 5000% | 64 | 300 (+200) | 1.5e-7 (T=128) |');
    expect(md).toContain('| 1024 | native | onnxruntime-node | not run: timed out after 60s |');
    expect(md).toContain("- `attnkit:auto`: attnkit's default path");
    expect(md).toContain('[time](charts/forward-B1-H8-Hkv8-d64-time.svg)');
  });
});

describe('writeOutputs', () => {
  let dir = '';
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes the raw JSON, the table and two SVG charts rendered by vega', async () => {
    dir = await mkdtemp(join(tmpdir(), 'attnkit-bench-'));
    const files = await writeOutputs(dir, report);
    expect(files.map((f) => f.slice(dir.length + 1)).sort()).toEqual([
      'charts/forward-B1-H8-Hkv8-d64-memory.svg',
      'charts/forward-B1-H8-Hkv8-d64-time.svg',
      'results.json',
      'results.md',
    ]);
    expect(JSON.parse(await readFile(join(dir, 'results.json'), 'utf8'))).toEqual(report);
    expect(await readFile(join(dir, 'results.md'), 'utf8')).toBe(markdownReport(report));
    expect(await readdir(join(dir, 'charts'))).toHaveLength(2);
    const time = await readFile(join(dir, 'charts/forward-B1-H8-Hkv8-d64-time.svg'), 'utf8');
    expect(time.startsWith('<svg')).toBe(true);
    for (const text of [
      'Time vs T (log-log)',
      'T (sequence length)',
      'median ms per call',
      'attnkit:auto (cpu)',
      'plain-tfjs (cpu)',
      'onnxruntime-node (native)',
    ]) {
      expect(time).toContain(text);
    }
    const memory = await readFile(join(dir, 'charts/forward-B1-H8-Hkv8-d64-memory.svg'), 'utf8');
    expect(memory).toContain('peak RSS growth (MB)');
  });
});
