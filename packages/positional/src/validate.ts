import { AttentionError } from '@attnkit/masking';
import { check, defaultLayerName } from '@attnkit/masking/internal';
import type * as tfl from '@tensorflow/tfjs';

export function checkPositiveInteger(op: string, name: string, n: unknown): asserts n is number {
  check(typeof n === 'number' && Number.isInteger(n) && n > 0, () => AttentionError.value(op, `${name} must be a positive integer`, n));
}

export function checkOffset(op: string, offset: unknown): asserts offset is number {
  check(typeof offset === 'number' && Number.isInteger(offset) && offset >= 0, () => AttentionError.value(op, 'offset must be a non-negative integer', offset));
}

export function checkBase(op: string, base: unknown): asserts base is number {
  check(typeof base === 'number' && Number.isFinite(base) && base > 0, () => AttentionError.value(op, 'base must be a positive finite number', base));
}

/** The base options every tfjs layer takes (`name`, `trainable`, `inputShape`, `dtype`, …). */
export type LayerArgs = NonNullable<ConstructorParameters<typeof tfl.layers.Layer>[0]>;

/**
 * `args` with a default `name` (`<prefix>_<n>`, masking's `defaultLayerName`) when none is
 * given. Our classNames carry the `attnkit>` prefix, which tfjs would otherwise put into layer
 * names, where `>` is not allowed.
 */
export function withDefaultName<T extends LayerArgs>(args: T, prefix: string): T {
  return args.name ? args : { ...args, name: defaultLayerName(undefined, prefix) };
}
