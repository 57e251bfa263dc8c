/**
 * Command line of `pnpm bench`: a preset, then options that override it. Pure: parseArgs()
 * turns argv into options or throws a BenchArgError naming the bad flag.
 */
import { BACKENDS, type Backend, MODES, type Mode } from './types.js';

export interface BenchOptions {
  preset: 'quick' | 'full';
  /** Implementation names or family prefixes (`attnkit` = every attnkit:*); empty = the preset's. */
  impls: string[];
  backends: Backend[];
  modes: Mode[];
  B: number[];
  H: number[];
  /** Key/value heads; empty = same as H (no GQA). */
  Hkv: number[];
  T: number[];
  d: number[];
  causal: boolean[];
  /** Sliding windows; null = none. */
  window: (number | null)[];
  warmup: number;
  samples: number;
  budgetMs: number;
  /** Per-configuration wall-clock limit of its child process. */
  timeoutS: number;
  errorT: number;
  decodeSteps: number;
  matmulN: number;
  ortThreads: number;
  /**
   * Run every child with the engine's relaxed SIMD (fused multiply-adds), which Chromium and
   * Node >= 22 have by default, so @attnkit/kernels loads its relaxed-SIMD build.
   */
  relaxedSimd: boolean;
  /** Output folder, relative to apps/bench. */
  out: string;
  progress: boolean;
  list: boolean;
  help: boolean;
}

export class BenchArgError extends Error {
  override name = 'BenchArgError';
}

const QUICK: BenchOptions = {
  preset: 'quick',
  impls: ['attnkit:auto', 'plain-tfjs', 'onnxruntime-node', 'onnxruntime-web', 'ruvector'],
  backends: ['cpu', 'wasm', 'native'],
  modes: ['forward'],
  B: [1],
  H: [8],
  Hkv: [],
  T: [128, 512],
  d: [64],
  causal: [false],
  window: [null],
  warmup: 1,
  samples: 5,
  budgetMs: 1500,
  timeoutS: 60,
  errorT: 128,
  decodeSteps: 16,
  matmulN: 512,
  ortThreads: 0,
  relaxedSimd: false,
  out: 'out',
  progress: true,
  list: false,
  help: false,
};

const FULL: BenchOptions = {
  ...QUICK,
  preset: 'full',
  impls: ['attnkit', 'plain-tfjs', 'attnkit-mha', 'tfjs-layers-mha', 'onnxruntime-node', 'onnxruntime-web', 'ruvector'],
  backends: ['cpu', 'wasm', 'native', 'webgpu'],
  modes: ['forward', 'forward+backward', 'decode-kv-cache', 'decode-no-cache'],
  T: [128, 512, 1024, 2048, 4096],
  samples: 5,
  budgetMs: 3000,
  timeoutS: 60,
  decodeSteps: 8,
};

export const PRESETS = { quick: QUICK, full: FULL } as const;

export const USAGE = `pnpm bench [-- options]

  --preset quick|full     quick (default): attnkit's default path and the peers, T 128,512, forward,
                          cpu/wasm/native; full: every implementation, T 128..4096, all modes, webgpu too
  --impls a,b             implementation names or families (attnkit, plain-tfjs, tfjs-layers-mha,
                          onnxruntime-node, onnxruntime-web, ruvector); see --list
  --backends a,b          ${BACKENDS.join(', ')}
  --modes a,b             ${MODES.filter((m) => m !== 'matmul').join(', ')}; 'decode' = both decode modes
  --B --H --Hkv --T --d   comma lists of sizes (Hkv defaults to H)
  --causal true,false     causal masking values
  --window none,64        sliding windows (keys before each query)
  --warmup N --samples N  untimed and timed runs per configuration
  --budget-ms MS          stop sampling after this much timed work
  --timeout S             wall-clock limit per configuration (its child process is killed)
  --error-t N             sequence length of the float64 error check (0 = off)
  --decode-steps N        tokens generated in decode modes
  --matmul-n N            side of the square matmul measuring each backend's ceiling
  --ort-threads N         onnxruntime intra-op threads (0 = its default)
  --relaxed-simd          children get WebAssembly relaxed SIMD (Node 20: --experimental-wasm-relaxed-simd;
                          on by default from Node 22 and in Chromium): @attnkit/kernels loads its FMA build
  --out DIR               output folder (default out/; full runs for the repo go to results/)
  --no-progress           no progress bar
  --list                  list implementations and exit`;

