/**
 * `pnpm --filter @attnkit/bench model [--modes train-step,decode] [--sizes tiny,small]
 * [--batch 64x20,128x32] [--decode-batch 1,32] [--beam 1,4] [--rounds 3] [--torch-threads 2] [--out DIR]`: the whole
 * translate model in attnkit (tfjs wasm with @attnkit/kernels) beside the same model in
 * PyTorch (torch_peer.py, where /usr/bin/python3 has torch), the two alternating in rounds in
 * one run. Reports medians of every round's samples, attained GFLOP/s (train-step) or
 * tokens/s (decode), and the ratio. A missing torch is reported as not run, never guessed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerFusedAttention, registerTrainingKernels, wasmKernelInfo } from '@attnkit/kernels';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { MODEL_USAGE, type ModelArgs, parseModelArgs } from './args.js';
import { AttnkitDecoder, AttnkitTrainer } from './attnkit.js';
import { type ModelSize, trainStepFlops } from './spec.js';

const PEER = fileURLToPath(new URL('./torch_peer.py', import.meta.url));
const PYTHON = '/usr/bin/python3';
/** Source length of the decode mode. */
const DECODE_SOURCE = 20;

interface Row {
  mode: 'train-step' | 'decode';
  size: ModelSize;
  B: number;
  T: number;
  /** Decode: beam size (1: greedy). */
  beam?: number;
  attnkitMs: number[];
  torchMs: number[];
  /** Per sample: train-step FLOPs, or decode tokens and decoder steps. */
  flops?: number;
  tokens?: number;
  decoderSteps?: number;
  torchNote: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function torchAvailable(): string | null {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
    return null;
  } catch {
    return `${PYTHON} has no torch (Debian: apt-get install python3-torch libopenblas0-openmp)`;
  }
}

function torchRun(args: string[]): { samplesMs: number[]; blas: string; threads: number; torch: string } {
  const out = execFileSync(PYTHON, [PEER, ...args], { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'passive' } });
  return JSON.parse(out.trim().split('\n').at(-1)!);
}

function timeIt(n: number, f: () => void): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    f();
    out.push(performance.now() - t0);
  }
  return out;
}

async function main(a: ModelArgs): Promise<number> {
  await tf.setBackend(a.backend);
  if (a.fused) {
    await registerFusedAttention({ build: a.build });
    await registerTrainingKernels({ build: a.build });
  }
  const missing = torchAvailable();
  let torchInfo = missing ?? '';
  const rows: Row[] = [];
  const plan: Array<Omit<Row, 'attnkitMs' | 'torchMs' | 'torchNote'>> = [];
  for (const size of a.sizes) {
    if (a.modes.includes('train-step')) for (const [B, T] of a.batches) plan.push({ mode: 'train-step', size, B, T, flops: trainStepFlops(size, B, T, T) });
    if (a.modes.includes('decode'))
      for (const beam of a.decodeBeams) for (const B of a.decodeBatches) plan.push({ mode: 'decode', size, B, T: a.decodeSteps, beam });
  }
  for (const p of plan) {
    const row: Row = { ...p, attnkitMs: [], torchMs: [], torchNote: missing ?? '' };
    const trainer = p.mode === 'train-step' ? new AttnkitTrainer(p.size, p.B, p.T) : null;
    const decoder = p.mode === 'decode' ? new AttnkitDecoder(p.size, p.B, DECODE_SOURCE, p.T, p.beam) : null;
    const work = () => {
      if (trainer) trainer.step();
      else {
        const r = decoder!.run();
        row.tokens = r.tokens;
        row.decoderSteps = r.decoderSteps;
      }
    };
    for (let i = 0; i < a.warmup; i++) work();
    for (let round = 0; round < a.rounds; round++) {
      row.attnkitMs.push(...timeIt(a.steps, work));
      if (!missing) {
        const peerArgs = [
          '--mode',
          p.mode,
          '--size',
          p.size,
          '--B',
          String(p.B),
          '--warmup',
          String(a.warmup),
          '--samples',
          String(a.steps),
          '--threads',
          String(a.torchThreads),
        ];
        const r = torchRun(
          p.mode === 'train-step'
            ? [...peerArgs, '--T', String(p.T)]
            : [...peerArgs, '--T', String(DECODE_SOURCE), '--steps', String(row.decoderSteps), '--beam', String(p.beam ?? 1)],
        );
        row.torchMs.push(...r.samplesMs);
        torchInfo = `PyTorch ${r.torch}, ${r.threads} threads, ${r.blas}`;
      }
      process.stderr.write(
        `model: ${p.mode} ${p.size} B=${p.B}${(p.beam ?? 1) > 1 ? ` beam ${p.beam}` : ''} round ${round + 1}/${a.rounds}: attnkit ${median(row.attnkitMs).toFixed(1)} ms, torch ${median(row.torchMs).toFixed(1)} ms\n`,
      );
    }
    trainer?.dispose();
    decoder?.dispose();
    rows.push(row);
  }

  const kernel = wasmKernelInfo();
  const header = [
    `# Whole-model benchmark (${new Date().toISOString()})`,
    '',
    `Command: \`pnpm --filter @attnkit/bench model ${process.argv.slice(2).join(' ')}\``,
    `Machine: ${cpus()[0]?.model.trim()}, ${cpus().length} cores, Node ${process.versions.node}`,
    `attnkit: tfjs ${a.backend}${a.fused && kernel ? `, @attnkit/kernels (${kernel.build} build, ${kernel.threads} threads)` : ', no attnkit kernels'}`,
    `Peer: ${torchInfo || 'not run'}`,
    `${a.rounds} alternating rounds of ${a.steps} samples each (after ${a.warmup} warm-up runs); medians over all rounds.`,
    '',
    '| mode | model | batch | attnkit ms | PyTorch ms | attnkit ÷ PyTorch | attnkit | PyTorch |',
    '|---|---|---|---:|---:|---:|---:|---:|',
  ];
  const lines = rows.map((r) => {
    const [am, pm] = [median(r.attnkitMs), median(r.torchMs)];
    const ratio = r.torchMs.length ? (am / pm).toFixed(2) : 'not run';
    const rate = (ms: number) =>
      r.mode === 'train-step'
        ? `${((r.flops! / ms) * 1e-6).toFixed(1)} GFLOP/s`
        : `${((r.tokens! / ms) * 1000).toFixed(0)} tok/s, ${(ms / r.decoderSteps!).toFixed(2)} ms/step`;
    const batch = r.mode === 'train-step' ? `${r.B}×${r.T}+${r.T}` : `${r.B} × ${r.decoderSteps} steps${(r.beam ?? 1) > 1 ? `, beam ${r.beam}` : ''}`;
    return `| ${r.mode} | ${r.size} | ${batch} | ${am.toFixed(1)} | ${r.torchMs.length ? pm.toFixed(1) : r.torchNote} | ${ratio} | ${rate(am)} | ${r.torchMs.length ? rate(pm) : '—'} |`;
  });
  const md = [...header, ...lines, ''].join('\n');
  process.stdout.write(md);
  if (a.out) {
    mkdirSync(a.out, { recursive: true });
    writeFileSync(join(a.out, 'model.md'), md);
    writeFileSync(join(a.out, 'model.json'), `${JSON.stringify({ args: a, peer: torchInfo, kernel, rows }, null, 2)}\n`);
  }
  return 0;
}

let args: ModelArgs;
try {
  args = parseModelArgs(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`model: ${(e as Error).message}\n${MODEL_USAGE}\n`);
  process.exit(2);
}
process.exit(await main(args));
