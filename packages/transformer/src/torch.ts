/**
 * Importing PyTorch `nn.TransformerEncoderLayer`, `nn.TransformerDecoderLayer`, their stacks
 * `nn.TransformerEncoder` / `nn.TransformerDecoder` and `nn.Transformer` from a state dict.
 *
 * PyTorch's layers, per its documentation and source: post-norm (`norm_first=False`)
 * `x = norm1(x + sa(x)); x = norm2(x + ff(x))`, pre-norm `x = x + sa(norm1(x)); x = x + ff(norm2(x))`
 * (the decoder adds `mha` over the memory with `norm2` and moves the feed-forward norm to `norm3`),
 * `ff(x) = linear2(act(linear1(x)))` with `linearN.weight` [out, in]: attnkit's blocks are the
 * same, with kernels transposed ([in, out]) and the attention weights converted as
 * `fromTorchMultiheadAttention` does.
 */
import type { Activation } from '@attnkit/core';
import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import { type AttnkitMasks, type TorchTensorLike, checkTorchConfig, fromTorchMasks, torchMultiheadAttentionWeights, torchTensor } from '@attnkit/multi-head';
import * as tf from '@tensorflow/tfjs';
import { type DecoderCallOptions, type EncoderCallOptions, TransformerDecoderLayer, TransformerEncoderLayer } from './blocks.js';
import { LayerNorm } from './norm.js';
import { EncoderDecoder, TransformerDecoder, TransformerEncoder } from './stack.js';

/** A PyTorch state dict: entries as tensors, nested arrays, {shape, data} or base64 (see `loadTorchStateDict`). */
export type TorchState = Record<string, TorchTensorLike>;

/**
 * Constructor arguments of `nn.TransformerEncoderLayer` / `nn.TransformerDecoderLayer`, in
 * PyTorch's spelling (`d_model`, `nhead`, `dim_feedforward`, …) or camelCase. PyTorch's defaults
 * apply: dim_feedforward 2048, dropout 0.1, activation 'relu', layer_norm_eps 1e-5,
 * norm_first false. `activation` must be 'relu' or 'gelu' (exact erf GELU); `bias: false` and any
 * unknown option raise an AttentionError.
 */
export type TorchLayerConfig = Record<string, unknown>;

export interface TorchImportExtras {
  /** @attnkit/core implementation of the attention layers. Default 'auto'. */
  implementation?: TransformerEncoderLayer['config']['implementation'];
}

/** The activations of PyTorch's transformer layers that name one of core's {@link Activation}s (gelu is the exact erf form in both). */
const TORCH_ACTIVATIONS = ['relu', 'gelu'] as const satisfies readonly Activation[];
type TorchActivation = (typeof TORCH_ACTIVATIONS)[number];

const LAYER_OPTIONS = ['dModel', 'nhead', 'dimFeedforward', 'dropout', 'activation', 'layerNormEps', 'batchFirst', 'normFirst', 'bias', 'device', 'dtype'];

/** PyTorch layer arguments -> attnkit block arguments (dModel from the state when not given). */
function blockArgs(op: string, config: TorchLayerConfig, dModelFromState: number, extras: TorchImportExtras) {
  const c = checkTorchConfig(op, config, LAYER_OPTIONS);
  const activation = c.activation ?? 'relu';
  check(TORCH_ACTIVATIONS.includes(activation as TorchActivation), () =>
    AttentionError.value(
      op,
      "activation must be 'relu' or 'gelu' (a callable cannot be imported)",
      typeof activation === 'string' ? activation : typeof activation,
    ),
  );
  check(c.bias === undefined || c.bias === true, () =>
    AttentionError.value(op, 'bias=False is not supported (attnkit layers always have biases)', `bias=${JSON.stringify(c.bias)}`),
  );
  const dModel = (c.dModel as number | undefined) ?? dModelFromState;
  check(dModel === dModelFromState, () => AttentionError.value(op, `d_model differs from the state's ${dModelFromState}`, dModel));
  check(Number.isInteger(c.nhead), () => AttentionError.value(op, 'nhead (num_heads) is required', c.nhead as number));
  return {
    dModel,
    numHeads: c.nhead as number,
    ffDim: (c.dimFeedforward as number | undefined) ?? 2048,
    dropout: (c.dropout as number | undefined) ?? 0.1,
    activation: activation as TorchActivation,
    normFirst: c.normFirst === true,
    layerNormEpsilon: (c.layerNormEps as number | undefined) ?? 1e-5,
    ...(extras.implementation ? { implementation: extras.implementation } : {}),
  };
}

