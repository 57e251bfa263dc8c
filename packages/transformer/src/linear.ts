import { type Activation, dense, reshapeView } from '@attnkit/core';
import { defaultLayerName, registerAttnkitClass } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs';

/**
 * A dense layer over the last axis, y = act(x·W + b) with `kernel` [in, units] and `bias`
 * [units] as in Keras, computed by @attnkit/core's `dense`: plain rank-2 matMuls forward and
 * backward, and with relu or linear, the bias and activation fused where the backend has the
 * kernel (tfjs-layers' Dense trains several times slower on wasm). `gelu` is the exact erf
 * form (PyTorch's and Keras's default), `gelu_tanh` the tanh approximation.
 */
export class Linear extends tf.layers.Layer {
  static className = 'attnkit>Linear';
  readonly units: number;
  readonly activation: Activation;
  private readonly init: ReturnType<typeof tf.initializers.glorotUniform>;
  private kernel: tf.LayerVariable | null = null;
  private bias: tf.LayerVariable | null = null;

  constructor(args: { units: number; activation?: Linear['activation']; kernelInitializer?: ReturnType<typeof tf.initializers.glorotUniform>; name?: string }) {
    super({ name: defaultLayerName(args.name, 'attnkit_linear') });
    this.units = args.units;
    this.activation = args.activation ?? 'linear';
    this.init = args.kernelInitializer ?? tf.initializers.glorotUniform({});
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
    const d = shape[shape.length - 1] as number;
    this.kernel = this.addWeight('kernel', [d, this.units], 'float32', this.init);
    this.bias = this.addWeight('bias', [this.units], 'float32', tf.initializers.zeros());
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    return tf.tidy(() => {
      const d = x.shape[x.rank - 1]!;
      const rows = x.size / d;
      const y = dense(reshapeView(x, [rows, d]), this.kernel!.read() as tf.Tensor2D, this.bias!.read() as tf.Tensor1D, { activation: this.activation }); // [rows, units]
      return reshapeView(y, [...x.shape.slice(0, -1), this.units]); // [..., units]
    });
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return [...inputShape.slice(0, -1), this.units];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { units: this.units, activation: this.activation, ...super.getConfig() };
  }
}
// 'AttnkitLinear': the className models carried before the prefix
registerAttnkitClass(Linear, 'AttnkitLinear');
