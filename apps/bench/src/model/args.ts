/** Arguments of the whole-model benchmark commands (profile-step, model). */
import { type ModelSize, MODEL_SIZES } from './spec.js';

export interface ModelArgs {
  sizes: ModelSize[];
  /** [B, T] pairs: B sentence pairs of T source and T target tokens. */
  batches: Array<[number, number]>;
  backend: string;
  /** Register @attnkit/kernels' fused kernels (attention and training). Default true. */
  fused: boolean;
  /** The kernels' wasm build: relaxed (fused multiply-adds; on Node 20 through V8's flag, as the translate app runs), simd, or auto. */
  build: 'relaxed' | 'simd' | 'auto';
  warmup: number;
  steps: number;
  /** Alternating rounds of attnkit and PyTorch (model command). */
  rounds: number;
  modes: Array<'train-step' | 'decode'>;
  /** Decode batch sizes and tokens generated per sentence. */
  decodeBatches: number[];
  decodeSteps: number;
  /** Beam sizes of the decode mode: 1 is greedy decoding, K > 1 beam search over K hypotheses per sentence. */
  decodeBeams: number[];
  /** Threads of the PyTorch peer (torch.set_num_threads). Default 2, the cores attnkit uses. */
  torchThreads: number;
  out: string | null;
}

export const MODEL_USAGE = `usage: model [--modes train-step,decode] [--sizes tiny,small] [--batch 64x20,128x32]
             [--decode-batch 1,32] [--decode-steps 32] [--beam 1,4] [--rounds 3] [--warmup 2] [--steps 5]
             [--backend wasm] [--build relaxed|simd|auto] [--no-fused] [--torch-threads 2] [--out DIR]`;

export function parseModelArgs(argv: string[]): ModelArgs {
  const a: ModelArgs = {
    sizes: ['tiny'],
    batches: [[64, 20]],
    backend: 'wasm',
    fused: true,
    build: 'relaxed',
    warmup: 2,
    steps: 5,
    rounds: 3,
    modes: ['train-step', 'decode'],
    decodeBatches: [1, 32],
    decodeSteps: 32,
    decodeBeams: [1],
    torchThreads: 2,
    out: null,
  };
  const list = (v: string) => v.split(',').filter(Boolean);
  const int = (flag: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} takes a positive integer, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--') continue;
    if (flag === '--no-fused') {
      a.fused = false;
      continue;
    }
    const v = argv[++i];
    if (v === undefined) throw new Error(`${flag} needs a value\n${MODEL_USAGE}`);
    switch (flag) {
      case '--sizes':
        a.sizes = list(v).map((s) => {
          if (!(s in MODEL_SIZES)) throw new Error(`--sizes: unknown size '${s}' (tiny, small)`);
          return s as ModelSize;
        });
        break;
      case '--batch':
        a.batches = list(v).map((p) => {
          const m = /^(\d+)x(\d+)$/.exec(p);
          if (!m) throw new Error(`--batch takes BxT pairs like 64x20, got '${p}'`);
          return [int('--batch', m[1]!), int('--batch', m[2]!)];
        });
        break;
      case '--modes':
        a.modes = list(v).map((m) => {
          if (m !== 'train-step' && m !== 'decode') throw new Error(`--modes: unknown mode '${m}' (train-step, decode)`);
          return m;
        });
        break;
      case '--decode-batch':
        a.decodeBatches = list(v).map((n) => int(flag, n));
        break;
      case '--decode-steps':
        a.decodeSteps = int(flag, v);
        break;
      case '--beam':
        a.decodeBeams = list(v).map((n) => int(flag, n));
        break;
      case '--backend':
        a.backend = v;
        break;
      case '--build':
        if (v !== 'relaxed' && v !== 'simd' && v !== 'auto') throw new Error(`--build: unknown build '${v}' (relaxed, simd, auto)`);
        a.build = v;
        break;
      case '--warmup':
        a.warmup = int(flag, v);
        break;
      case '--steps':
        a.steps = int(flag, v);
        break;
      case '--rounds':
        a.rounds = int(flag, v);
        break;
      case '--torch-threads':
        a.torchThreads = int(flag, v);
        break;
      case '--out':
        a.out = v;
        break;
      default:
        throw new Error(`unknown flag ${flag}\n${MODEL_USAGE}`);
    }
  }
  return a;
}
