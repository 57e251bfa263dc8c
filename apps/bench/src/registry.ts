/**
 * The pluggable registry: every implementation the runner can measure, one entry each.
 * Adding one (a layer, a decoder, another engine) is a new file exporting a
 * BenchImplementation and one line in IMPLEMENTATION_LIST below; the runner, table and charts
 * pick it up from here.
 */
import type { BenchConfig, Backend, Mode } from './types.js';

/** Host copies of the seeded inputs: q [B, H, T, d], k and v [B, Hkv, T, d], row-major. */
export interface Problem {
  config: BenchConfig;
  /** The sequence length of this problem: config.T, or the error-check length. */
  T: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
}

/** One prepared configuration; setup work (model build, session create, weight init) is not timed. */
export interface Session {
  /** One timed run; resolves once the result is in host memory (so async backends are honest). */
  run(): Promise<void>;
  /**
   * The result the error check compares: attention output [B, H, T, d] in forward modes,
   * the output rows of the generated tokens [B, H, steps, d] in decode modes.
   */
  output(): Promise<Float32Array>;
  dispose(): void;
}

export type Engine = 'tfjs' | 'onnxruntime-node' | 'onnxruntime-web' | 'ruvector';

export interface BenchImplementation {
  /** Unique, `family` or `family:variant`. */
  name: string;
  /** Short explanation for the table legend. */
  description: string;
  engine: Engine;
  /**
   * `attention`: q, k, v → output. `layer`: x [B, T, H·d] → projected output (more FLOPs).
   * `model`: a whole model (the Transformer decoder): in decode modes T is the source length
   * and `decodeSteps` the generated tokens, so T need not exceed them.
   */
  level: 'attention' | 'layer' | 'model';
  backends: readonly Backend[];
  modes: readonly Mode[];
  /** Why this configuration cannot run on this implementation, or null if it can. */
  unsupported?(config: BenchConfig): string | null;
  /** FLOPs of one timed run when they differ from the attention count (layers add projections). */
  flops?(config: BenchConfig): number;
  /** Float64 reference for the error check when it is not plain attention (layers). */
  oracle?(problem: Problem, session: Session): Promise<Float64Array>;
  setup(problem: Problem): Promise<Session>;
}
