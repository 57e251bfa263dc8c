import { CrossAttention, type MemoryCache } from '@attnkit/cross-attention';
import { AttentionError, check } from '@attnkit/masking';
import { type KVCache, MultiHeadAttention } from '@attnkit/multi-head';
import type { Activation, Implementation } from '@attnkit/core';
import * as tf from '@tensorflow/tfjs';
import { Linear } from './linear.js';
import { LayerNorm } from './norm.js';

type Kwargs = Record<string, unknown>;
export type NamedWeight = { name: string; variable: tf.LayerVariable };

export interface TransformerBlockArgs {
  /** Model width d. Required. */
  dModel: number;
  /** Attention heads; must divide dModel. Required. */
  numHeads: number;
  /** Hidden width of the feed-forward network. Default 4·dModel. */
  ffDim?: number;
  /** Dropout on attention weights and on each residual branch, when training. Default 0.1. */
  dropout?: number;
  /** Feed-forward activation. Default 'relu'. */
  activation?: Activation;
  /** Pre-norm (`x + f(norm(x))`) when true, the paper's post-norm (`norm(x + f(x))`) when false. Default false. */
  normFirst?: boolean;
  /** Layer-norm epsilon. Default 1e-5. */
  layerNormEpsilon?: number;
  /** @attnkit/core implementation used by the attention layers. Default 'auto'. */
  implementation?: Implementation;
  /** Seed of the weight initializers (sublayer i uses seed + i), for reproducible training. Default: random. */
  seed?: number | null;
  name?: string;
}

type Resolved = Required<Omit<TransformerBlockArgs, 'name' | 'seed'>> & { seed: number | null };

function resolve(op: string, args: TransformerBlockArgs): Resolved {
  const { dModel, numHeads } = args ?? ({} as TransformerBlockArgs);
  check(Number.isInteger(dModel) && dModel > 0, () => AttentionError.value(op, 'dModel must be a positive integer', dModel));
  check(Number.isInteger(numHeads) && numHeads > 0 && dModel % numHeads === 0, () =>
    AttentionError.value(op, `numHeads must be a positive integer dividing dModel (${dModel})`, numHeads),
  );
  const r: Resolved = {
    dModel,
    numHeads,
    ffDim: args.ffDim ?? 4 * dModel,
    dropout: args.dropout ?? 0.1,
    activation: args.activation ?? 'relu',
    normFirst: args.normFirst ?? false,
    layerNormEpsilon: args.layerNormEpsilon ?? 1e-5,
    implementation: args.implementation ?? 'auto',
    seed: args.seed ?? null,
  };
  check(Number.isInteger(r.ffDim) && r.ffDim > 0, () => AttentionError.value(op, 'ffDim must be a positive integer', r.ffDim));
  check(r.dropout >= 0 && r.dropout < 1, () => AttentionError.value(op, 'dropout must be a number in [0, 1)', r.dropout));
  return r;
}

/** Names a built-in layer's weights in creation order. */
function named(prefix: string, layer: tf.layers.Layer, names: string[]): NamedWeight[] {
  return layer.weights.map((variable, i) => ({ name: `${prefix}/${names[i]}`, variable }));
}

/**
 * What encoder and decoder layers share: layer norms, the feed-forward network, residual
 * branches with dropout in pre- or post-norm order, and weight bookkeeping over sublayers.
 */
abstract class Block extends tf.layers.Layer {
  readonly config: Resolved;
  protected readonly ffIn: tf.layers.Layer;
  protected readonly ffOut: tf.layers.Layer;
  protected readonly ffNorm: tf.layers.Layer;

  constructor(op: string, args: TransformerBlockArgs) {
    const config = resolve(op, args);
    super(args.name !== undefined ? { name: args.name } : {});
    this.config = config;
    this.ffIn = new Linear({ units: config.ffDim, activation: config.activation, kernelInitializer: this.initializer(0) });
    this.ffOut = new Linear({ units: config.dModel, kernelInitializer: this.initializer(1) });
    this.ffNorm = this.norm();
  }

  protected norm(): tf.layers.Layer {
    return new LayerNorm({ epsilon: this.config.layerNormEpsilon });
  }

  /** Glorot-uniform, seeded with seed + `offset` when the layer has a seed. */
  protected initializer(offset: number) {
    const { seed } = this.config;
    return tf.initializers.glorotUniform(seed === null ? {} : { seed: seed + offset });
  }

