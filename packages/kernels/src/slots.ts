// The parameter block of the wasm module: which i32 / f32 word holds what. The one source of
// the slot numbers, compiled twice: by AssemblyScript into the module (assembly/attention.ts
// imports it, so it holds plain integer constants only) and by tsc for the side that writes the
// block (src/wasm.ts).

export const P_B = 0;
export const P_HQ = 1;
export const P_HKV = 2;
export const P_TQ = 3;
export const P_TK = 4;
export const P_DK = 5;
export const P_DV = 6;
/** f32: the logit scale. */
export const P_SCALE = 7;
export const P_LEFT = 8;
export const P_RIGHT = 9;
export const P_OFFSET = 10;
/** Byte addresses of query, key and value in the module's memory. */
export const P_Q = 11;
export const P_K = 12;
export const P_V = 13;
/** Address of the mask (0: none), then its element strides b, h, q, k at 15..18. */
export const P_MASK = 14;
/** Address of the bias (0: none), then its element strides at 20..23. */
export const P_BIAS = 19;
export const P_OUT = 24;
export const P_LSE = 25;
/** Address of this thread's scratch space. */
export const P_SCRATCH = 26;
export const P_DY = 27;
export const P_O = 28;
export const P_DQ = 29;
export const P_DK_OUT = 30;
export const P_DV_OUT = 31;
export const P_DBIAS = 32;
/**
 * Address of an i32 work counter, zeroed by the caller and shared by every thread of a call:
 * each thread takes the next work item with an atomic add until none is left (forward: blocks
 * of FWD_ROWS query rows of one head, in head order; backward: kv heads), so a thread slowed
 * down by other processes takes fewer items.
 */
export const P_COUNTER = 33;
/**
 * Dropout on the attention weights (training): the rate (f32; 0 = none) and a seed (i32). The
 * entry (b, h, i, j) is kept, scaled by 1/(1 - rate), when dropHash(seed, ((b·Hq + h)·Tq + i)·Tk
 * + j) >= rate·2^32, the same in the forward and the backward pass (src/dropout.ts is the same
 * function in JavaScript).
 */
export const P_DROP_RATE = 34;
export const P_DROP_SEED = 35;
