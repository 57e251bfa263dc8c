/**
 * The wasm module's memory as the JS side lays it out: the parameter block's slots (numbered in
 * src/slots.ts, which the module is compiled with), the helper threads' control words, and
 * 16-byte aligned regions for a call's inputs, outputs and scratch space.
 */
import * as S from './slots.js';

// Parameter block slots, from the one source the module is compiled with (src/slots.ts).
export const SLOT = {
  B: S.P_B,
  Hq: S.P_HQ,
  Hkv: S.P_HKV,
  Tq: S.P_TQ,
  Tk: S.P_TK,
  Dk: S.P_DK,
  Dv: S.P_DV,
  scale: S.P_SCALE,
  left: S.P_LEFT,
  right: S.P_RIGHT,
  offset: S.P_OFFSET,
  q: S.P_Q,
  k: S.P_K,
  v: S.P_V,
  mask: S.P_MASK,
  bias: S.P_BIAS,
  out: S.P_OUT,
  lse: S.P_LSE,
  scratch: S.P_SCRATCH,
  dy: S.P_DY,
  o: S.P_O,
  dq: S.P_DQ,
  dk: S.P_DK_OUT,
  dv: S.P_DV_OUT,
  dbias: S.P_DBIAS,
  counter: S.P_COUNTER,
  dropRate: S.P_DROP_RATE,
  dropSeed: S.P_DROP_SEED,
} as const;
export const PARAM_BYTES = 256;
/** Control words per helper thread: [generation, kind, params, done generation, failed]. */
export const CONTROL_WORDS = 8;
export const MAX_THREADS = 16;
export const CONTROL_BYTES = MAX_THREADS * CONTROL_WORDS * 4;
export const MAX_PAGES = 65536;
/** Bytes of vexp's constants that a row op using exponentials writes to its scratch (assembly/simd.ts EXP_TABLE). */
export const EXP_TABLE_BYTES = 10 * 16;

/** Lays out 16-byte aligned regions. */
export class Layout {
  constructor(private end: number) {}
  take(bytes: number): number {
    const at = this.end;
    this.end += Math.ceil(bytes / 16) * 16;
    return at;
  }
  get top(): number {
    return this.end;
  }
}
