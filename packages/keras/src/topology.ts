/**
 * Keras model configurations -> the TensorFlow.js model config that tfjs-layers deserializes.
 *
 * Two inputs: Keras 3's `config.json` (layers with `module`, `class_name`, `registered_name`,
 * `config`, and functional `inbound_nodes` of `{args, kwargs}` holding `__keras_tensor__`
 * entries), and Keras 2's model.json topology (tf.keras 2, tfjs-converter), whose inbound
 * nodes list `[layer, node, tensor, kwargs]` with every argument after the first as a keyword
 * (`{"value": ["v", 0, 0], "use_causal_mask": true}`). Both are read into one form (a layer's
 * calls: first argument + named arguments), and each call becomes the input list the tfjs
 * class takes: MultiHeadAttention `[query, value, key?]`, a keyword `use_causal_mask` its
 * constructor argument (a tf.LayersModel calls a layer with its inputs only).
 */
import { AttentionError } from '@attnkit/masking';
import * as tf from '@tensorflow/tfjs';
import { type AttnkitClass, type KerasCall, type TensorRef, coreCallInputs, dropNeutralArgs, findAttnkitClass, oursCallInputs } from './classes.js';

type Json = Record<string, unknown>;

/** One layer of a Keras model, read from either format. */
export interface KerasLayerSpec {
  name: string;
  /** The Keras (Python) class name: `Dense`, `MultiHeadAttention`. Names the layer's weights group. */
  className: string;
  module: string | null;
  registeredName: string | null;
  config: Json;
  calls: KerasCall[];
}

/** A Keras model, read from either format. */
export interface KerasModelSpec {
  kind: 'Functional' | 'Sequential';
  name: string;
  layers: KerasLayerSpec[];
  inputs: TensorRef[];
  outputs: TensorRef[];
  /** Sequential only: the input shape when no InputLayer is listed (Keras 3's build_config). */
  inputShape: Array<number | null> | null;
}

const isObject = (x: unknown): x is Json => x !== null && typeof x === 'object' && !Array.isArray(x);
const str = (x: unknown): string | null => (typeof x === 'string' ? x : null);

/** snake_case -> camelCase, as tfjs converts Python configs. */
export function camel(s: string): string {
  return s.includes('_') ? s.replace(/_+(\w|$)/g, (_, c: string) => c.toUpperCase()) : s;
}

// ------------------------------------------------------------------------------------ reading

/** The model part of whatever was given: a model.json, its modelTopology, a model_config or the model config itself. */
export function modelConfigOf(op: string, json: unknown): Json {
  let x = json;
  for (const key of ['modelTopology', 'model_config']) if (isObject(x) && isObject(x[key])) x = x[key];
  if (!isObject(x) || typeof x.class_name !== 'string' || (!isObject(x.config) && !Array.isArray(x.config))) {
    throw new AttentionError(
      op,
      'expected a Keras model config ({"class_name": "Functional" | "Sequential", "config": {...}}), a model.json or its modelTopology',
    );
  }
  return x;
}

/** Reads a Keras 3 config.json or a Keras 2 topology into one form. */
export function readModelSpec(op: string, json: unknown): KerasModelSpec {
  const model = modelConfigOf(op, json);
  const className = model.class_name as string;
  const config = (Array.isArray(model.config) ? { layers: model.config } : model.config) as Json;
  const layersJson = config.layers;
  if (!Array.isArray(layersJson)) throw new AttentionError(op, `config.json: the ${className} model has no layers list`);
  const name = str(config.name) ?? 'model';
  if (className === 'Sequential') {
    const layers = layersJson.map((l, i) => readLayer(op, l, `layer ${i}`, null));
    const build = isObject(model.build_config) ? model.build_config.input_shape : null;
    return { kind: 'Sequential', name, layers, inputs: [], outputs: [], inputShape: Array.isArray(build) ? (build as Array<number | null>) : null };
  }
  if (!['Functional', 'Model'].includes(className) && model.registered_name !== 'Functional') {
    throw new AttentionError(op, `config.json: the model is a ${className}; only Functional (Model) and Sequential models can be rebuilt from their config`);
  }
  const layers = layersJson.map((l, i) => readLayer(op, l, `layer ${i}`, 'functional'));
  return {
    kind: 'Functional',
    name,
    layers,
    inputs: refList(op, config.input_layers, 'input_layers'),
    outputs: refList(op, config.output_layers, 'output_layers'),
    inputShape: null,
  };
}

