/**
 * PyTorch state dicts as tfjs tensors: entries given as tensors, nested number arrays,
 * `{shape, data}` (numbers, `'-inf'`/`'inf'`/`'nan'` strings allowed) or
 * `{shape, dtype: 'float32', base64}` (little-endian float32 bytes), e.g. from a JSON file
 * written by `json.dump({k: {'shape': list(v.shape), 'data': v.flatten().tolist()} ...})`.
 */
import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs';

/** Nested arrays of numbers, as `tensor.tolist()` writes them. */
export type NestedNumbers = number | NestedNumbers[];

/** One state-dict entry in any of the accepted forms. */
export type TorchTensorLike =
  | tf.Tensor
  | NestedNumbers[]
  | { shape: number[]; data: Array<number | string | boolean>; dtype?: 'float32' | 'bool' }
  | { shape: number[]; dtype: 'float32'; base64: string };

export type TorchStateDictLike = Record<string, TorchTensorLike>;

const SPECIAL: Record<string, number> = { '-inf': Number.NEGATIVE_INFINITY, inf: Number.POSITIVE_INFINITY, nan: Number.NaN };

function decodeBase64(op: string, name: string, text: string): Float32Array {
  const bytes = typeof atob === 'function' ? Uint8Array.from(atob(text), (c) => c.charCodeAt(0)) : new Uint8Array(0);
  check(bytes.length % 4 === 0, () => AttentionError.value(op, `${name}: base64 data must hold whole float32 values`, `${bytes.length} bytes`));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(4 * i, true));
}

/** One entry as a tensor (float32, or bool for `dtype: 'bool'`); tensors are returned as they are. */
export function torchTensor(entry: TorchTensorLike, name = 'tensor', op = 'torchTensor'): tf.Tensor {
  if (entry instanceof tf.Tensor) return entry;
  if (Array.isArray(entry)) return tf.tensor(entry as number[], undefined, 'float32');
  check(entry !== null && typeof entry === 'object' && Array.isArray(entry.shape), () =>
    AttentionError.value(op, `${name} must be a tensor, nested arrays, {shape, data} or {shape, dtype, base64}`, typeof entry),
  );
  const size = entry.shape.reduce((a, b) => a * b, 1);
  if ('base64' in entry) {
    const data = decodeBase64(op, name, entry.base64);
    check(data.length === size, () => AttentionError.shapes(op, `${name}: base64 data holds ${data.length} values`, { shape: entry.shape }));
    return tf.tensor(data, entry.shape, 'float32');
  }
  check(Array.isArray(entry.data) && entry.data.length === size, () =>
    AttentionError.shapes(op, `${name}: data must hold ${size} values`, { shape: entry.shape }),
  );
  if (entry.dtype === 'bool') return tf.tensor(entry.data.map(Boolean) as boolean[], entry.shape, 'bool');
  const data = Float32Array.from(entry.data, (v) => (typeof v === 'string' ? (SPECIAL[v] ?? Number(v)) : Number(v)));
  return tf.tensor(data, entry.shape, 'float32');
}

/**
 * A state dict as tensors: a parsed object or JSON text, either the entries themselves or
 * `{state_dict: {...}}`. The caller owns the tensors it did not pass in (dispose them with
 * `tf.dispose(Object.values(state))`).
 */
export function loadTorchStateDict(source: string | TorchStateDictLike | { state_dict: TorchStateDictLike }): Record<string, tf.Tensor> {
  const op = 'loadTorchStateDict';
  let parsed: unknown = source;
  if (typeof source === 'string') {
    try {
      parsed = JSON.parse(source);
    } catch (e) {
      throw AttentionError.value(op, 'the text is not JSON', (e as Error).message);
    }
  }
  check(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed), () =>
    AttentionError.value(op, 'a state dict must be an object', typeof parsed),
  );
  const entries = ('state_dict' in (parsed as object) ? (parsed as { state_dict: TorchStateDictLike }).state_dict : parsed) as TorchStateDictLike;
  const out: Record<string, tf.Tensor> = {};
  try {
    for (const [name, entry] of Object.entries(entries)) out[name] = torchTensor(entry, name, op);
  } catch (e) {
    tf.dispose(Object.values(out).filter((t) => !Object.values(entries).includes(t)));
    throw e;
  }
  return out;
}