/** Reads entries of one module under `prefix`, converting and tracking what it creates and what it used. */
class StateReader {
  readonly used = new Set<string>();
  private readonly owned: tf.Tensor[] = [];

  constructor(
    readonly op: string,
    readonly state: TorchState,
  ) {
    check(state !== null && typeof state === 'object', () => AttentionError.value(op, 'the state dict must be an object', typeof state));
  }

  get(name: string): tf.Tensor {
    const entry = this.state[name];
    check(entry !== undefined, () => AttentionError.value(this.op, `the state dict has no ${name}`, 'missing'));
    this.used.add(name);
    const t = torchTensor(entry, name, this.op);
    if (t !== entry) this.owned.push(t);
    return t;
  }

  has(name: string): boolean {
    return this.state[name] !== undefined;
  }

  /** Marks the attention entries under `prefix` used and returns their Keras-order weights (caller disposes). */
  attention(prefix: string, numHeads: number): tf.Tensor[] {
    for (const k of Object.keys(this.state)) if (k.startsWith(prefix)) this.used.add(k);
    return torchMultiheadAttentionWeights(this.state, numHeads, { prefix, op: this.op }).weights;
  }

  /** Every entry must have been used: a leftover one means a module attnkit did not map. */
  checkAllUsed() {
    const left = Object.keys(this.state).filter((k) => !this.used.has(k));
    check(left.length === 0, () => AttentionError.value(this.op, 'state dict entries that no attnkit weight takes', left.join(', ')));
  }

  dispose() {
    tf.dispose(this.owned);
  }
}

/** Writes `values` (by attnkit name) into a layer's named weights, checking shapes. */
function writeWeights(op: string, targets: Array<{ name: string; variable: tf.LayerVariable }>, values: Record<string, tf.Tensor>) {
  for (const { name, variable } of targets) {
    const v = values[name];
    check(v !== undefined, () => AttentionError.value(op, `no PyTorch weight for ${name}`, 'missing'));
    check(v.shape.join() === variable.shape.join(), () =>
      AttentionError.shapes(op, `PyTorch weight for ${name} has the wrong shape`, { expected: variable.shape as number[], got: v.shape }),
    );
  }
  for (const { name, variable } of targets) variable.write(values[name]!);
}

const MHA_NAMES = ['query/kernel', 'query/bias', 'key/kernel', 'key/bias', 'value/kernel', 'value/bias', 'attention_output/kernel', 'attention_output/bias'];

/** Fills a built encoder or decoder layer from the state entries under `prefix`. */
function fillLayer(reader: StateReader, layer: TransformerEncoderLayer | TransformerDecoderLayer, prefix: string) {
  const decoder = layer instanceof TransformerDecoderLayer;
  const N = layer.config.numHeads;
  const values: Record<string, tf.Tensor> = {};
  const created: tf.Tensor[] = [];
  try {
    const attention = (torchPrefix: string, ours: string) => {
      const ws = reader.attention(`${prefix}${torchPrefix}.`, N);
      created.push(...ws);
      ws.forEach((w, i) => {
        values[`${ours}/${MHA_NAMES[i]}`] = w;
      });
    };
    const norm = (torch: string, ours: string) => {
      values[`${ours}/gamma`] = reader.get(`${prefix}${torch}.weight`);
      values[`${ours}/beta`] = reader.get(`${prefix}${torch}.bias`);
    };
    const linear = (torch: string, ours: string) => {
      const kernel = tf.transpose(reader.get(`${prefix}${torch}.weight`)); // [in, out]
      created.push(kernel);
      values[`${ours}/kernel`] = kernel;
      values[`${ours}/bias`] = reader.get(`${prefix}${torch}.bias`);
    };
    attention('self_attn', 'self_attention');
    if (decoder) {
      attention('multihead_attn', 'cross_attention');
      norm('norm1', 'self_attention_norm');
      norm('norm2', 'cross_attention_norm');
      norm('norm3', 'ffn_norm');
    } else {
      norm('norm1', 'attention_norm');
      norm('norm2', 'ffn_norm');
    }
    linear('linear1', 'ffn_intermediate');
    linear('linear2', 'ffn_output');
    writeWeights(reader.op, layer.namedWeights, values);
  } finally {
    tf.dispose(created);
  }
}