function readLayer(op: string, json: unknown, where: string, kind: 'functional' | null): KerasLayerSpec {
  if (!isObject(json) || typeof json.class_name !== 'string') throw new AttentionError(op, `config.json: ${where} is not a {class_name, config} entry`);
  const config = isObject(json.config) ? json.config : {};
  const name = str(json.name) ?? str(config.name);
  if (!name) throw new AttentionError(op, `config.json: ${where} (${json.class_name}) has no name`);
  const className = json.class_name;
  if (['Functional', 'Sequential', 'Model'].includes(className)) {
    throw new AttentionError(op, `config.json: layer '${name}' is a nested ${className} model, which is not supported (flatten it into the outer model)`);
  }
  const spec: KerasLayerSpec = { name, className, module: str(json.module), registeredName: str(json.registered_name), config, calls: [] };
  if (kind === 'functional') {
    const nodes = json.inbound_nodes ?? [];
    if (!Array.isArray(nodes)) throw new AttentionError(op, `config.json: layer '${name}' has inbound_nodes that are not a list`);
    const ours = findAttnkitClass(className, spec.module, spec.registeredName);
    spec.calls = nodes.map((n, i) => readCall(op, n, `layer '${name}' call ${i}`, ours));
  }
  return spec;
}

/** A Keras 3 `{args, kwargs}` node or a Keras 2 `[[layer, node, tensor, kwargs], ...]` node. */
function readCall(op: string, node: unknown, where: string, ours: AttnkitClass | null): KerasCall {
  if (isObject(node)) {
    const args = Array.isArray(node.args) ? node.args : [];
    const kwargs = isObject(node.kwargs) ? node.kwargs : {};
    if (args.length === 0) throw new AttentionError(op, `config.json: ${where} has no arguments`);
    const first = decode(op, args[0], where);
    const firstRefs = (Array.isArray(first) ? first : [first]).map((r) => asRef(op, r, where));
    const named: Record<string, unknown> = {};
    const argNames = ours?.callArgs ?? [];
    for (const [i, a] of args.slice(1).entries()) {
      const argName = argNames[i];
      if (!argName) throw new AttentionError(op, `config.json: ${where} passes ${args.length} positional arguments; only the first can be an input here`);
      named[argName] = decode(op, a, where);
    }
    for (const [k, v] of Object.entries(kwargs)) named[k] = decode(op, v, where);
    return { first: firstRefs, kwargs: named };
  }
  if (Array.isArray(node)) {
    // Keras 2: one entry per tensor of the first argument, each with the same keyword arguments
    const first = node.map((entry) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string')
        throw new AttentionError(op, `model.json: ${where} has an entry that is not [layer, node, tensor, kwargs]`);
      return { layer: entry[0], node: Number(entry[1] ?? 0), tensor: Number(entry[2] ?? 0) };
    });
    const raw = (node[0] as unknown[] | undefined)?.[3];
    const kwargs: Record<string, unknown> = {};
    if (isObject(raw)) for (const [k, v] of Object.entries(raw)) kwargs[k] = keras2Value(v);
    return { first, kwargs };
  }
  throw new AttentionError(op, `config.json: ${where} is neither a Keras 3 {args, kwargs} node nor a Keras 2 list`);
}

/** Keras 2 keyword values: a tensor is [layer, node, tensor]. */
function keras2Value(v: unknown): unknown {
  if (Array.isArray(v) && v.length === 3 && typeof v[0] === 'string' && Number.isInteger(v[1]) && Number.isInteger(v[2])) {
    return { layer: v[0], node: v[1], tensor: v[2] } satisfies TensorRef;
  }
  return v;
}

