/**
 * Importing PyTorch `nn.MultiheadAttention` weights. PyTorch computes, per its documentation,
 * `q = x Wqᵀ + bq` (likewise k, v), splits the E features into N heads of E/N in order,
 * attends per head with scale 1/sqrt(E/N), concatenates the heads and returns
 * `out = concat · Woᵀ + bo`. In Keras layout that is `query/kernel[i, n, h] = Wq[n·H + h, i]`
 * and `attention_output/kernel[n, h, o] = Wo[o, n·H + h]`.
 */
import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs';
import { toCamelCase } from './config.js';
import type { MultiHeadAttentionArgs } from './args.js';
import { MultiHeadAttention } from './layer.js';
import { type TorchTensorLike, torchTensor } from './torch-state.js';

const OP = 'fromTorchMultiheadAttention';

/**
 * The entries of a PyTorch `nn.MultiheadAttention` state dict, as tensors. Either the packed
 * `in_proj_weight` [3E, E] (when kdim = vdim = E) or the separate `q_proj_weight` [E, E],
 * `k_proj_weight` [E, kdim], `v_proj_weight` [E, vdim]; biases present iff the module had
 * `bias=True`. `bias_k`/`bias_v` (add_bias_kv) are not supported.
 */
export interface TorchMultiheadAttentionState {
  in_proj_weight?: tf.Tensor;
  q_proj_weight?: tf.Tensor;
  k_proj_weight?: tf.Tensor;
  v_proj_weight?: tf.Tensor;
  /** [3E] */
  in_proj_bias?: tf.Tensor;
  /** [E, E] */
  'out_proj.weight': tf.Tensor;
  /** [E] */
  'out_proj.bias'?: tf.Tensor;
  bias_k?: tf.Tensor;
  bias_v?: tf.Tensor;
}

export interface TorchImportOptions
  extends Omit<MultiHeadAttentionArgs, 'keyDim' | 'valueDim' | 'useBias' | 'outputShape' | 'numKeyValueHeads' | 'queryShape' | 'valueShape' | 'keyShape'> {
  /** `num_heads` of the PyTorch module. Required. */
  numHeads: number;
  /**
   * The module's other constructor arguments, in PyTorch's or camelCase spelling (`embed_dim`,
   * `kdim`, `vdim`, `bias`, `batch_first`, `device`, `dtype` are checked against the state or
   * ignored). `add_zero_attn` and `add_bias_kv` are not supported and raise an AttentionError:
   * they change the outputs but leave no trace in the state dict. Default none.
   */
  torchConfig?: Record<string, unknown>;
}

/** nn.MultiheadAttention arguments attnkit cannot honour; they raise at import. */
const UNSUPPORTED_MHA: Record<string, string> = {
  addZeroAttn: 'add_zero_attn (a zero key/value appended to every sequence) is not supported',
  addBiasKv: 'add_bias_kv (learned bias_k/bias_v appended to keys and values) is not supported',
};

/**
 * Checks a PyTorch module's constructor arguments: camelCase or snake_case keys; `unsupported`
 * ones (set to anything but false / null) raise, unknown ones raise, naming the option.
 */
export function checkTorchConfig(
  op: string,
  config: Record<string, unknown>,
  known: readonly string[],
  unsupported: Record<string, string> = {},
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config ?? {})) {
    const name = toCamelCase(key);
    if (name in unsupported) {
      check(value == null || value === false, () => AttentionError.value(op, unsupported[name]!, `${key}=${JSON.stringify(value)}`));
      continue;
    }
    check(known.includes(name), () => AttentionError.value(op, `unknown or unsupported PyTorch option ${key}`, JSON.stringify(value)));
    out[name] = value;
  }
  return out;
}

/** The 6 or 8 weights of a PyTorch nn.MultiheadAttention state in Keras layout, and its sizes. */
export interface TorchMhaWeights {
  weights: tf.Tensor[];
  embedDim: number;
  kdim: number;
  vdim: number;
  useBias: boolean;
}

