import { disposeSublayer } from '@attnkit/multi-head';
import * as tf from '@tensorflow/tfjs';
import type { DecoderCallOptions, EncoderCallOptions, NamedWeight, TransformerDecoderLayer, TransformerEncoderLayer } from './blocks.js';

const prefixed = (p: string, ws: NamedWeight[]) => ws.map((w) => ({ ...w, name: `${p}/${w.name}` }));
const normWeights = (norm: tf.layers.Layer | null, name: string): NamedWeight[] =>
  norm ? norm.weights.map((variable, i) => ({ name: `${name}/${['gamma', 'beta'][i]}`, variable })) : [];

/** A layer the stacks run: its typed forward pass (the blocks' `forward`). */
interface StackedLayer<O> {
  forward(x: tf.Tensor, options: O): { y: tf.Tensor3D };
  readonly namedWeights: NamedWeight[];
}

/** What the two stacks share: their layers, an optional final norm, structural weight names and disposal. */
abstract class LayerStack<L extends StackedLayer<O> & tf.layers.Layer, O> {
  constructor(
    readonly layers: L[],
    readonly norm: tf.layers.Layer | null = null,
  ) {}

  /** x through every layer with the same options, then the final norm. */
  protected run(x: tf.Tensor, options: O): tf.Tensor3D {
    return tf.tidy(() => {
      let h: tf.Tensor = x;
      for (const layer of this.layers) h = layer.forward(h, options).y;
      return (this.norm ? this.norm.apply(h) : h) as tf.Tensor3D;
    });
  }

  /** `layers/0/self_attention/query/kernel`, …, `norm/gamma`. */
  get namedWeights(): NamedWeight[] {
    return [...this.layers.flatMap((l, i) => prefixed(`layers/${i}`, l.namedWeights)), ...normWeights(this.norm, 'norm')];
  }

  dispose(): void {
    for (const layer of [...this.layers, ...(this.norm ? [this.norm] : [])]) disposeSublayer(layer);
  }
}

/** A stack of encoder layers with an optional final layer norm, as PyTorch's `nn.TransformerEncoder`: [B, S, d] -> [B, S, d]. */
export class TransformerEncoder extends LayerStack<TransformerEncoderLayer, EncoderCallOptions> {
  /** Every layer gets the same options (masks, padding, training); returns the stack's output. */
  call(src: tf.Tensor, options: Omit<EncoderCallOptions, 'returnAttentionScores'> = {}): tf.Tensor3D {
    return this.run(src, options);
  }
}

/** A stack of decoder layers with an optional final layer norm, as PyTorch's `nn.TransformerDecoder`: [B, T, d] -> [B, T, d]. */
export class TransformerDecoder extends LayerStack<TransformerDecoderLayer, DecoderCallOptions> {
  /** Every layer gets the same options (memory, masks, padding, training); per-layer caches are not taken here. */
  call(tgt: tf.Tensor, options: Omit<DecoderCallOptions, 'returnAttentionScores' | 'selfCache' | 'memoryCache'>): tf.Tensor3D {
    return this.run(tgt, options);
  }
}

/** Encoder and decoder stacks, as PyTorch's `nn.Transformer` (no embeddings, no output projection). */
export class EncoderDecoder {
  constructor(
    readonly encoder: TransformerEncoder,
    readonly decoder: TransformerDecoder,
  ) {}

  /**
   * src [B, S, d], tgt [B, T, d] -> [B, T, d]. `encoder` options go to every encoder layer,
   * `decoder` options to every decoder layer (the memory is the encoder's output). Masks in
   * PyTorch's conventions convert with `fromTorchTransformerMasks`. The decoder is causal
   * unless `decoder.useCausalMask` is false.
   */
  call(
    src: tf.Tensor,
    tgt: tf.Tensor,
    options: {
      encoder?: Omit<EncoderCallOptions, 'returnAttentionScores'>;
      decoder?: Omit<DecoderCallOptions, 'returnAttentionScores' | 'selfCache' | 'memoryCache' | 'memory'>;
    } = {},
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const memory = this.encoder.call(src, options.encoder ?? {});
      return this.decoder.call(tgt, { ...(options.decoder ?? {}), memory });
    });
  }

  get namedWeights(): NamedWeight[] {
    return [...prefixed('encoder', this.encoder.namedWeights), ...prefixed('decoder', this.decoder.namedWeights)];
  }

  dispose(): void {
    this.encoder.dispose();
    this.decoder.dispose();
  }
}