/** d_model of a layer from its self-attention out projection. */
function dModelOf(reader: StateReader, prefix: string): number {
  const w = reader.get(`${prefix}self_attn.out_proj.weight`);
  return w.shape[0]!;
}

function importLayer<T extends TransformerEncoderLayer | TransformerDecoderLayer>(
  op: string,
  Cls: new (args: ConstructorParameters<typeof TransformerEncoderLayer>[0]) => T,
  reader: StateReader,
  config: TorchLayerConfig,
  prefix: string,
  extras: TorchImportExtras,
): T {
  const args = blockArgs(op, config, dModelOf(reader, prefix), extras);
  const layer = new Cls(args);
  layer.build([null, null, args.dModel]);
  try {
    fillLayer(reader, layer, prefix);
  } catch (e) {
    layer.dispose();
    throw e;
  }
  return layer;
}

/** Runs an import with a reader that is always disposed and, when `strict`, must use every entry. */
function withReader<T>(op: string, state: TorchState, fn: (r: StateReader) => T, dispose: (t: T) => void, strict = true): T {
  const reader = new StateReader(op, state);
  let result: T | undefined;
  try {
    result = fn(reader);
    if (strict) reader.checkAllUsed();
    return result;
  } catch (e) {
    if (result !== undefined) dispose(result);
    throw e;
  } finally {
    reader.dispose();
  }
}

/** A built {@link TransformerEncoderLayer} with the weights of a PyTorch `nn.TransformerEncoderLayer` state dict. */
export function fromTorchEncoderLayer(state: TorchState, config: TorchLayerConfig, extras: TorchImportExtras = {}): TransformerEncoderLayer {
  const op = 'fromTorchEncoderLayer';
  return withReader(
    op,
    state,
    (r) => importLayer(op, TransformerEncoderLayer, r, config, '', extras),
    (l) => l.dispose(),
  );
}

/** A built {@link TransformerDecoderLayer} with the weights of a PyTorch `nn.TransformerDecoderLayer` state dict. */
export function fromTorchDecoderLayer(state: TorchState, config: TorchLayerConfig, extras: TorchImportExtras = {}): TransformerDecoderLayer {
  const op = 'fromTorchDecoderLayer';
  return withReader(
    op,
    state,
    (r) => importLayer(op, TransformerDecoderLayer, r, config, '', extras),
    (l) => l.dispose(),
  );
}