/**
 * Converts a (possibly prefixed) nn.MultiheadAttention state: `in_proj_weight` [3E, E] or
 * `q/k/v_proj_weight`, `in_proj_bias` [3E], `out_proj.weight` [E, E], `out_proj.bias` [E], into
 * MultiHeadAttention's weights in Keras order. The caller disposes `weights`.
 */
export function torchMultiheadAttentionWeights(
  state: Record<string, TorchTensorLike | undefined>,
  numHeads: number,
  options: { prefix?: string; op?: string } = {},
): TorchMhaWeights {
  const { prefix = '', op = OP } = options;
  const owned: tf.Tensor[] = [];
  const get = (name: string): tf.Tensor | undefined => {
    const entry = state[prefix + name];
    if (entry === undefined) return undefined;
    const t = torchTensor(entry, prefix + name, op);
    if (t !== entry) owned.push(t);
    return t;
  };
  try {
    return convertMha(op, prefix, numHeads, {
      in_proj_weight: get('in_proj_weight'),
      q_proj_weight: get('q_proj_weight'),
      k_proj_weight: get('k_proj_weight'),
      v_proj_weight: get('v_proj_weight'),
      in_proj_bias: get('in_proj_bias'),
      'out_proj.weight': get('out_proj.weight')!,
      'out_proj.bias': get('out_proj.bias'),
      bias_k: get('bias_k'),
      bias_v: get('bias_v'),
    });
  } finally {
    tf.dispose(owned);
  }
}

function shapeIs(x: tf.Tensor | undefined, shape: number[]): boolean {
  return x !== undefined && x.rank === shape.length && x.shape.every((d, i) => d === shape[i]);
}

/**
 * A built {@link MultiHeadAttention} holding the weights of a PyTorch `nn.MultiheadAttention`
 * (E = embed_dim, keyDim = valueDim = E / numHeads). Feed it [B, T, E] inputs (PyTorch's
 * `batch_first=True` layout). PyTorch masks mark positions NOT to attend; invert them for
 * `attentionMask`. The state's tensors are not disposed.
 */
export function fromTorchMultiheadAttention(
  state: TorchMultiheadAttentionState | Record<string, TorchTensorLike>,
  options: TorchImportOptions,
): MultiHeadAttention {
  const { numHeads: N, torchConfig = {}, ...args } = options;
  const config = checkTorchConfig(
    OP,
    torchConfig,
    ['embedDim', 'numHeads', 'kdim', 'vdim', 'bias', 'batchFirst', 'dropout', 'device', 'dtype'],
    UNSUPPORTED_MHA,
  );
  check(config.numHeads === undefined || config.numHeads === N, () =>
    AttentionError.value(OP, `num_heads in the PyTorch config differs from numHeads ${N}`, config.numHeads),
  );
  const { weights, embedDim: E, kdim: dk, vdim: dv, useBias } = torchMultiheadAttentionWeights(state as unknown as Record<string, TorchTensorLike>, N);
  try {
    check(config.embedDim === undefined || config.embedDim === E, () =>
      AttentionError.value(OP, `embed_dim in the PyTorch config differs from the state's ${E}`, config.embedDim),
    );
    check(config.bias === undefined || config.bias === useBias, () =>
      AttentionError.value(OP, `bias in the PyTorch config differs from the state (${useBias ? 'has' : 'has no'} biases)`, config.bias),
    );
    const H = E / N;
    const layer = new MultiHeadAttention({
      ...args,
      numHeads: N,
      keyDim: H,
      valueDim: H,
      useBias,
      queryShape: [null, null, E],
      valueShape: [null, null, dv],
      keyShape: [null, null, dk],
    });
    layer.setWeights(weights);
    return layer;
  } finally {
    tf.dispose(weights);
  }
}

