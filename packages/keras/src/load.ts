/**
 * The public loaders: a Keras 3 `.keras` archive, a bare `.weights.h5` file, and a Keras 2
 * model.json topology.
 */
import { AttentionError } from '@attnkit/masking';
import { formatShape } from '@attnkit/masking/internal';
import { MultiHeadAttention } from '@attnkit/multi-head';
import * as tf from '@tensorflow/tfjs';
import { bytesOf, readKerasArchive } from './archive.js';
import { readH5 } from './h5.js';
import { type KerasModelSpec, readModelSpec, resolveClass, tfjsModelConfig } from './topology.js';
import { type OrderedLayer, assign, planWeights, recordKerasOrder } from './weights.js';

/** A file's bytes, or (in Node) its path. */
export type KerasSource = Uint8Array | ArrayBuffer | string;

const isZip = (b: Uint8Array) => b[0] === 0x50 && b[1] === 0x4b;

/** Builds the tfjs model of a Keras config; validation runs before any layer is created. */
function buildModel(op: string, spec: KerasModelSpec): tf.LayersModel {
  const config = tfjsModelConfig(op, spec);
  let model: tf.LayersModel;
  try {
    const ts = config as tf.serialization.ConfigDict;
    model = (spec.kind === 'Sequential'
      ? tf.Sequential.fromConfig(tf.Sequential, ts)
      : tf.LayersModel.fromConfig(tf.LayersModel, ts)) as unknown as tf.LayersModel;
  } catch (e) {
    if (e instanceof AttentionError) throw e;
    throw new AttentionError(op, `tfjs-layers could not rebuild the model from config.json (${(e as Error).message})`);
  }
  try {
    checkCausalAlignment(op, model);
  } catch (e) {
    model.dispose();
    throw e;
  }
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const ordered: OrderedLayer[] = [];
  for (const layer of spec.layers) {
    const built = byName.get(layer.name);
    // a Sequential's InputLayer is not one of its layers, in Keras as in tfjs
    if (built) ordered.push({ layer: built, kerasClass: resolveClass(op, layer).ours?.keras ?? layer.className });
  }
  recordKerasOrder(model, ordered);
  return model;
}

/**
 * Keras aligns a causal mask top-left (query i sees keys j <= i) and attnkit bottom-right
 * (j <= i + Tk - Tq, what decoding with a cache needs): the same when Tq == Tk, so a causal
 * call with known, different lengths is refused rather than computed differently.
 */
function checkCausalAlignment(op: string, model: tf.LayersModel) {
  for (const layer of model.layers) {
    if (!(layer instanceof MultiHeadAttention) || !layer.useCausalMask) continue;
    for (const node of layer.inboundNodes) {
      const [q, v] = node.inputTensors.map((t) => t.shape);
      const tq = q?.[1];
      const tk = v?.[1];
      if (tq != null && tk != null && tq !== tk) {
        throw new AttentionError(
          op,
          `MultiHeadAttention '${layer.name}' uses a causal mask with query length ${tq} and key length ${tk}: Keras aligns it top-left, attnkit bottom-right; only equal lengths load`,
          { query: q!.map(Number), value: v!.map(Number) },
        );
      }
    }
  }
}

/**
 * Loads a Keras 3 `.keras` archive (a zip of config.json, metadata.json, model.weights.h5) into
 * a `tf.LayersModel`: Functional and Sequential models of Keras' core layers that tfjs-layers
 * has (InputLayer, Dense, LayerNormalization, Embedding, Dropout, Add, ...), Keras'
 * MultiHeadAttention (as @attnkit/multi-head's) and attnkit's layers (CrossAttention,
 * TransformerEncoderLayer/DecoderLayer, PositionEmbedding, SinusoidalPositionEncoding,
 * `registered_name` `attnkit>…`). Every weight of the model must be in the file with its
 * shape, and the file may have no layer weight left over; otherwise an AttentionError names
 * the entry and the shapes, and nothing is left allocated.
 *
 * @param source the archive's bytes or, in Node, its path.
 */
