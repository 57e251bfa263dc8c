/**
 * Which TensorFlow.js class each Keras class becomes, how one of its calls in a saved graph
 * becomes that class's list of inputs, and how its weights are laid out in a Keras weights
 * file. attnkit's classes are imported, not looked up by registry name.
 */
import { CrossAttention } from '@attnkit/cross-attention';
import { AttentionError } from '@attnkit/masking';
import { MultiHeadAttention } from '@attnkit/multi-head';
import { PositionEmbedding, SinusoidalPositionEncoding } from '@attnkit/positional';
import { TransformerDecoderLayer, TransformerEncoderLayer } from '@attnkit/transformer';
import type * as tf from '@tensorflow/tfjs';

/** A tensor of the saved graph: output `tensor` of call `node` of layer `layer`. */
export interface TensorRef {
  layer: string;
  node: number;
  tensor: number;
}

/** One call of a layer in the saved graph: its first argument and the rest by name. */
export interface KerasCall {
  /** The first argument's tensors (a list argument, as Add takes, gives several). */
  first: TensorRef[];
  /** Every other argument by name (Keras 3's extra positional ones named by the class's call signature). */
  kwargs: Record<string, unknown>;
}

type LayerClass = (new (args: never) => tf.layers.Layer) & { className: string };

/** How a Keras class maps onto one of ours. */
export interface AttnkitClass {
  /** The Keras class name (a Python port's class name for attnkit's layers). */
  keras: string;
  cls: LayerClass;
  /** Names of the call arguments after the first, in order (Keras 3 stores extra positional arguments by position). */
  callArgs: string[];
  /** Tensor arguments that become inputs after the first, in the order the layer's input list takes them. */
  tensorInputs: string[];
  /** Non-tensor call arguments that are constructor arguments here (Keras name -> our config key). */
  callOptions: Record<string, string>;
}

/** Keras' MultiHeadAttention and attnkit's own layers. */
export const ATTNKIT_CLASSES: AttnkitClass[] = [
  {
    keras: 'MultiHeadAttention',
    cls: MultiHeadAttention as unknown as LayerClass,
    callArgs: ['value', 'key', 'query_mask', 'value_mask', 'key_mask', 'attention_mask', 'return_attention_scores', 'training', 'use_causal_mask'],
    tensorInputs: ['value', 'key'],
    callOptions: { use_causal_mask: 'useCausalMask', return_attention_scores: 'returnAttentionScores' },
  },
  {
    keras: 'CrossAttention',
    cls: CrossAttention as unknown as LayerClass,
    callArgs: ['memory', 'memory_mask', 'training'],
    tensorInputs: ['memory', 'memory_mask'],
    callOptions: {},
  },
  {
    keras: 'TransformerEncoderLayer',
    cls: TransformerEncoderLayer as unknown as LayerClass,
    callArgs: ['padding_mask', 'training'],
    tensorInputs: ['padding_mask'],
    callOptions: {},
  },
  {
    keras: 'TransformerDecoderLayer',
    cls: TransformerDecoderLayer as unknown as LayerClass,
    callArgs: ['memory', 'memory_mask', 'training'],
    tensorInputs: ['memory', 'memory_mask'],
    callOptions: {},
  },
  { keras: 'PositionEmbedding', cls: PositionEmbedding as unknown as LayerClass, callArgs: ['training'], tensorInputs: [], callOptions: {} },
  { keras: 'SinusoidalPositionEncoding', cls: SinusoidalPositionEncoding as unknown as LayerClass, callArgs: ['training'], tensorInputs: [], callOptions: {} },
];

/** Keras call arguments that change nothing at inference in TensorFlow.js (tfjs passes `training` itself). */
const IGNORED_CALL_ARGS = new Set(['training']);

/** The Keras class of one of our layer instances, or null for tfjs' own classes. */
export function attnkitClassOf(layer: tf.layers.Layer): AttnkitClass | null {
  // most derived first: CrossAttention is not a MultiHeadAttention, but a subclass would be
  return ATTNKIT_CLASSES.find((c) => layer.constructor === c.cls) ?? ATTNKIT_CLASSES.find((c) => layer instanceof c.cls) ?? null;
}