/** Keras 3 call arguments: `__keras_tensor__` entries become refs; lists recurse; plain values stay. */
function decode(op: string, x: unknown, where: string): unknown {
  if (Array.isArray(x)) return x.map((v) => decode(op, v, where));
  if (isObject(x) && x.class_name === '__keras_tensor__') {
    const history = isObject(x.config) ? x.config.keras_history : null;
    if (!Array.isArray(history) || typeof history[0] !== 'string') throw new AttentionError(op, `config.json: ${where} has a tensor without keras_history`);
    return { layer: history[0], node: Number(history[1] ?? 0), tensor: Number(history[2] ?? 0) } satisfies TensorRef;
  }
  if (isObject(x) && typeof x.class_name === 'string' && x.class_name.startsWith('__')) {
    throw new AttentionError(op, `config.json: ${where} passes a ${x.class_name} constant, which cannot be rebuilt in TensorFlow.js`);
  }
  return x;
}

function asRef(op: string, x: unknown, where: string): TensorRef {
  if (isObject(x) && 'layer' in x) return x as unknown as TensorRef;
  throw new AttentionError(op, `config.json: ${where}'s first argument is ${JSON.stringify(x)}, not a tensor of the graph`);
}

/** input_layers / output_layers: `[l, n, t]`, a list of them, or a dict of them (Keras 3 keeps the structure). */
function refList(op: string, x: unknown, what: string): TensorRef[] {
  if (Array.isArray(x) && typeof x[0] === 'string') return [{ layer: x[0], node: Number(x[1] ?? 0), tensor: Number(x[2] ?? 0) }];
  if (Array.isArray(x)) return x.flatMap((v) => refList(op, v, what));
  if (isObject(x)) return Object.values(x).flatMap((v) => refList(op, v, what));
  throw new AttentionError(op, `config.json: the model's ${what} are missing`);
}

// ------------------------------------------------------------------------------------ classes

/** The tfjs class a Keras layer becomes, or an error naming it. */
export function resolveClass(op: string, layer: KerasLayerSpec): { ours: AttnkitClass | null; className: string } {
  const ours = findAttnkitClass(layer.className, layer.module, layer.registeredName);
  if (ours) return { ours, className: ours.cls.className };
  const custom = layer.registeredName !== null && layer.registeredName !== layer.className && layer.registeredName.includes('>');
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  if (!custom && map[layer.className] && !layer.className.includes('>') && (layer.module === null || layer.module.startsWith('keras'))) {
    return { ours: null, className: layer.className };
  }
  const from = [layer.module && `module '${layer.module}'`, layer.registeredName && `registered_name '${layer.registeredName}'`].filter(Boolean).join(', ');
  throw new AttentionError(
    op,
    `config.json: layer '${layer.name}' has class ${layer.className}${from ? ` (${from})` : ''}, which has no TensorFlow.js class: attnkit maps ${[
      'MultiHeadAttention',
      'CrossAttention',
      'TransformerEncoderLayer',
      'TransformerDecoderLayer',
      'PositionEmbedding',
      'SinusoidalPositionEncoding',
    ].join(', ')} and tfjs-layers has Keras' core layers (Dense, LayerNormalization, Embedding, Dropout, Add, ...)`,
  );
}

// ------------------------------------------------------------------------------------ configs

/** A Keras 3 dtype policy ({class_name: 'DTypePolicy', config: {name}}) or a dtype string -> the dtype, refusing mixed precision. */
function dtypeOf(op: string, where: string, x: unknown): string | null {
  if (x == null) return null;
  const name = isObject(x) ? (isObject(x.config) ? str(x.config.name) : null) : str(x);
  if (name === null) throw new AttentionError(op, `${where} has a dtype that is not a name or a DTypePolicy: ${JSON.stringify(x)}`);
  if (name.startsWith('mixed_') || name === 'float16' || name === 'bfloat16' || name === 'float64') {
    throw new AttentionError(op, `${where} has dtype policy ${name}; only float32 layers can be loaded (tfjs computes in float32)`);
  }
  return name;
}

/**
 * A Python config value -> tfjs form. `values` also camel-cases strings (what tfjs' own
 * loader does to Keras 2 JSON, and what its core layers expect: 'fan_avg' -> 'fanAvg'); for
 * attnkit's layers only keys change. Serialized objects lose Keras 3's `module` and
 * `registered_name`.
 */
