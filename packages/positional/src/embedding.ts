/**
 * A learned position embedding: one trainable vector per position, as in BERT and GPT-2.
 * Follows the Keras-hub `PositionEmbedding` semantics: the layer returns the position embeddings
 * (it does not add them), broadcast to the input's shape, so the caller writes
 * `tokens + positions.apply(tokens)`.
 */
import { AttentionError } from '@attnkit/masking';
import { check, registerAttnkitClass } from '@attnkit/masking/internal';
import * as tfl from '@tensorflow/tfjs';
import * as tf from '@tensorflow/tfjs-core';
import { type LayerArgs, checkOffset, checkPositiveInteger, withDefaultName } from './validate.js';

/** A tfjs-layers weight initializer, e.g. `tf.initializers.randomNormal({ stddev: 0.02 })`. */
export type Initializer = ReturnType<typeof tfl.initializers.ones>;

/** Layer options, plus the usual tfjs layer options (`name`, `inputShape`, …). */
export interface PositionEmbeddingArgs extends LayerArgs {
  /** Number of positions the layer has vectors for; `offset + T` may not exceed it. Required. */
  maxLength: number;
  /**
   * Embedding size. Default: the input's last dimension for `[B, T, d]` inputs. Required for
   * `[B, T]` inputs (e.g. token ids), which get `[B, T, outputDim]` embeddings.
   */
  outputDim?: number;
  /** Initializer of the `embeddings` weight. Default `tf.initializers.glorotUniform({})` (as Keras-hub). */
  initializer?: Initializer | tf.serialization.ConfigDict | string;
}

/** Call-time options of {@link PositionEmbedding}. */
export interface PositionEmbeddingCallKwargs {
  /** Position of the first input token, e.g. the cache length when decoding. Default 0. */
  offset?: number;
}

/** A Keras/tfjs initializer identifier as its registered class name: `'ones'`, `'glorot_uniform'`, `'heNormal'` → `Ones`, `GlorotUniform`, `HeNormal`. */
function initializerClassName(identifier: string): string {
  return identifier.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
}

/** Rebuilds an initializer from an instance, an identifier (`'ones'`) or the `{ className, config }` that getConfig wrote. */
function initializerFrom(spec: Initializer | tf.serialization.ConfigDict | string | undefined): Initializer {
  if (spec == null) return tfl.initializers.glorotUniform({});
  if (spec instanceof tf.serialization.Serializable) return spec as Initializer;
  if (typeof spec === 'string') spec = { className: initializerClassName(spec) };
  const className = spec.className as string;
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  check(entry !== undefined, () => AttentionError.value('PositionEmbedding', 'initializer must be a registered tfjs initializer', className));
  const [cls, fromConfig] = entry;
  return fromConfig(cls, (spec.config ?? {}) as tf.serialization.ConfigDict) as Initializer;
}

/**
 * Learned position embedding with a weight `embeddings` of shape `[maxLength, d]`.
 *
 * - `[B, T, d]` input → `[B, T, d]`: rows `offset … offset+T-1` of the table, broadcast over the batch.
 * - `[B, T]` input (e.g. token ids; needs `outputDim`) → `[B, T, outputDim]`.
 *
 * The output is float32 whatever the input dtype. Pass `{ offset }` as the second argument of
 * `apply` to embed positions after a cache. Registered for serialization as
 * `attnkit>PositionEmbedding`.
 */
export class PositionEmbedding extends tfl.layers.Layer {
  static className = 'attnkit>PositionEmbedding';
  readonly maxLength: number;
  readonly outputDim: number | null;
  readonly initializer: Initializer;
  private embeddings: tfl.LayerVariable | null = null;

  constructor(args: PositionEmbeddingArgs) {
    super(withDefaultName(args, 'position_embedding'));
    const op = 'PositionEmbedding';
    checkPositiveInteger(op, 'maxLength', args?.maxLength);
    if (args.outputDim != null) checkPositiveInteger(op, 'outputDim', args.outputDim);
    this.maxLength = args.maxLength;
    this.outputDim = args.outputDim ?? null;
    this.initializer = initializerFrom(args.initializer);
  }

  /** Embedding size for an input shape; throws on a rank or size this layer cannot serve. */
  private featureSize(shape: tfl.Shape): number {
    const op = 'PositionEmbedding';
    const shown = shape.map((d) => d ?? -1);
    check(shape.length === 2 || shape.length === 3, () => AttentionError.shapes(op, 'inputs must be [B, T] or [B, T, d]', { inputs: shown }));
    if (shape.length === 2) {
      check(this.outputDim != null, () => AttentionError.shapes(op, '[B, T] inputs need the outputDim option', { inputs: shown }));
      return this.outputDim;
    }
    const d = shape[2];
    check(d != null, () => AttentionError.shapes(op, 'the feature dimension must be known', { inputs: shown }));
    check(this.outputDim == null || this.outputDim === d, () =>
      AttentionError.shapes(op, `the input's last dimension must equal outputDim ${this.outputDim}`, {
        inputs: shown,
      }),
    );
    return d;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const d = this.featureSize(shape);
    this.embeddings = this.addWeight('embeddings', [this.maxLength, d], 'float32', this.initializer);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    const d = this.featureSize(shape);
    return [shape[0]!, shape[1]!, d];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: PositionEmbeddingCallKwargs = {}): tf.Tensor {
    const op = 'PositionEmbedding';
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const offset = kwargs.offset ?? 0;
    const d = this.featureSize(x.shape);
    checkOffset(op, offset);
    const [batch, length] = x.shape as [number, number];
    check(offset + length <= this.maxLength, () =>
      AttentionError.value(op, `offset + sequence length must be at most maxLength ${this.maxLength} (offset ${offset}, length ${length})`, offset + length),
    );
    const table = this.embeddings!.read(); // [maxLength, d]
    return tf.tidy(() => {
      const rows = tf.slice(table, [offset, 0], [length, d]); // [T, d]
      return tf.broadcastTo(tf.reshape(rows, [1, length, d]), [batch, length, d]); // [B, T, d]
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      maxLength: this.maxLength,
      outputDim: this.outputDim,
      initializer: { className: this.initializer.getClassName(), config: this.initializer.getConfig() },
    };
  }
}
// 'PositionEmbedding': the className models carried before the prefix
registerAttnkitClass(PositionEmbedding, 'PositionEmbedding');
