/**
 * One registration prefix for every attnkit class: `attnkit>MultiHeadAttention`, … (tfjs' own
 * `MultiHeadAttention` is another class). Older names stay loadable as aliases. Here, at the
 * bottom of the package graph, because every package with a layer registers one (positional
 * as well as multi-head and above); tfjs' serialization registry is part of tfjs-core.
 */
import * as tf from '@tensorflow/tfjs-core';

/** The prefix of every attnkit className. */
export const REGISTRATION_PREFIX = 'attnkit>';

type Registrable = tf.serialization.SerializableConstructor<tf.serialization.Serializable> & {
  className: string;
  fromConfig: tf.serialization.FromConfigMethod<tf.serialization.Serializable>;
};

/**
 * Registers `cls` under its className (which must carry {@link REGISTRATION_PREFIX}) and under
 * each alias, so that models saved with an older name (or Keras configs naming the class
 * without a prefix) still load. Saving writes the prefixed className.
 */
export function registerAttnkitClass(cls: Registrable, ...aliases: string[]): void {
  if (!cls.className.startsWith(REGISTRATION_PREFIX)) throw new Error(`registerAttnkitClass: ${cls.className} lacks the ${REGISTRATION_PREFIX} prefix`);
  tf.serialization.registerClass(cls);
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const alias of aliases) map[alias] = [cls, cls.fromConfig];
}

const counts = new Map<string, number>();

/**
 * `name`, or `<prefix>_<n>` counting per prefix: tfjs would derive a default layer name from
 * the className, whose `>` is not allowed in weight names.
 */
export function defaultLayerName(name: string | undefined, prefix: string): string {
  if (name) return name;
  const n = (counts.get(prefix) ?? 0) + 1;
  counts.set(prefix, n);
  return `${prefix}_${n}`;
}
