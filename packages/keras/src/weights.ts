/**
 * Where each weight of a tfjs model lives in a Keras 3 weights file, and loading them.
 *
 * Keras 3 (keras/src/saving/saving_lib.py) saves a model's layers as a container: each layer's
 * group is its Python class in snake case, numbered per class in `model.layers` order
 * (`layers/dense`, `layers/dense_1`, ...; never the layer's name); its own variables are the
 * datasets `vars/0..n` in creation order, and each sublayer is a group named after the
 * attribute holding it. MultiHeadAttention's projections are EinsumDense sublayers
 * `query_dense`, `key_dense`, `value_dense`, `output_dense` (kernel `vars/0`, bias `vars/1`).
 * Files of tf.keras 2.13 put the layers under `_layer_checkpoint_dependencies` instead; Keras
 * reads both, and so do we.
 *
 * attnkit's composite layers are laid out as a Python port would save them: sublayers under
 * their role names (`self_attention/query_dense/vars/0`, `attention_norm/vars/0`, ...).
 */
import { AttentionError } from '@attnkit/masking';
import { formatShape } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs';
import { attnkitClassOf } from './classes.js';
import type { H5Array, H5Weights } from './h5.js';

/** Keras' naming.to_snake_case: `MultiHeadAttention` -> `multi_head_attention`. */
export function toSnakeCase(name: string): string {
  return name
    .replace(/\W+/g, '')
    .replace(/(.)([A-Z][a-z]+)/g, '$1_$2')
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/** Keras' MultiHeadAttention keeps its projections in these attributes. */
const MHA_SUBLAYERS: Record<string, string> = { query: 'query_dense', key: 'key_dense', value: 'value_dense', attention_output: 'output_dense' };

/** One weight to load: the variable, the group and index it comes from, and how errors name it. */
interface Target {
  variable: tf.LayerVariable;
  /** Group paths to try, relative to the layer's group (first: Keras 3's). */
  groups: string[];
  index: number;
  /** `MultiHeadAttention 'mha' query/kernel` */
  label: string;
}

/** A layer and its Keras class name, in Keras' `model.layers` order. */
export interface OrderedLayer {
  layer: tf.layers.Layer;
  kerasClass: string;
}

/** A model's layers in Keras order, as recorded by the loader that built it (default: `model.layers`). */
const kerasOrder = new WeakMap<tf.LayersModel, OrderedLayer[]>();

export function recordKerasOrder(model: tf.LayersModel, layers: OrderedLayer[]) {
  kerasOrder.set(model, layers);
}

function orderedLayers(model: tf.LayersModel): OrderedLayer[] {
  return kerasOrder.get(model) ?? model.layers.map((layer) => ({ layer, kerasClass: attnkitClassOf(layer)?.keras ?? layer.getClassName() }));
}

/** The weights of one layer with their Keras sublayer groups. */
function targetsOf(layer: tf.layers.Layer, kerasClass: string): Target[] {
  const named = (layer as unknown as { namedWeights?: Array<{ name: string; variable: tf.LayerVariable }> }).namedWeights;
  if (attnkitClassOf(layer) && Array.isArray(named)) {
    const counts = new Map<string, number>();
    return named.map(({ name, variable }) => {
      const parts = name.split('/');
      const sub = parts.slice(0, -1);
      const last = sub[sub.length - 1];
      const attr = last !== undefined ? MHA_SUBLAYERS[last] : undefined;
      const groups = attr ? [[...sub.slice(0, -1), attr].join('/'), [...sub.slice(0, -1), `_${attr}`].join('/')] : [sub.join('/')];
      const index = counts.get(groups[0]!) ?? 0;
      counts.set(groups[0]!, index + 1);
      return { variable, groups, index, label: `${kerasClass} '${layer.name}' ${name}` };
    });
  }
  return layer.weights.map((variable, index) => {
    const own = variable.originalName.startsWith(`${layer.name}/`) ? variable.originalName.slice(layer.name.length + 1) : variable.originalName;
    return { variable, groups: [''], index, label: `${kerasClass} '${layer.name}' ${own}` };
  });
}

const join = (...parts: string[]) => parts.filter((p) => p !== '').join('/');

/** One variable's value, checked and ready to write. */
interface Assignment {
  variable: tf.LayerVariable;
  array: H5Array;
}

/**
 * Matches every weight of `model` with its dataset in `h5`, checking presence, count and
 * shape, and that the file has no layer weights left over. Allocates nothing.
 */
export function planWeights(op: string, entry: string, model: tf.LayersModel, h5: H5Weights): Assignment[] {
  const used = new Map<string, number>();
  const consumed = new Set<string>();
  const out: Assignment[] = [];
  for (const { layer, kerasClass } of orderedLayers(model)) {
    const targets = targetsOf(layer, kerasClass);
    const base = toSnakeCase(kerasClass);
    const n = used.get(base);
    used.set(base, n === undefined ? 0 : n + 1);
    if (targets.length === 0) continue;
    const own = n === undefined ? base : `${base}_${n + 1}`;
    const roots = [`layers/${own}`, `_layer_checkpoint_dependencies/${own}`];
    const byGroup = new Map<string, Target[]>();
    for (const t of targets) byGroup.set(t.groups.join('|'), [...(byGroup.get(t.groups.join('|')) ?? []), t]);
    for (const group of byGroup.values()) {
      const candidates = roots.flatMap((root) => group[0]!.groups.map((g) => join(root, g, 'vars')));
      const found = candidates.find((c) => h5.groups.has(c));
      if (!found) {
        const need = group.map((t) => `${t.label} ${formatShape(t.variable.shape as number[])}`).join(', ');
        throw new AttentionError(op, `${entry} has no ${candidates[0]} for ${need} (layer groups in the file: ${layerGroups(h5).join(', ') || 'none'})`);
      }
      const stored = [...h5.arrays.keys()].filter((p) => p.startsWith(`${found}/`) && !p.slice(found.length + 1).includes('/'));
      if (stored.length > group.length) {
        throw new AttentionError(
          op,
          `${entry}: ${found} has ${stored.length} variables but ${group[0]!.label.replace(/ \S+$/, '')} has ${group.length} there (${group.map((t) => t.label.split(' ').pop()).join(', ')})`,
        );
      }
      for (const t of group) {
        const path = `${found}/${t.index}`;
        const array = h5.arrays.get(path);
        const need = t.variable.shape as number[];
        if (!array) throw new AttentionError(op, `${entry} has no ${path}: ${t.label} needs ${formatShape(need)}`, { [t.label]: need });
        const fits = array.shape.length === need.length && array.shape.every((d, i) => d === need[i]);
        if (!fits) {
          throw new AttentionError(op, `${path} has shape ${formatShape(array.shape)} but ${t.label} needs ${formatShape(need)}`, {
            [path]: array.shape,
            [t.label]: need,
          });
        }
        consumed.add(path);
        out.push({ variable: t.variable, array });
      }
    }
  }
  const left = [...h5.arrays.keys()].filter((p) => /^(layers|_layer_checkpoint_dependencies)\//.test(p) && !consumed.has(p));
  if (left.length > 0) {
    throw new AttentionError(
      op,
      `${entry} has weights that no layer of the model takes: ${left.slice(0, 8).join(', ')}${left.length > 8 ? `, … (${left.length} in all)` : ''}`,
    );
  }
  return out;
}

function layerGroups(h5: H5Weights): string[] {
  return [...h5.groups].filter((g) => /^(layers|_layer_checkpoint_dependencies)\/[^/]+$/.test(g));
}

/** Writes checked values into the variables; no tensor outlives the call. */
export function assign(plan: Assignment[]): void {
  for (const { variable, array } of plan) {
    tf.tidy(() => {
      variable.write(tf.tensor(array.values, array.shape, 'float32'));
    });
  }
}
