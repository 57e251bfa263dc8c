import { layerNorm } from '@attnkit/core';
import { defaultLayerName, registerAttnkitClass } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs';

/**
 * Layer normalization over the last axis, y = (x - mean) / sqrt(var + ε) · gamma + beta,
 * computed by @attnkit/core's `layerNorm` (one fused kernel forward and one backward where
 * the backend has them, broadcasting arithmetic otherwise). tfjs-layers' LayerNormalization
 * broadcasts with tile, whose gradient is a slice and add per repetition: thousands of kernels
 * per training step.
 */
export class LayerNorm extends tf.layers.Layer {
  static className = 'attnkit>LayerNorm';
  readonly epsilon: number;
  private gamma: tf.LayerVariable | null = null;
  private beta: tf.LayerVariable | null = null;

  constructor(args: { epsilon?: number; name?: string } = {}) {
    super({ name: defaultLayerName(args.name, 'attnkit_layer_norm') });
    this.epsilon = args.epsilon ?? 1e-5;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const d = shape[shape.length - 1] as number;
    this.gamma = this.addWeight('gamma', [d], 'float32', tf.initializers.ones());
    this.beta = this.addWeight('beta', [d], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return layerNorm(x, this.gamma!.read(), this.beta!.read(), { epsilon: this.epsilon });
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { epsilon: this.epsilon, ...super.getConfig() };
  }
}
// 'AttnkitLayerNorm': the className models carried before the prefix
registerAttnkitClass(LayerNorm, 'AttnkitLayerNorm');
