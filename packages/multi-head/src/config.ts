/**
 * Keras <-> tfjs configuration plumbing for MultiHeadAttention: resolving initializer,
 * regularizer and constraint identifiers through the tfjs serialization registry, serialising
 * them back, and reading a Keras (snake_case) or tfjs layer config into constructor arguments
 * ({@link argsFromConfig}). The layer's own `getConfig` writes what argsFromConfig reads; a
 * custom `attentionFn` and the `positionHook` are functions and are never in a config.
 */
import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs';
import type { Constraint, Identifier, Initializer, MultiHeadAttentionArgs, Regularizer } from './args.js';

const OP = 'MultiHeadAttention';

/** snake_case -> camelCase, as tfjs converts Python configs: `fan_avg` -> `fanAvg`. */
export function toCamelCase(s: string): string {
  return s.replace(/_+([a-zA-Z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Converts a Python-side (Keras) config to tfjs form: keys and string values to camelCase,
 * `class_name` to `className`; `name` values are kept as they are. What tfjs' own
 * `loadLayersModel` does to a model topology before it reaches `fromConfig`.
 */
export function pythonicToTs(value: unknown, key = ''): unknown {
  if (typeof value === 'string') return key === 'name' ? value : toCamelCase(value);
  if (Array.isArray(value)) return value.map((v) => pythonicToTs(v, key));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[toCamelCase(k)] = pythonicToTs(v, k);
    return out;
  }
  return value;
}

/**
 * Keras names whose tfjs class differs (Keras' `L1`/`L2` are tfjs' `L1L2` with the other
 * coefficient zero), with the config defaults Keras gives them.
 */
const ALIASES: Record<string, { className: string; defaults: Record<string, number> }> = {
  LecunNormal: { className: 'LeCunNormal', defaults: {} },
  LecunUniform: { className: 'LeCunUniform', defaults: {} },
  L1: { className: 'L1L2', defaults: { l1: 0.01, l2: 0 } },
  L2: { className: 'L1L2', defaults: { l1: 0, l2: 0.01 } },
  L1L2: { className: 'L1L2', defaults: { l1: 0.01, l2: 0.01 } },
};

function fromRegistry(op: string, kind: string, name: string, config: tf.serialization.ConfigDict) {
  const alias = ALIASES[name];
  const className = alias?.className ?? name;
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw AttentionError.value(op, `unknown ${kind}`, name);
  const [cls, fromConfig] = entry;
  return fromConfig(cls, { ...alias?.defaults, ...config });
}

function resolve<T extends object>(op: string, kind: string, id: Identifier<T> | null | undefined): T | null {
  if (id == null) return null;
  if (typeof id === 'string') {
    const camel = toCamelCase(id.toLowerCase() === id ? id : id.charAt(0).toLowerCase() + id.slice(1));
    const pascal = camel.charAt(0).toUpperCase() + camel.slice(1);
    return fromRegistry(op, kind, pascal === 'L1l2' ? 'L1L2' : pascal, {}) as T;
  }
  if ('className' in id && 'config' in id && typeof id.className === 'string') {
    return fromRegistry(op, kind, id.className, id.config ?? {}) as T;
  }
  return id as T;
}

export const resolveInitializer = (op: string, id: Identifier<Initializer> | null | undefined): Initializer | null =>
  resolve<Initializer>(op, 'initializer', id);
export const resolveRegularizer = (op: string, id: Identifier<Regularizer> | null | undefined): Regularizer | null =>
  resolve<Regularizer>(op, 'regularizer', id);
export const resolveConstraint = (op: string, id: Identifier<Constraint> | null | undefined): Constraint | null => resolve<Constraint>(op, 'constraint', id);

/** `{className, config}` of a serializable object, or null; unset fields become null, as a saved model stores them. */
export function serialize(x: tf.serialization.Serializable | null): tf.serialization.ConfigDict | null {
  if (!x) return null;
  const config = Object.fromEntries(Object.entries(x.getConfig()).map(([k, v]) => [k, v === undefined ? null : v]));
  return { className: x.getClassName(), config };
}

/** Keras arguments that do not change a forward pass: accepted with a warning. */
const IGNORED_KERAS_ARGS: Array<[string, string, string]> = [
  ['seed', 'seed', "dropout draws from tfjs' random state, not from this seed"],
  ['flashAttention', 'flash_attention', 'the implementation option chooses the attention path'],
];

/** Keras or tfjs config -> constructor arguments; rejects what this layer cannot honour. */
export function argsFromConfig(config: tf.serialization.ConfigDict): MultiHeadAttentionArgs {
  const snake = Object.keys(config).some((k) => k.includes('_'));
  const c = (snake ? pythonicToTs(config) : config) as Record<string, unknown>;
  const axes = c.attentionAxes;
  check(axes == null || JSON.stringify(axes) === '[1]' || axes === 1, () =>
    AttentionError.value(OP, 'only attention over the time axis of [B, T, d] inputs is supported (attention_axes null or [1])', axes),
  );
  check(c.activityRegularizer == null, () =>
    AttentionError.value(OP, 'activity regularizers are not supported (tfjs layers cannot apply them)', JSON.stringify(c.activityRegularizer)),
  );
  const dtype = c.dtype && typeof c.dtype === 'object' ? (c.dtype as { config?: { name?: string } }).config?.name : c.dtype;
  const keep = [
    'name',
    'trainable',
    'numHeads',
    'keyDim',
    'valueDim',
    'numKeyValueHeads',
    'dropout',
    'useBias',
    'outputShape',
    'kernelInitializer',
    'biasInitializer',
    'kernelRegularizer',
    'biasRegularizer',
    'kernelConstraint',
    'biasConstraint',
    'implementation',
    'useCausalMask',
    'returnAttentionScores',
    'queryShape',
    'valueShape',
    'keyShape',
    'batchInputShape',
  ];
  check(dtype == null || dtype === 'float32', () =>
    AttentionError.value(OP, 'only the float32 dtype policy is supported (mixed precision would change the numbers)', String(dtype)),
  );
  for (const [k, keras, why] of IGNORED_KERAS_ARGS) {
    if (c[k] != null && c[k] !== false) {
      // tfjs warns in the same way about what it cannot honour when loading models
      console.warn(`MultiHeadAttention: Keras argument ${keras}=${JSON.stringify(c[k])} is accepted but ignored: ${why}`);
    }
  }
  const args: Record<string, unknown> = {};
  for (const k of keep) if (c[k] !== undefined) args[k] = c[k];
  if (typeof dtype === 'string') args.dtype = dtype;
  return args as unknown as MultiHeadAttentionArgs;
}