  /** Arguments of this block's attention layers; `offset` picks their initializer seed. */
  protected attentionArgs(offset: number) {
    const { numHeads, dModel, dropout, implementation } = this.config;
    return { numHeads, keyDim: dModel / numHeads, dropout, implementation, kernelInitializer: this.initializer(offset) };
  }

  /** One residual branch: pre-norm x + drop(f(norm(x))), or post-norm norm(x + drop(f(x))). */
  protected residual(x: tf.Tensor, norm: tf.layers.Layer, f: (h: tf.Tensor) => tf.Tensor, training: boolean): tf.Tensor {
    const drop = (h: tf.Tensor) => (training && this.config.dropout > 0 ? tf.dropout(h, this.config.dropout) : h);
    if (this.config.normFirst) return tf.add(x, drop(f(norm.apply(x) as tf.Tensor)));
    return norm.apply(tf.add(x, drop(f(x)))) as tf.Tensor;
  }

  protected feedForward(x: tf.Tensor, training: boolean): tf.Tensor {
    return this.residual(x, this.ffNorm, (h) => this.ffOut.apply(this.ffIn.apply(h)) as tf.Tensor, training);
  }

  protected abstract sublayers(): tf.layers.Layer[];
  /** Weights with structural names relative to this layer (`self_attention/query/kernel`, `ffn_norm/gamma`, …). */
  abstract get namedWeights(): NamedWeight[];

  protected ffnWeights(): NamedWeight[] {
    return [
      ...named('ffn_intermediate', this.ffIn, ['kernel', 'bias']),
      ...named('ffn_output', this.ffOut, ['kernel', 'bias']),
      ...named('ffn_norm', this.ffNorm, ['gamma', 'beta']),
    ];
  }

  override get trainableWeights(): tf.LayerVariable[] {
    return this.trainable ? this.sublayers().flatMap((l) => l.trainableWeights) : [];
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    return this.sublayers().flatMap((l) => (this.trainable ? l.nonTrainableWeights : l.weights));
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...this.config, ...super.getConfig() };
  }

  /** Disposes every sublayer's weights. */
  override dispose() {
    let n = 0;
    for (const l of this.sublayers()) if (l.built) n += l.dispose().numDisposedVariables;
    if (this._refCount === null && this.built) this._refCount = 1;
    const { refCountAfterDispose } = super.dispose();
    return { refCountAfterDispose, numDisposedVariables: n };
  }

  protected override disposeWeights(): number {
    return 0;
  }
}

export interface EncoderCallOptions {
  /** Source padding mask [B, T], true = real token. Default: all real. */
  paddingMask?: tf.Tensor | null;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Return `[output, selfAttentionWeights [B, N, T, T]]`. Default false. */
  returnAttentionScores?: boolean;
}

/** Transformer encoder layer: self-attention and feed-forward, each a residual branch. [B, T, d] -> [B, T, d]. */
export class TransformerEncoderLayer extends Block {
  static className = 'TransformerEncoderLayer';
  readonly selfAttention: MultiHeadAttention;
  private readonly attentionNorm: tf.layers.Layer;

  constructor(args: TransformerBlockArgs) {
    super('TransformerEncoderLayer', args);
    this.selfAttention = new MultiHeadAttention(this.attentionArgs(2));
    this.attentionNorm = this.norm();
  }

  protected sublayers() {
    return [this.selfAttention, this.attentionNorm, this.ffIn, this.ffOut, this.ffNorm];
  }

  get namedWeights(): NamedWeight[] {
    return [
      ...this.selfAttention.namedWeights.map((w) => ({ ...w, name: `self_attention/${w.name}` })),
      ...named('attention_norm', this.attentionNorm, ['gamma', 'beta']),
      ...this.ffnWeights(),
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs = {}): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const { paddingMask = null, training = false, returnAttentionScores = false } = kwargs as EncoderCallOptions;
    checkInput('TransformerEncoderLayer', x, this.config.dModel);
    checkPadding('TransformerEncoderLayer', paddingMask, x);
    return tf.tidy(() => {
      let weights: tf.Tensor | null = null;
      const mask = paddingMask ? tf.expandDims(toBool(paddingMask), 1) : null; // [B, 1, T]
      const attend = (h: tf.Tensor) => {
        const r = this.selfAttention.apply(h, { value: h, attentionMask: mask, training, returnAttentionScores });
        if (Array.isArray(r)) weights = (r[1] as tf.Tensor | undefined) ?? null;
        return (Array.isArray(r) ? r[0] : r) as tf.Tensor;
      };
      const y = this.feedForward(this.residual(x, this.attentionNorm, attend, training), training);
      return weights ? [y, weights] : y;
    });
  }
}
tf.serialization.registerClass(TransformerEncoderLayer);

