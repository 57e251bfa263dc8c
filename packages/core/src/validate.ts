import { AttentionError } from '@attnkit/masking';
import { broadcastShapes, check } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs-core';
import { type AttentionDims, type AttentionOptions, IMPLEMENTATIONS } from './types.js';

function checkTensor(op: string, name: string, x: unknown, rank?: number): asserts x is tf.Tensor {
  check(x instanceof tf.Tensor, () => AttentionError.value(op, `${name} must be a tf.Tensor`, typeof x));
  check(!x.isDisposed, () => AttentionError.shapes(op, `${name} has been disposed`, { [name]: x.shape }));
  if (rank !== undefined) {
    check(x.rank === rank, () => AttentionError.shapes(op, `${name} must be a rank-${rank} tensor [B, H, T, D]`, { [name]: x.shape }));
    check(x.dtype === 'float32', () => AttentionError.value(op, `${name} must be float32`, x.dtype));
    check(x.size > 0, () => AttentionError.shapes(op, `${name} must not be empty`, { [name]: x.shape }));
  }
}

function checkBroadcastable(op: string, name: string, x: tf.Tensor, target: number[]) {
  const ok = x.rank <= 4 && broadcastShapes(x.shape, target)?.every((d, i) => d === target[i]);
  check(ok === true, () => AttentionError.shapes(op, `${name} must broadcast to [B, Hq, Tq, Tk] = [${target.join(',')}]`, { [name]: x.shape }));
}

/** chunkSize: a positive integer, or { query, key } positive integers. */
function checkChunkSize(op: string, size: unknown) {
  const isLength = (n: unknown) => Number.isInteger(n) && (n as number) > 0;
  const ok =
    size === undefined ||
    isLength(size) ||
    (typeof size === 'object' && size !== null && isLength((size as { query?: unknown }).query) && isLength((size as { key?: unknown }).key));
  check(ok, () =>
    AttentionError.value(
      op,
      'chunkSize must be a positive integer or { query, key } of positive integers',
      typeof size === 'object' ? JSON.stringify(size) : size,
    ),
  );
}

/**
 * Checks every input and option of an attention call before anything is allocated, and
 * returns its sizes. `value` is null for attentionWeights, which takes none.
 */
export function validate(op: string, query: tf.Tensor, key: tf.Tensor, value: tf.Tensor | null, options: AttentionOptions): AttentionDims {
  checkTensor(op, 'query', query, 4);
  checkTensor(op, 'key', key, 4);
  if (value !== null) checkTensor(op, 'value', value, 4);
  const [B, Hq, Tq, Dk] = query.shape as [number, number, number, number];
  const [Bk, Hkv, Tk, Dkk] = key.shape as [number, number, number, number];
  const all: Record<string, number[]> = value ? { query: query.shape, key: key.shape, value: value.shape } : { query: query.shape, key: key.shape };

  check(Bk === B && (!value || value.shape[0] === B), () => AttentionError.shapes(op, 'query, key and value batch sizes must match', all));
  check(Dkk === Dk, () => AttentionError.shapes(op, 'query and key head dims must match', { query: query.shape, key: key.shape }));
  if (value) {
    check(value.shape[2] === Tk, () => AttentionError.shapes(op, 'key and value lengths must match', { key: key.shape, value: value.shape }));
    check(value.shape[1] === Hkv, () => AttentionError.shapes(op, 'key and value head counts must match', { key: key.shape, value: value.shape }));
  }
  check(Hq % Hkv === 0, () =>
    AttentionError.shapes(op, `query heads (${Hq}) must be a multiple of key/value heads (${Hkv})`, {
      query: query.shape,
      key: key.shape,
    }),
  );
  const target = [B, Hq, Tq, Tk];
  const { mask, bias, causal, window, scale, dropout, training, seed, implementation } = options;
  if (mask != null) {
    checkTensor(op, 'mask', mask);
    check(mask.dtype === 'bool', () => AttentionError.value(op, 'mask must be a bool tensor (true = attend; use bias for additive masks)', mask.dtype));
    checkBroadcastable(op, 'mask', mask, target);
  }
  if (bias != null) {
    checkTensor(op, 'bias', bias);
    check(bias.dtype === 'float32', () => AttentionError.value(op, 'bias must be float32', bias.dtype));
    checkBroadcastable(op, 'bias', bias, target);
  }
  check(causal === undefined || typeof causal === 'boolean', () => AttentionError.value(op, 'causal must be a boolean', causal));
  if (window != null) {
    const { left, right = 0 } = window;
    check(Number.isInteger(left) && left >= 0 && Number.isInteger(right) && right >= 0, () =>
      AttentionError.value(op, 'window left and right must be non-negative integers', JSON.stringify(window)),
    );
  }
  check(scale === undefined || (typeof scale === 'number' && Number.isFinite(scale)), () => AttentionError.value(op, 'scale must be a finite number', scale));
  check(dropout === undefined || (typeof dropout === 'number' && dropout >= 0 && dropout < 1), () =>
    AttentionError.value(op, 'dropout must be a number in [0, 1)', dropout),
  );
  check(training === undefined || typeof training === 'boolean', () => AttentionError.value(op, 'training must be a boolean', training));
  check(seed === undefined || (typeof seed === 'number' && Number.isFinite(seed)), () => AttentionError.value(op, 'seed must be a finite number', seed));
  check(implementation === undefined || IMPLEMENTATIONS.includes(implementation), () =>
    AttentionError.value(op, `implementation must be one of ${IMPLEMENTATIONS.join(', ')}`, implementation),
  );
  checkChunkSize(op, options.chunkSize);
  return { B, Hq, Hkv, Tq, Tk, Dk, Dv: value ? value.shape[3]! : Dk, group: Hq / Hkv };
}