export async function loadKerasModel(source: KerasSource): Promise<tf.LayersModel> {
  const op = 'loadKerasModel';
  const bytes = await bytesOf(op, source);
  const archive = readKerasArchive(bytes, op);
  const h5 = archive.weights ? await readH5(archive.weights, op, 'model.weights.h5') : null;
  const model = buildModel(op, readModelSpec(op, archive.config));
  if (h5) {
    try {
      assign(planWeights(op, 'model.weights.h5', model, h5));
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  return model;
}

/**
 * Loads a Keras 3 weights file (`model.save_weights('x.weights.h5')`, or the weights of a
 * `.keras` archive) into a model with the same layers: layers are matched per Keras class in
 * `model.layers` order (for a model from {@link modelFromKerasJson} or
 * {@link loadKerasModel}: the saved model's order), as Keras itself matches them. Checks every
 * weight before writing any; returns the model.
 *
 * @param source the `.weights.h5` (or `.keras`) bytes or, in Node, its path.
 */
export async function loadKerasWeights(model: tf.LayersModel, source: KerasSource): Promise<tf.LayersModel> {
  const op = 'loadKerasWeights';
  if (!(model instanceof tf.LayersModel)) throw AttentionError.value(op, 'model must be a tf.LayersModel', typeof model);
  let bytes = await bytesOf(op, source);
  let entry = typeof source === 'string' ? source : 'the weights file';
  if (isZip(bytes)) {
    const archive = readKerasArchive(bytes, op);
    if (!archive.weights) throw new AttentionError(op, 'the .keras archive has no model.weights.h5');
    bytes = archive.weights;
    entry = 'model.weights.h5';
  }
  const h5 = await readH5(bytes, op, entry);
  assign(planWeights(op, entry, model, h5));
  return model;
}

/** Options of {@link modelFromKerasJson}. */
export interface KerasJsonOptions {
  /**
   * The weights the model.json's `weightsManifest` describes, concatenated in its order (the
   * `.bin` shards of tfjs-converter). Default: none (the weights stay as initialized).
   */
  weightData?: ArrayBuffer | Uint8Array | null;
}

/**
 * Builds a `tf.LayersModel` from a Keras 2 topology (tf.keras 2's `model.to_json()`, or
 * tfjs-converter's model.json, given whole, as its `modelTopology` or as the model config),
 * or from a Keras 3 config.json. Layers called with keyword tensors
 * (`{"value": ["v", 0, 0], "key": ..., "use_causal_mask": true}`) get them as inputs
 * (MultiHeadAttention `[query, value, key]`) and `use_causal_mask` / `return_attention_scores`
 * as constructor arguments. With `weightData`, loads the manifest's weights by name.
 *
 * @param json the parsed JSON or its text.
 */
export function modelFromKerasJson(json: unknown, options: KerasJsonOptions = {}): tf.LayersModel {
  const op = 'modelFromKerasJson';
  let parsed = json;
  if (typeof json === 'string') {
    try {
      parsed = JSON.parse(json);
    } catch (e) {
      throw new AttentionError(op, `the model JSON does not parse (${(e as Error).message})`);
    }
  }
  const specs = options.weightData ? manifestSpecs(op, parsed) : null;
  const model = buildModel(op, readModelSpec(op, parsed));
  if (specs && options.weightData) {
    try {
      loadManifestWeights(op, model, specs, options.weightData);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  return model;
}

function manifestSpecs(op: string, json: unknown): tf.io.WeightsManifestEntry[] {
  const manifest = (json as { weightsManifest?: Array<{ weights?: tf.io.WeightsManifestEntry[] }> } | null)?.weightsManifest;
  if (!Array.isArray(manifest)) throw new AttentionError(op, 'weightData was given but the JSON has no weightsManifest');
  return manifest.flatMap((group) => group.weights ?? []);
}

/** Writes the manifest's weights into the model's variables by name, after checking every name and shape. */
function loadManifestWeights(op: string, model: tf.LayersModel, specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer | Uint8Array) {
  const buffer = data instanceof Uint8Array ? data.slice().buffer : data;
  const need = specs.reduce((n, s) => n + 4 * s.shape.reduce((a, b) => a * b, 1), 0);
  if (specs.some((s) => s.dtype !== 'float32' || s.quantization)) throw new AttentionError(op, 'only float32, unquantized manifest weights are supported');
  if (buffer.byteLength !== need) throw new AttentionError(op, `weightData has ${buffer.byteLength} bytes but the weightsManifest describes ${need}`);
  const byName = new Map(specs.map((s) => [s.name, s]));
  for (const w of model.weights) {
    const s = byName.get(w.originalName);
    if (!s) throw new AttentionError(op, `the weightsManifest has no ${w.originalName} (${formatShape(w.shape as number[])})`);
    if (s.shape.join(',') !== w.shape.join(',')) {
      throw new AttentionError(
        op,
        `weightsManifest entry ${s.name} has shape ${formatShape(s.shape)} but the model's ${w.originalName} needs ${formatShape(w.shape as number[])}`,
        {
          [s.name]: s.shape,
          [w.originalName]: w.shape as number[],
        },
      );
    }
  }
  const left = specs.filter((s) => !model.weights.some((w) => w.originalName === s.name));
  if (left.length > 0) throw new AttentionError(op, `the weightsManifest has weights no layer takes: ${left.map((s) => s.name).join(', ')}`);
  const named = tf.io.decodeWeights(buffer, specs);
  try {
    for (const w of model.weights) w.write(named[w.originalName]!);
  } finally {
    tf.dispose(Object.values(named));
  }
}