export interface DecoderCallOptions {
  /** Encoder output [B, Ts, d]. Required unless `memoryCache` is given. */
  memory?: tf.Tensor | null;
  /** Source padding mask [B, Ts], true = real token. Default: all real. */
  memoryMask?: tf.Tensor | null;
  /** The memory projected once by `crossAttention.projectMemory` (decoding). */
  memoryCache?: MemoryCache | null;
  /** This layer's self-attention cache (decoding); the causal mask aligns to it. */
  selfCache?: KVCache | null;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Return `[output, selfWeights [B, N, T, Tk], crossWeights [B, N, T, Ts]]`. Default false. */
  returnAttentionScores?: boolean;
}

/**
 * Transformer decoder layer: causal self-attention (with an optional KV cache), cross-attention
 * over the encoder memory, and feed-forward, each a residual branch. [B, T, d] -> [B, T, d].
 */
export class TransformerDecoderLayer extends Block {
  static className = 'TransformerDecoderLayer';
  readonly selfAttention: MultiHeadAttention;
  readonly crossAttention: CrossAttention;
  private readonly selfNorm: tf.layers.Layer;
  private readonly crossNorm: tf.layers.Layer;

  constructor(args: TransformerBlockArgs) {
    super('TransformerDecoderLayer', args);
    this.selfAttention = new MultiHeadAttention(this.attentionArgs(2));
    this.crossAttention = new CrossAttention(this.attentionArgs(3));
    this.selfNorm = this.norm();
    this.crossNorm = this.norm();
  }

  protected sublayers() {
    return [this.selfAttention, this.selfNorm, this.crossAttention, this.crossNorm, this.ffIn, this.ffOut, this.ffNorm];
  }

  get namedWeights(): NamedWeight[] {
    return [
      ...this.selfAttention.namedWeights.map((w) => ({ ...w, name: `self_attention/${w.name}` })),
      ...named('self_attention_norm', this.selfNorm, ['gamma', 'beta']),
      ...this.crossAttention.namedWeights.map((w) => ({ ...w, name: `cross_attention/${w.name}` })),
      ...named('cross_attention_norm', this.crossNorm, ['gamma', 'beta']),
      ...this.ffnWeights(),
    ];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs = {}): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const o = kwargs as DecoderCallOptions;
    const { memory = null, memoryMask = null, memoryCache = null, selfCache = null, training = false } = o;
    const scores = o.returnAttentionScores === true;
    checkInput('TransformerDecoderLayer', x, this.config.dModel);
    return tf.tidy(() => {
      const found: tf.Tensor[] = [];
      const pick = (r: tf.Tensor | tf.Tensor[]) => {
        if (Array.isArray(r)) found.push(r[1]!);
        return (Array.isArray(r) ? r[0] : r) as tf.Tensor;
      };
      const self = (h: tf.Tensor) =>
        pick(this.selfAttention.apply(h, { value: h, useCausalMask: true, cache: selfCache, training, returnAttentionScores: scores }) as tf.Tensor);
      const cross = (h: tf.Tensor) =>
        pick(
          this.crossAttention.apply(h, {
            ...(memoryCache ? { memoryCache } : { memory, memoryMask }),
            training,
            returnAttentionScores: scores,
          }) as tf.Tensor,
        );
      let y = this.residual(x, this.selfNorm, self, training);
      y = this.residual(y, this.crossNorm, cross, training);
      y = this.feedForward(y, training);
      return scores ? [y, ...found] : y;
    });
  }
}
tf.serialization.registerClass(TransformerDecoderLayer);

function toBool(mask: tf.Tensor): tf.Tensor {
  return mask.dtype === 'bool' ? mask : tf.notEqual(mask, 0);
}

function checkInput(op: string, x: unknown, dModel: number) {
  check(x instanceof tf.Tensor && x.rank === 3 && x.shape[2] === dModel, () =>
    AttentionError.shapes(op, `input must be [B, T, dModel=${dModel}]`, { input: x instanceof tf.Tensor ? x.shape : [] }),
  );
}

function checkPadding(op: string, mask: tf.Tensor | null, x: tf.Tensor) {
  if (mask == null) return;
  check(mask instanceof tf.Tensor && mask.rank === 2 && mask.shape[0] === x.shape[0] && mask.shape[1] === x.shape[1], () =>
    AttentionError.shapes(op, 'paddingMask must be [B, T] like the input', { input: x.shape, paddingMask: mask?.shape ?? [] }),
  );
}