/** Number of `layers.{i}.` blocks under `prefix`. */
function countLayers(state: TorchState, prefix: string): number {
  const found = new Set<number>();
  const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}layers\\.(\\d+)\\.`);
  for (const k of Object.keys(state)) {
    const m = re.exec(k);
    if (m) found.add(Number(m[1]));
  }
  return found.size;
}

function finalNorm(reader: StateReader, prefix: string, eps: number): tf.layers.Layer | null {
  if (!reader.has(`${prefix}norm.weight`)) return null;
  const gamma = reader.get(`${prefix}norm.weight`);
  const beta = reader.get(`${prefix}norm.bias`);
  const norm = new LayerNorm({ epsilon: eps, name: 'norm' });
  norm.build([null, null, gamma.shape[0]!]);
  norm.setWeights([gamma, beta]);
  return norm;
}

/** Stack options: `num_layers` (default: counted in the state) and the layer's config. */
export interface TorchStackConfig {
  num_layers?: number;
  numLayers?: number;
  /** The `nn.TransformerEncoderLayer` / `DecoderLayer` arguments every layer was made with. */
  layer: TorchLayerConfig;
}

function importStack<T extends TransformerEncoderLayer | TransformerDecoderLayer>(
  op: string,
  Cls: new (args: ConstructorParameters<typeof TransformerEncoderLayer>[0]) => T,
  reader: StateReader,
  config: TorchStackConfig,
  prefix: string,
  extras: TorchImportExtras,
): { layers: T[]; norm: tf.layers.Layer | null } {
  const counted = countLayers(reader.state, prefix);
  const n = config.num_layers ?? config.numLayers ?? counted;
  check(n === counted && n > 0, () => AttentionError.value(op, `num_layers must match the ${counted} layers in the state dict`, n));
  const layers: T[] = [];
  try {
    for (let i = 0; i < n; i++) layers.push(importLayer(op, Cls, reader, config.layer ?? {}, `${prefix}layers.${i}.`, extras));
    const eps = (checkTorchConfig(op, config.layer ?? {}, LAYER_OPTIONS).layerNormEps as number | undefined) ?? 1e-5;
    return { layers, norm: finalNorm(reader, prefix, eps) };
  } catch (e) {
    for (const l of layers) l.dispose();
    throw e;
  }
}

/** A {@link TransformerEncoder} from a PyTorch `nn.TransformerEncoder` state dict (final norm iff `norm.weight` is present). */
export function fromTorchTransformerEncoder(state: TorchState, config: TorchStackConfig, extras: TorchImportExtras = {}): TransformerEncoder {
  const op = 'fromTorchTransformerEncoder';
  return withReader(
    op,
    state,
    (r) => {
      const { layers, norm } = importStack(op, TransformerEncoderLayer, r, config, '', extras);
      return new TransformerEncoder(layers, norm);
    },
    (s) => s.dispose(),
  );
}

/** A {@link TransformerDecoder} from a PyTorch `nn.TransformerDecoder` state dict (final norm iff `norm.weight` is present). */
export function fromTorchTransformerDecoder(state: TorchState, config: TorchStackConfig, extras: TorchImportExtras = {}): TransformerDecoder {
  const op = 'fromTorchTransformerDecoder';
  return withReader(
    op,
    state,
    (r) => {
      const { layers, norm } = importStack(op, TransformerDecoderLayer, r, config, '', extras);
      return new TransformerDecoder(layers, norm);
    },
    (s) => s.dispose(),
  );
}

const TRANSFORMER_OPTIONS = [
  'dModel',
  'nhead',
  'numEncoderLayers',
  'numDecoderLayers',
  'dimFeedforward',
  'dropout',
  'activation',
  'layerNormEps',
  'batchFirst',
  'normFirst',
  'bias',
  'device',
  'dtype',
];

/**
 * An {@link EncoderDecoder} from a PyTorch `nn.Transformer` state dict and its constructor
 * arguments (`d_model`, `nhead`, `num_encoder_layers`, …; PyTorch's defaults apply). Inputs
 * are batch-first [B, S, d] / [B, T, d], whatever `batch_first` was. `custom_encoder` /
 * `custom_decoder` are not supported.
 */
export function fromTorchTransformer(state: TorchState, config: TorchLayerConfig, extras: TorchImportExtras = {}): EncoderDecoder {
  const op = 'fromTorchTransformer';
  const c = checkTorchConfig(op, config, TRANSFORMER_OPTIONS, {
    customEncoder: 'custom_encoder is not supported (import its modules separately)',
    customDecoder: 'custom_decoder is not supported (import its modules separately)',
  });
  const { numEncoderLayers = 6, numDecoderLayers = 6, ...layer } = c;
  const back = Object.fromEntries(Object.entries(layer));
  return withReader(
    op,
    state,
    (r) => {
      const enc = importStack(op, TransformerEncoderLayer, r, { numLayers: numEncoderLayers as number, layer: back }, 'encoder.', extras);
      try {
        const dec = importStack(op, TransformerDecoderLayer, r, { numLayers: numDecoderLayers as number, layer: back }, 'decoder.', extras);
        return new EncoderDecoder(new TransformerEncoder(enc.layers, enc.norm), new TransformerDecoder(dec.layers, dec.norm));
      } catch (e) {
        new TransformerEncoder(enc.layers, enc.norm).dispose();
        throw e;
      }
    },
    (m) => m.dispose(),
  );
}

/** The masks of one `nn.Transformer` forward call, in PyTorch's conventions and names. */
export interface TorchTransformerMasks {
  src_mask?: tf.Tensor | null;
  tgt_mask?: tf.Tensor | null;
  memory_mask?: tf.Tensor | null;
  src_key_padding_mask?: tf.Tensor | null;
  tgt_key_padding_mask?: tf.Tensor | null;
  memory_key_padding_mask?: tf.Tensor | null;
}

/** attnkit options for {@link EncoderDecoder.call} (or the layers); `dispose()` frees the converted masks. */
export interface ConvertedTransformerMasks {
  encoder: Pick<EncoderCallOptions, 'attentionMask' | 'attentionBias'>;
  decoder: Pick<DecoderCallOptions, 'useCausalMask' | 'selfAttentionMask' | 'selfAttentionBias' | 'crossAttentionMask' | 'crossAttentionBias'>;
  dispose(): void;
}

/**
 * Converts `nn.Transformer(src, tgt, src_mask, tgt_mask, memory_mask, src_key_padding_mask,
 * tgt_key_padding_mask, memory_key_padding_mask)` masks one to one: `src_mask` and
 * `src_key_padding_mask` -> encoder `attentionMask`/`attentionBias`; `tgt_mask` and
 * `tgt_key_padding_mask` -> decoder `selfAttentionMask`/`selfAttentionBias`; `memory_mask` and
 * `memory_key_padding_mask` -> decoder `crossAttentionMask`/`crossAttentionBias`. The decoder's
 * `useCausalMask` is false, as in PyTorch: causality comes from `tgt_mask`. 3-D masks need
 * `numHeads`.
 */
export function fromTorchTransformerMasks(masks: TorchTransformerMasks, options: { numHeads?: number } = {}): ConvertedTransformerMasks {
  const { numHeads } = options;
  const heads = numHeads === undefined ? {} : { numHeads };
  const parts: AttnkitMasks[] = [];
  const convert = (attnMask: tf.Tensor | null | undefined, keyPaddingMask: tf.Tensor | null | undefined) => {
    const m = fromTorchMasks({ attnMask: attnMask ?? null, keyPaddingMask: keyPaddingMask ?? null, ...heads });
    parts.push(m);
    return m;
  };
  try {
    const src = convert(masks.src_mask, masks.src_key_padding_mask);
    const tgt = convert(masks.tgt_mask, masks.tgt_key_padding_mask);
    const mem = convert(masks.memory_mask, masks.memory_key_padding_mask);
    return {
      encoder: { attentionMask: src.attentionMask, attentionBias: src.attentionBias },
      decoder: {
        useCausalMask: false,
        selfAttentionMask: tgt.attentionMask,
        selfAttentionBias: tgt.attentionBias,
        crossAttentionMask: mem.attentionMask,
        crossAttentionBias: mem.attentionBias,
      },
      dispose: () => tf.dispose(parts.flatMap((p) => [p.attentionMask, p.attentionBias]).filter((t): t is tf.Tensor => t !== null)),
    };
  } catch (e) {
    tf.dispose(parts.flatMap((p) => [p.attentionMask, p.attentionBias]).filter((t): t is tf.Tensor => t !== null));
    throw e;
  }
}
