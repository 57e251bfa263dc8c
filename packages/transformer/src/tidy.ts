import * as tf from '@tensorflow/tfjs';

/**
 * tf.tidy over a function returning a structure of tensors, keeping its type: interfaces with
 * optional fields (`{ y, self? }`) are not tfjs' TensorContainer, though tidy keeps every tensor
 * in them alike.
 */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as unknown as () => tf.TensorContainer) as unknown as T;
}
