import { type CrossEntropyOptions, embeddingLookup, matMulT, projectedCrossEntropy, reshapeView } from '@attnkit/core';
import { defaultLayerName, registerAttnkitClass } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs';

/**
 * Token embedding table [V, d], looked up with @attnkit/core's `embeddingLookup` (a gather
 * where the backend has its gradient, oneHot(ids)·E otherwise), and reused transposed as the
 * output projection when weights are tied: logits = h·Eᵀ.
 */
export class TokenEmbedding extends tf.layers.Layer {
  static className = 'attnkit>TokenEmbedding';
  readonly vocabSize: number;
  readonly dModel: number;
  private table: tf.LayerVariable | null = null;

  readonly seed: number | null;

  constructor(args: { vocabSize: number; dModel: number; seed?: number | null; name?: string }) {
    super({ name: defaultLayerName(args.name, 'token_embedding') });
    this.vocabSize = args.vocabSize;
    this.dModel = args.dModel;
    this.seed = args.seed ?? null;
  }

  override build(): void {
    if (this.table) return;
    // N(0, d^-1/2): with the sqrt(d) input scale, embedded tokens start at unit variance.
    const init = tf.initializers.randomNormal({ mean: 0, stddev: this.dModel ** -0.5, ...(this.seed === null ? {} : { seed: this.seed }) });
    this.table = this.addWeight('embeddings', [this.vocabSize, this.dModel], 'float32', init);
    this.built = true;
  }

  get embeddings(): tf.LayerVariable {
    this.build();
    return this.table!;
  }

  /** ids [B, T] int32 -> [B, T, d]. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const ids = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor2D;
    return tf.tidy(() => embeddingLookup(this.embeddings.read() as tf.Tensor2D, tf.cast(ids, 'int32'))); // [B, T, d]
  }

  /** h [B, T, d] -> logits [B, T, V] through the transposed table (tied output projection). */
  logits(h: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [B, T, d] = h.shape as [number, number, number];
      const logits = matMulT(reshapeView(h, [B * T, d]) as tf.Tensor2D, this.embeddings.read() as tf.Tensor2D, false, true); // [B*T, V]
      return reshapeView(logits, [B, T, this.vocabSize]); // [B, T, V]
    });
  }

  /**
   * Cross-entropy [B, T] of the tied output projection's logits h·Eᵀ against `labels` [B, T]:
   * `softmaxCrossEntropy(this.logits(h), labels)`, as @attnkit/core's `projectedCrossEntropy`
   * (one kernel each way where the backend has it: the [B·T, V] logits stay inside it).
   */
  crossEntropy(h: tf.Tensor, labels: tf.Tensor, options: Omit<CrossEntropyOptions, 'implementation'> = {}): tf.Tensor {
    return projectedCrossEntropy(h, this.embeddings.read() as tf.Tensor2D, labels, options);
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return [...inputShape, this.dModel];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { vocabSize: this.vocabSize, dModel: this.dModel, seed: this.seed, ...super.getConfig() };
  }
}
// 'TokenEmbedding': the className models carried before the prefix
registerAttnkitClass(TokenEmbedding, 'TokenEmbedding');