/** Validates a state and converts it (tensors in, new tensors out). */
function convertMha(OP: string, prefix: string, N: number, state: TorchMultiheadAttentionState): TorchMhaWeights {
  const outW = state['out_proj.weight'];
  check(outW instanceof tf.Tensor && outW.rank === 2 && outW.shape[0] === outW.shape[1], () =>
    AttentionError.shapes(OP, `${prefix}out_proj.weight must be a square [E, E] tensor`, { 'out_proj.weight': outW?.shape ?? [] }),
  );
  const E = outW.shape[0];
  check(Number.isInteger(N) && N > 0 && E % N === 0, () => AttentionError.value(OP, `numHeads must be a positive integer dividing embed_dim ${E}`, N));
  check(state.bias_k === undefined && state.bias_v === undefined, () => AttentionError.value(OP, 'add_bias_kv (bias_k, bias_v) is not supported', 'bias_k'));
  const packed = state.in_proj_weight !== undefined;
  let dk = E;
  let dv = E;
  if (packed) {
    check(shapeIs(state.in_proj_weight, [3 * E, E]), () =>
      AttentionError.shapes(OP, `in_proj_weight must be [3E, E] = [${3 * E},${E}]`, { in_proj_weight: state.in_proj_weight!.shape }),
    );
  } else {
    const { q_proj_weight: q, k_proj_weight: k, v_proj_weight: v } = state;
    check(q !== undefined && k !== undefined && v !== undefined && k.rank === 2 && v.rank === 2, () =>
      AttentionError.value(OP, 'need in_proj_weight or all of q_proj_weight, k_proj_weight, v_proj_weight (rank 2)', 'missing'),
    );
    dk = k.shape[1]!;
    dv = v.shape[1]!;
    check(shapeIs(q, [E, E]) && shapeIs(k, [E, dk]) && shapeIs(v, [E, dv]), () =>
      AttentionError.shapes(OP, `q/k/v_proj_weight must be [E, E], [E, kdim], [E, vdim] with E = ${E}`, {
        q_proj_weight: q.shape,
        k_proj_weight: k.shape,
        v_proj_weight: v.shape,
      }),
    );
  }
  const useBias = state.in_proj_bias !== undefined;
  check(useBias === (state['out_proj.bias'] !== undefined), () =>
    AttentionError.value(OP, 'in_proj_bias and out_proj.bias must both be present or both absent', useBias ? 'only in_proj_bias' : 'only out_proj.bias'),
  );
  if (useBias) {
    check(shapeIs(state.in_proj_bias, [3 * E]) && shapeIs(state['out_proj.bias'], [E]), () =>
      AttentionError.shapes(OP, `in_proj_bias must be [3E] and out_proj.bias [E] with E = ${E}`, {
        in_proj_bias: state.in_proj_bias!.shape,
        'out_proj.bias': state['out_proj.bias']!.shape,
      }),
    );
  }

  const H = E / N;
  const weights = tf.tidy(() => {
    const [wq, wk, wv] = packed
      ? tf.split(state.in_proj_weight!, 3, 0) // 3 x [E, E]
      : [state.q_proj_weight!, state.k_proj_weight!, state.v_proj_weight!];
    const inKernel = (w: tf.Tensor) => tf.reshape(tf.transpose(w), [w.shape[1]!, N, H]); // [d, N, H]
    const out: tf.Tensor[] = [];
    const biases = useBias ? tf.split(state.in_proj_bias!, 3, 0) : []; // 3 x [E]
    for (const [i, w] of [wq!, wk!, wv!].entries()) {
      out.push(inKernel(w));
      if (useBias) out.push(tf.reshape(biases[i]!, [N, H])); // [N, H]
    }
    out.push(tf.reshape(tf.transpose(outW), [N, H, E])); // [N, H, E]
    if (useBias) out.push(tf.clone(state['out_proj.bias']!));
    return out;
  });
  return { weights, embedDim: E, kdim: dk, vdim: dv, useBias };
}