function toTs(x: unknown, values: boolean, key = ''): unknown {
  if (typeof x === 'string') return values && key !== 'name' ? camel(x) : x;
  if (Array.isArray(x)) return x.map((v) => toTs(v, values, key));
  if (!isObject(x)) return x;
  if (typeof x.class_name === 'string' && 'config' in x) {
    return { className: x.class_name, config: toTs(x.config ?? {}, values) };
  }
  const out: Json = {};
  for (const [k, v] of Object.entries(x)) out[camel(k)] = toTs(v, values, k);
  return out;
}

/** One layer's config in tfjs form, with what its calls set (`useCausalMask`). */
function layerConfig(op: string, layer: KerasLayerSpec, ours: AttnkitClass | null, options: Json): Json {
  const where = `config.json: layer '${layer.name}' (${layer.className})`;
  const raw: Json = { ...layer.config, name: layer.name };
  const dtype = dtypeOf(op, where, raw.dtype);
  if (dtype === null) delete raw.dtype;
  else raw.dtype = dtype;
  if (layer.className === 'InputLayer') {
    if (raw.batch_shape !== undefined) {
      raw.batch_input_shape = raw.batch_shape;
      delete raw.batch_shape;
    }
    if (raw.sparse === true) throw new AttentionError(op, `${where} is sparse, which tfjs cannot load`);
    delete raw.sparse;
  }
  const config = dropNeutralArgs(op, where, raw);
  const ts = toTs(config, ours === null) as Json;
  return { ...ts, ...options };
}

// ------------------------------------------------------------------------------------ emitting

/** The TensorFlow.js config of a model (what `tf.LayersModel.fromConfig` / `tf.Sequential.fromConfig` take). */
export function tfjsModelConfig(op: string, spec: KerasModelSpec): Json {
  if (spec.kind === 'Sequential') return sequentialConfig(op, spec);
  const layers = spec.layers.map((layer) => {
    const { ours, className } = resolveClass(op, layer);
    const options: Json = {};
    const nodes = layer.calls.map((call, i) => {
      const where = `config.json: layer '${layer.name}' call ${i}`;
      if (!ours) return coreCallInputs(op, where, layer.className, call);
      const r = oursCallInputs(op, where, ours, call);
      for (const [k, v] of Object.entries(r.options)) {
        if (k in options && options[k] !== v) {
          throw new AttentionError(
            op,
            `layer '${layer.name}' is called with ${k} ${options[k]} and ${v}; a layer in a tf.LayersModel takes it once, as a constructor argument`,
          );
        }
        options[k] = v;
      }
      return r.inputs;
    });
    return {
      className,
      name: layer.name,
      config: layerConfig(op, layer, ours, options),
      inboundNodes: nodes.map((inputs) => inputs.map((r) => [r.layer, r.node, r.tensor, {}])),
    };
  });
  const ref = (r: TensorRef) => [r.layer, r.node, r.tensor];
  return { name: spec.name, layers, inputLayers: spec.inputs.map(ref), outputLayers: spec.outputs.map(ref) };
}

function sequentialConfig(op: string, spec: KerasModelSpec): Json {
  let inputShape: unknown = spec.inputShape;
  const layers: Json[] = [];
  for (const layer of spec.layers) {
    if (layer.className === 'InputLayer') {
      // its dtype is not carried over: tfjs would give the first layer's weights that dtype (Embedding casts ids itself)
      inputShape = layer.config.batch_shape ?? layer.config.batch_input_shape ?? inputShape;
      continue;
    }
    const { ours, className } = resolveClass(op, layer);
    const config = layerConfig(op, layer, ours, {});
    if (layers.length === 0 && Array.isArray(inputShape)) {
      config.batchInputShape = inputShape;
    }
    layers.push({ className, config });
  }
  if (layers.length === 0) throw new AttentionError(op, 'config.json: the Sequential model has no layers');
  if (!layers[0]!.config || !(layers[0]!.config as Json).batchInputShape) {
    throw new AttentionError(op, 'config.json: the Sequential model has no input shape (no InputLayer and no build_config); it cannot be built');
  }
  return { name: spec.name, layers };
}