function int(flag: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new BenchArgError(`${flag}: expected an integer >= ${min}, got '${raw}'`);
  return n;
}

function list(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function oneOf<T extends string>(flag: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new BenchArgError(`${flag}: expected one of ${allowed.join(', ')}, got '${raw}'`);
  }
  return raw as T;
}

function bool(flag: string, raw: string): boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new BenchArgError(`${flag}: expected true or false, got '${raw}'`);
}

function modes(raw: string): Mode[] {
  const out: Mode[] = [];
  for (const m of list(raw)) {
    if (m === 'decode') out.push('decode-kv-cache', 'decode-no-cache');
    else if (m === 'backward' || m === 'fwd+bwd') out.push('forward+backward');
    else out.push(oneOf('--modes', m, MODES));
  }
  return [...new Set(out)];
}

/** argv (without node and script) → options; the preset is applied first, whatever the flag order. */
export function parseArgs(argv: readonly string[]): BenchOptions {
  // Split `--flag value` and `--flag=value`; a bare `--` (passed through pnpm/turbo) is ignored.
  const pairs: [string, string | undefined][] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') continue;
    if (!arg.startsWith('--')) throw new BenchArgError(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    if (eq > 0) pairs.push([arg.slice(0, eq), arg.slice(eq + 1)]);
    else if (['--no-progress', '--relaxed-simd', '--list', '--help'].includes(arg)) pairs.push([arg, undefined]);
    else {
      const value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new BenchArgError(`${arg}: missing value`);
      pairs.push([arg, value]);
    }
  }
  const presetPair = pairs.filter(([f]) => f === '--preset').at(-1);
  const preset = presetPair ? oneOf('--preset', presetPair[1]!, ['quick', 'full'] as const) : 'quick';
  const o: BenchOptions = structuredClone(PRESETS[preset]);

  for (const [flag, value] of pairs) {
    const v = value ?? '';
    const sizes = (min: number) => list(v).map((s) => int(flag, s, min));
    switch (flag) {
      case '--preset':
        break;
      case '--impls':
        o.impls = list(v);
        break;
      case '--backends':
        o.backends = list(v).map((b) => oneOf(flag, b, BACKENDS));
        break;
      case '--modes':
        o.modes = modes(v);
        break;
      case '--B':
        o.B = sizes(1);
        break;
      case '--H':
        o.H = sizes(1);
        break;
      case '--Hkv':
        o.Hkv = sizes(1);
        break;
      case '--T':
        o.T = sizes(1);
        break;
      case '--d':
        o.d = sizes(1);
        break;
      case '--causal':
        o.causal = list(v).map((b) => bool(flag, b));
        break;
      case '--window':
        o.window = list(v).map((w) => (w === 'none' ? null : int(flag, w, 0)));
        break;
      case '--warmup':
        o.warmup = int(flag, v, 0);
        break;
      case '--samples':
        o.samples = int(flag, v, 1);
        break;
      case '--budget-ms':
        o.budgetMs = int(flag, v, 0);
        break;
      case '--timeout':
        o.timeoutS = int(flag, v, 1);
        break;
      case '--error-t':
        o.errorT = int(flag, v, 0);
        break;
      case '--decode-steps':
        o.decodeSteps = int(flag, v, 1);
        break;
      case '--matmul-n':
        o.matmulN = int(flag, v, 1);
        break;
      case '--ort-threads':
        o.ortThreads = int(flag, v, 0);
        break;
      case '--out':
        o.out = v;
        break;
      case '--relaxed-simd':
        o.relaxedSimd = true;
        break;
      case '--no-progress':
        o.progress = false;
        break;
      case '--list':
        o.list = true;
        break;
      case '--help':
        o.help = true;
        break;
      default:
        throw new BenchArgError(`unknown option '${flag}' (see --help)`);
    }
  }
  for (const [name, values] of Object.entries({ impls: o.impls, backends: o.backends, modes: o.modes, T: o.T })) {
    if (values.length === 0) throw new BenchArgError(`--${name}: needs at least one value`);
  }
  return o;
}