/** Our class for a Keras class name, module and registered name, or null when none is ours. */
export function findAttnkitClass(className: string, module: string | null, registeredName: string | null): AttnkitClass | null {
  const ours = (registeredName ?? '').startsWith('attnkit>') || (module ?? '').startsWith('attnkit') || className.startsWith('attnkit>');
  const name = className.replace(/^attnkit>/, '');
  const found = ATTNKIT_CLASSES.find((c) => c.keras === name);
  if (!found) return null;
  if (ours || module === null) return found; // attnkit's, or a Keras 2 file that names classes only
  // Keras' own MultiHeadAttention; a same-named class of another library (keras_hub.layers.PositionEmbedding) is not ours
  return found.keras === 'MultiHeadAttention' && (module === 'keras' || module.startsWith('keras.')) ? found : null;
}

const isRef = (x: unknown): x is TensorRef => x !== null && typeof x === 'object' && 'layer' in x && 'node' in x && 'tensor' in x;

/**
 * The input list of one call of one of our layers, and the constructor arguments its
 * non-tensor call arguments become (`use_causal_mask=True` -> `useCausalMask: true`).
 */
export function oursCallInputs(op: string, where: string, c: AttnkitClass, call: KerasCall): { inputs: TensorRef[]; options: Record<string, unknown> } {
  const inputs = [...call.first];
  const options: Record<string, unknown> = {};
  // [query, value] given as one list argument, as tfjs' apply takes it
  const listGiven = call.first.length > 1;
  const missing: string[] = [];
  for (const name of c.tensorInputs) {
    const value = call.kwargs[name];
    if (value === undefined || value === null) {
      missing.push(name);
      continue;
    }
    if (listGiven) throw new AttentionError(op, `${where} passes its inputs both as a list and as the keyword ${name}`);
    if (!isRef(value)) throw new AttentionError(op, `${where} passes ${name} as ${JSON.stringify(value)}, not as a tensor of the graph`);
    // an input after a missing one cannot be placed in the list (key without value)
    if (missing.length > 0) {
      throw new AttentionError(op, `${where} passes ${name} without ${missing.join(', ')}, which ${c.keras} takes before it`);
    }
    inputs.push(value);
  }
  if (c.keras === 'MultiHeadAttention' && inputs.length < 2) throw new AttentionError(op, `${where} calls MultiHeadAttention without a value`);
  for (const [name, value] of Object.entries(call.kwargs)) {
    if (c.tensorInputs.includes(name) || IGNORED_CALL_ARGS.has(name) || value === null || value === undefined) continue;
    const key = c.callOptions[name];
    if (key !== undefined && typeof value === 'boolean') {
      options[key] = value;
      continue;
    }
    if (name === 'attention_mask' && isRef(value)) {
      throw new AttentionError(
        op,
        `${where} passes attention_mask as a graph tensor, which a MultiHeadAttention inside a tf.LayersModel cannot take (its inputs are [query, value, key]); build the model in code and pass attentionMask when calling the layer`,
      );
    }
    if (value === false) continue;
    throw new AttentionError(op, `${where} passes the call argument ${name}=${JSON.stringify(value)}, which ${c.keras} cannot take inside a tf.LayersModel`);
  }
  return { inputs, options };
}

/** The input list of one call of a tfjs core layer: its first argument; other tensor arguments are refused. */
export function coreCallInputs(op: string, where: string, className: string, call: KerasCall): TensorRef[] {
  for (const [name, value] of Object.entries(call.kwargs)) {
    if (IGNORED_CALL_ARGS.has(name) || value === null || value === undefined) continue;
    throw new AttentionError(op, `${where} passes the call argument ${name}=${JSON.stringify(value)}, which ${className} cannot take in TensorFlow.js`);
  }
  return call.first;
}

/** Keras 3 configuration keys with no tfjs counterpart: accepted at their neutral value, refused otherwise. */
const NEUTRAL_KERAS3_ARGS: Record<string, (v: unknown) => boolean> = {
  quantization_config: (v) => v == null,
  lora_rank: (v) => v == null,
  lora_alpha: (v) => v == null,
  rms_scaling: (v) => v === false || v == null,
  use_gate: (v) => v === false || v == null,
  sliding_window: (v) => v == null,
  optional: (v) => v === false || v == null,
  ragged: (v) => v === false || v == null,
  synchronized: (v) => v === false || v == null,
};

/** Removes the Keras 3 arguments tfjs has no counterpart for, refusing those that would change a forward pass. */
export function dropNeutralArgs(op: string, where: string, config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    const neutral = NEUTRAL_KERAS3_ARGS[k];
    if (neutral) {
      if (!neutral(v)) throw new AttentionError(op, `${where} has ${k}=${JSON.stringify(v)}, which TensorFlow.js cannot honour`);
      continue;
    }
    out[k] = v;
  }
  return out;
}
