/**
 * Keras <-> tfjs configuration plumbing for MultiHeadAttention: resolving initializer,
 * regularizer and constraint identifiers through the tfjs serialization registry, serialising
 * them back, and reading a Keras (snake_case) layer config.
 */
import { AttentionError } from '@attnkit/masking';
import * as tf from '@tensorflow/tfjs';

export type Initializer = ReturnType<typeof tf.initializers.ones>;
export type Regularizer = ReturnType<typeof tf.regularizers.l2>;
export type Constraint = ReturnType<typeof tf.constraints.nonNeg>;

/** A tfjs identifier (`'glorotUniform'`), a Keras one (`'glorot_uniform'`), a serialized config or an instance. */
export type Identifier<T> = string | T | { className: string; config: tf.serialization.ConfigDict };

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
