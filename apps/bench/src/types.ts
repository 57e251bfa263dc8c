/** Shared vocabulary of the runner: what one configuration is, and what measuring it gives. */

/** Where a configuration runs: a tfjs backend, or `native` for an engine's own CPU code (onnxruntime-node). */
export const BACKENDS = ['cpu', 'wasm', 'webgpu', 'native'] as const;
export type Backend = (typeof BACKENDS)[number];

/**
 * What is timed. `forward`: one attention call. `forward+backward`: the call plus gradients
 * w.r.t. query, key and value. `decode-kv-cache` / `decode-no-cache`: `steps` new tokens one
 * at a time at the end of a length-T sequence, attending a growing K/V cache or recomputing
 * causal attention over the whole prefix. `matmul`: an [N, N]·[N, N] product, the backend's ceiling.
 */
export const MODES = ['forward', 'forward+backward', 'decode-kv-cache', 'decode-no-cache', 'matmul'] as const;
export type Mode = (typeof MODES)[number];

/** Sizes and masking of an attention problem: q [B, H, T, d], k and v [B, Hkv, T, d]. */
export interface Shape {
  B: number;
  H: number;
  Hkv: number;
  T: number;
  d: number;
  causal: boolean;
  /** Sliding window: each query sees itself and the `window` keys before it; null = none. */
  window: number | null;
}

/** Everything one child process needs to measure one configuration. */
export interface BenchConfig extends Shape {
  impl: string;
  /** The engine behind `impl` (tfjs, onnxruntime-node, ...); ceilings are per engine and backend. */
  engine: string;
  backend: Backend;
  mode: Mode;
  /** Untimed runs before sampling (compiles kernels, fills caches). */
  warmup: number;
  /** Timed runs wanted; fewer when `budgetMs` runs out (at least one). */
  samples: number;
  /** Sampling stops once this much time has been spent on timed runs. */
  budgetMs: number;
  /** Sequence length of the float64 error check (min(T, errorT)); 0 = no check. */
  errorT: number;
  /** Tokens generated in decode modes. */
  decodeSteps: number;
  /** Side of the square matmul in `matmul` mode. */
  matmulN: number;
  /** onnxruntime intra-op threads; 0 = its default. */
  ortThreads: number;
}

/** What a child reports for a configuration that ran. */
export interface Measurement {
  samplesMs: number[];
  /** Floating-point operations of one timed run (dense-equivalent; see flops.ts). */
  flops: number;
  /** Peak bytes tfjs held during one run (tf.profile), null for non-tfjs engines. */
  tfPeakBytes: number | null;
  /** Process RSS after loading the engine and creating inputs, before the first run. */
  baselineRssBytes: number;
  /** process.resourceUsage().maxRSS at the end: the process high-water mark. */
  peakRssBytes: number;
  /** Largest |output - float64 oracle| at sequence length `errorT`; null when not checked. */
  maxError: number | null;
  errorT: number | null;
  /** Engine details worth keeping (adapter name, thread count, ...). */
  notes: string[];
}

export interface BenchResult {
  config: BenchConfig;
  status: 'ok' | 'not-run';
  /** Why it did not run (unsupported, timed out, crashed, no adapter, ...). */
  reason?: string;
  measurement?: Measurement;
  wallMs?: number;
}

/** The ceiling of one backend: the matmul GFLOP/s it reaches. */
export interface Ceiling {
  backend: Backend;
  engine: string;
  N: number;
  gflops: number | null;
  reason?: string;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  totalMemoryBytes: number;
  platform: string;
  arch: string;
  node: string;
  /** Node flags the children ran with (absent in results recorded before there were any). */
  nodeFlags?: string[];
  versions: Record<string, string>;
}

/** The raw JSON file of a run. */
export interface BenchReport {
  command: string;
  preset: string;
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  ceilings: Ceiling[];
  results: BenchResult[];
}

/** Prefix of the one stdout line on which a child reports its BenchResult as JSON. */
export const RESULT_MARKER = '@@BENCH_RESULT ';

/** Prefix of a not-run reason that holds for the whole backend: the runner stops starting children for it. */
export const UNAVAILABLE = 'backend unavailable: ';
