import { type Activation, type Implementation, dropout, softmaxCrossEntropy } from '@attnkit/core';
import type { MemoryCache } from '@attnkit/cross-attention';
import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import { KVCache, disposeSublayer } from '@attnkit/multi-head';
import { PositionEmbedding, sinusoidalEncoding } from '@attnkit/positional';
import * as tf from '@tensorflow/tfjs';
import { type DecoderCallOptions, type EncoderCallOptions, type NamedWeight, TransformerDecoderLayer, TransformerEncoderLayer } from './blocks.js';
import { TokenEmbedding } from './embedding.js';
import { Linear } from './linear.js';
import { LayerNorm } from './norm.js';
import { tidy } from './tidy.js';

const OP = 'Transformer';

export interface TransformerConfig {
  /** Source vocabulary size. Required. */
  sourceVocabSize: number;
  /** Target vocabulary size. Required (equal to the source's when embeddings are shared). */
  targetVocabSize: number;
  /** Model width. Default 512. */
  dModel?: number;
  /** Attention heads. Default 8. */
  numHeads?: number;
  /** Feed-forward width. Default 2048. */
  ffDim?: number;
  /** Encoder layers. Default 6. */
  numEncoderLayers?: number;
  /** Decoder layers. Default 6. */
  numDecoderLayers?: number;
  /** Dropout (attention weights, residual branches, embeddings), when training. Default 0.1. */
  dropout?: number;
  /** Feed-forward activation. Default 'relu'. */
  activation?: Activation;
  /** Pre-norm blocks (plus a final norm) when true; the paper's post-norm when false. Default false. */
  normFirst?: boolean;
  /** Position information added to the scaled embeddings. Default 'sinusoidal'. */
  positional?: 'sinusoidal' | 'learned';
  /** Longest sequence (learned positions need it). Default 512. */
  maxLength?: number;
  /** One embedding table for source and target (the vocabularies must be equal). Default false. */
  shareEmbeddings?: boolean;
  /** Output projection tied to the target embedding (logits = h·Eᵀ). Default true. */
  tieOutput?: boolean;
  /** Padding, begin- and end-of-sequence token ids. Defaults 0, 1, 2. */
  padId?: number;
  bosId?: number;
  eosId?: number;
  /** @attnkit/core implementation for every attention layer. Default 'auto'. */
  implementation?: Implementation;
  /** Seed of every weight initializer: the same seed gives the same initial model. Default: random. */
  seed?: number | null;
}

export type ResolvedConfig = Required<Omit<TransformerConfig, 'seed'>> & { seed: number | null };

/** The paper's base model (Vaswani et al. 2017): d 512, 8 heads, ff 2048, 6 + 6 layers, dropout 0.1. */
export const BASE_CONFIG = {
  dModel: 512,
  numHeads: 8,
  ffDim: 2048,
  numEncoderLayers: 6,
  numDecoderLayers: 6,
  dropout: 0.1,
} as const;

function resolveConfig(c: TransformerConfig): ResolvedConfig {
  const r: ResolvedConfig = {
    ...BASE_CONFIG,
    activation: 'relu',
    normFirst: false,
    positional: 'sinusoidal',
    maxLength: 512,
    shareEmbeddings: false,
    tieOutput: true,
    padId: 0,
    bosId: 1,
    eosId: 2,
    implementation: 'auto',
    seed: null,
    ...Object.fromEntries(Object.entries(c ?? {}).filter(([, v]) => v !== undefined)),
  } as ResolvedConfig;
  for (const k of ['sourceVocabSize', 'targetVocabSize', 'maxLength', 'numEncoderLayers', 'numDecoderLayers'] as const) {
    check(Number.isInteger(r[k]) && r[k] > 0, () => AttentionError.value(OP, `${k} must be a positive integer`, r[k]));
  }
  check(!r.shareEmbeddings || r.sourceVocabSize === r.targetVocabSize, () =>
    AttentionError.value(OP, 'shared embeddings need equal vocabularies', `${r.sourceVocabSize} and ${r.targetVocabSize}`),
  );
  for (const k of ['padId', 'bosId', 'eosId'] as const) {
    check(Number.isInteger(r[k]) && r[k] >= 0 && r[k] < r.targetVocabSize, () =>
      AttentionError.value(OP, `${k} must be a token id below targetVocabSize ${r.targetVocabSize}`, r[k]),
    );
  }
  return r;
}

/** What the decoder keeps between steps: a self-attention KV cache and a projected memory per layer. */
export interface DecoderState {
  selfCaches: KVCache[];
  memoryCaches: MemoryCache[];
}

export interface DecodeStepOutput {
  /** Logits [B, T, V]. */
  logits: tf.Tensor3D;
  /** Per layer: self weights [B, N, T, Tk] and cross weights [B, N, T, Ts], when asked for. */
  attention: Array<{ self: tf.Tensor4D; cross: tf.Tensor4D }> | null;
}

/**
 * Sequence-to-sequence Transformer ("Attention Is All You Need"): token embeddings scaled by
 * sqrt(d) plus positions, N encoder and N decoder layers from @attnkit/transformer, and an
 * output projection (tied to the target embedding by default). Train it with
 * {@link Transformer.loss} and any tf.train optimizer over {@link Transformer.trainableWeights};
 * decode with `greedyDecode` / `beamSearch` (decode.ts); save with `save` / `Transformer.load`.
 */
export class Transformer {
  readonly config: ResolvedConfig;
  readonly encoderLayers: TransformerEncoderLayer[];
  readonly decoderLayers: TransformerDecoderLayer[];
  private readonly sourceEmbedding: TokenEmbedding;
  private readonly targetEmbedding: TokenEmbedding;
  private readonly output: tf.layers.Layer | null;
  private readonly sourcePosition: PositionEmbedding | null;
  private readonly targetPosition: PositionEmbedding | null;
  private readonly encoderNorm: tf.layers.Layer | null;
  private readonly decoderNorm: tf.layers.Layer | null;
  private built = false;

  constructor(config: TransformerConfig) {
    const c = resolveConfig(config);
    this.config = c;
    const block = {
      dModel: c.dModel,
      numHeads: c.numHeads,
      ffDim: c.ffDim,
      dropout: c.dropout,
      activation: c.activation,
      normFirst: c.normFirst,
      implementation: c.implementation,
    };
    // Each sublayer seeds its initializers from its own range of 10 seeds.
    const seed = (i: number) => (c.seed === null ? null : c.seed + 10 * i);
    const layers = c.numEncoderLayers + c.numDecoderLayers;
    this.encoderLayers = Array.from({ length: c.numEncoderLayers }, (_, i) => new TransformerEncoderLayer({ ...block, seed: seed(i) }));
    this.decoderLayers = Array.from({ length: c.numDecoderLayers }, (_, i) => new TransformerDecoderLayer({ ...block, seed: seed(c.numEncoderLayers + i) }));
    this.sourceEmbedding = new TokenEmbedding({ vocabSize: c.sourceVocabSize, dModel: c.dModel, seed: seed(layers) });
    this.targetEmbedding = c.shareEmbeddings
      ? this.sourceEmbedding
      : new TokenEmbedding({ vocabSize: c.targetVocabSize, dModel: c.dModel, seed: seed(layers + 1) });
    const init = (i: number) => tf.initializers.glorotUniform(c.seed === null ? {} : { seed: seed(layers + i)! });
    this.output = c.tieOutput ? null : new Linear({ units: c.targetVocabSize, kernelInitializer: init(2) });
    const learned = (i: number) => new PositionEmbedding({ maxLength: c.maxLength, initializer: init(i) });
    this.sourcePosition = c.positional === 'learned' ? learned(3) : null;
    this.targetPosition = c.positional === 'learned' ? learned(4) : null;
    const norm = () => new LayerNorm({ epsilon: 1e-5 });
    this.encoderNorm = c.normFirst ? norm() : null;
    this.decoderNorm = c.normFirst ? norm() : null;
  }

  /** The paper's base configuration with the given vocabularies (and any overrides). */
  static base(config: TransformerConfig): Transformer {
    return new Transformer({ ...BASE_CONFIG, ...config });
  }

  /** Builds every weight with a one-token forward pass (weights are otherwise built lazily). */
  build(): this {
    if (this.built) return this;
    tf.tidy(() => {
      const one = tf.tensor2d([[this.config.bosId]], [1, 1], 'int32');
      const { memory, memoryMask } = this.encode(one);
      this.decode(one, { memory, memoryMask });
    });
    this.built = true;
    return this;
  }

  /** Embeds ids [B, T] at positions offset… : E[ids]·sqrt(d) + P, with dropout when training. */
  private embed(ids: tf.Tensor, table: TokenEmbedding, position: PositionEmbedding | null, offset: number, training: boolean) {
    const [, T] = ids.shape as [number, number];
    check(offset + T <= this.config.maxLength || this.config.positional === 'sinusoidal', () =>
      AttentionError.value(OP, `sequence would reach position ${offset + T}, past maxLength ${this.config.maxLength}`, offset + T),
    );
    const x = tf.mul(table.apply(ids) as tf.Tensor, Math.sqrt(this.config.dModel)); // [B, T, d]
    const p = position ? (position.apply(x, { offset }) as tf.Tensor) : sinusoidalEncoding(T, this.config.dModel, { offset }); // [B, T, d] or [T, d]
    const y = tf.add(x, p);
    return training && this.config.dropout > 0 ? dropout(y, this.config.dropout) : y;
  }

  /**
   * Source ids [B, Ts] -> memory [B, Ts, d] and its padding mask [B, Ts] (true = real token).
   * With `returnAttention: true` (default false), also each encoder layer's self-attention
   * weights [B, H, Ts, Ts] (padded keys get zero weight); the caller owns every returned tensor.
   */
  encode(
    source: tf.Tensor,
    options: { training?: boolean; returnAttention?: boolean } & Pick<EncoderCallOptions, 'attentionMask' | 'attentionBias'> = {},
  ): { memory: tf.Tensor3D; memoryMask: tf.Tensor2D; attention?: tf.Tensor4D[] } {
    checkIds('encode', 'source', source);
    const { training = false, returnAttention = false, attentionMask = null, attentionBias = null } = options;
    const { memory, memoryMask, attention } = tidy(() => {
      const mask = tf.notEqual(source, this.config.padId) as tf.Tensor2D; // [B, Ts]
      let h: tf.Tensor = this.embed(source, this.sourceEmbedding, this.sourcePosition, 0, training);
      const weights: tf.Tensor4D[] = [];
      for (const layer of this.encoderLayers) {
        const { y, self } = layer.forward(h, { paddingMask: mask, attentionMask, attentionBias, training, returnAttentionScores: returnAttention });
        h = y;
        if (self) weights.push(self); // [B, H, Ts, Ts]
      }
      if (this.encoderNorm) h = this.encoderNorm.apply(h) as tf.Tensor;
      return { memory: h as tf.Tensor3D, memoryMask: mask, attention: weights };
    });
    return returnAttention ? { memory, memoryMask, attention } : { memory, memoryMask };
  }

  /**
   * Target ids [B, T] (positions `offset`…) -> logits [B, T, V], attending to the memory (or to
   * the projected memory in `state`) and, with `state`, to the cached earlier positions.
   * Self- and cross-attention masks and biases go to every decoder layer as they are
   * (shapes in {@link DecoderCallOptions}); the self-attention stays causal.
   */
  decode(
    target: tf.Tensor,
    options: {
      memory?: tf.Tensor | null;
      memoryMask?: tf.Tensor | null;
      state?: DecoderState | null;
      training?: boolean;
      returnAttention?: boolean;
    } & Pick<DecoderCallOptions, 'selfAttentionMask' | 'selfAttentionBias' | 'crossAttentionMask' | 'crossAttentionBias'>,
  ): DecodeStepOutput {
    checkIds('decode', 'target', target);
    const { memory = null, memoryMask = null, state = null, training = false, returnAttention = false } = options;
    const { selfAttentionMask, selfAttentionBias, crossAttentionMask, crossAttentionBias } = options;
    const masks = { selfAttentionMask, selfAttentionBias, crossAttentionMask, crossAttentionBias };
    check((memory == null) !== (state == null), () =>
      AttentionError.value(`${OP}.decode`, 'pass exactly one of memory and state', memory == null ? 'neither' : 'both'),
    );
    return tidy((): DecodeStepOutput => {
      const { h, attention } = this.decoderStates(target, { memory, memoryMask, state, training, returnAttention, ...masks });
      const logits = (this.output ? this.output.apply(h) : this.targetEmbedding.logits(h)) as tf.Tensor3D; // [B, T, V]
      return { logits, attention: returnAttention ? attention : null };
    });
  }

  /** The decoder stack's output h [B, T, d] before the output projection, and each layer's attention when asked. */
  private decoderStates(
    target: tf.Tensor,
    options: {
      memory: tf.Tensor | null;
      memoryMask: tf.Tensor | null;
      state: DecoderState | null;
      training: boolean;
      returnAttention: boolean;
    } & Pick<DecoderCallOptions, 'selfAttentionMask' | 'selfAttentionBias' | 'crossAttentionMask' | 'crossAttentionBias'>,
  ): { h: tf.Tensor; attention: Array<{ self: tf.Tensor4D; cross: tf.Tensor4D }> } {
    const { memory, memoryMask, state, training, returnAttention } = options;
    const { selfAttentionMask = null, selfAttentionBias = null, crossAttentionMask = null, crossAttentionBias = null } = options;
    const offset = state ? state.selfCaches[0]!.length : 0;
    return tidy(() => {
      let h: tf.Tensor = this.embed(target, this.targetEmbedding, this.targetPosition, offset, training);
      const attention: Array<{ self: tf.Tensor4D; cross: tf.Tensor4D }> = [];
      this.decoderLayers.forEach((layer, i) => {
        const { y, self, cross } = layer.forward(h, {
          ...(state ? { memoryCache: state.memoryCaches[i], selfCache: state.selfCaches[i] } : { memory, memoryMask }),
          selfAttentionMask,
          selfAttentionBias,
          crossAttentionMask,
          crossAttentionBias,
          training,
          returnAttentionScores: returnAttention,
        });
        h = y;
        if (self && cross) attention.push({ self, cross }); // [B, N, T, Tk], [B, N, T, Ts]
      });
      if (this.decoderNorm) h = this.decoderNorm.apply(h) as tf.Tensor;
      return { h, attention };
    });
  }

  /** Teacher-forced logits [B, Tt, V] for source [B, Ts] and decoder input [B, Tt]. */
  logits(source: tf.Tensor, targetIn: tf.Tensor, options: { training?: boolean } = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const { memory, memoryMask } = this.encode(source, options);
      return this.decode(targetIn, { memory, memoryMask, ...options }).logits;
    });
  }

  /**
   * Mean cross-entropy over the non-padding positions of `targetOut` [B, Tt], with label
   * smoothing ε spread uniformly over the vocabulary. Default ε = 0.1, training true.
   */
  loss(source: tf.Tensor, targetIn: tf.Tensor, targetOut: tf.Tensor, options: { labelSmoothing?: number; training?: boolean } = {}): tf.Scalar {
    const { labelSmoothing = 0.1, training = true } = options;
    check(labelSmoothing >= 0 && labelSmoothing < 1, () => AttentionError.value(`${OP}.loss`, 'labelSmoothing must be in [0, 1)', labelSmoothing));
    check(targetOut instanceof tf.Tensor && targetIn instanceof tf.Tensor && targetOut.shape.join() === targetIn.shape.join(), () =>
      AttentionError.shapes(`${OP}.loss`, 'targetIn and targetOut must have the same shape [B, Tt]', {
        targetIn: targetIn?.shape ?? [],
        targetOut: targetOut?.shape ?? [],
      }),
    );
    checkIds('loss', 'targetIn', targetIn);
    return tf.tidy(() => {
      const { memory, memoryMask } = this.encode(source, { training });
      const { h } = this.decoderStates(targetIn, { memory, memoryMask, state: null, training, returnAttention: false }); // [B, Tt, d]
      const labels = tf.cast(targetOut, 'int32');
      // tied: the projection and the cross-entropy as one op (the [B·Tt, V] logits may never reach tfjs)
      const perToken = this.output
        ? softmaxCrossEntropy(this.output.apply(h) as tf.Tensor, labels, { labelSmoothing })
        : this.targetEmbedding.crossEntropy(h, labels, { labelSmoothing }); // [B, Tt]
      const real = tf.cast(tf.notEqual(targetOut, this.config.padId), 'float32'); // [B, Tt]
      return tf.div(tf.sum(tf.mul(perToken, real)), tf.maximum(tf.sum(real), 1)) as tf.Scalar;
    });
  }

  /** Fresh decoder state for a memory: an empty KV cache and the memory projected once, per layer. */
  startDecoding(memory: tf.Tensor, memoryMask: tf.Tensor | null): DecoderState {
    this.build();
    return {
      selfCaches: this.decoderLayers.map(() => new KVCache()),
      memoryCaches: this.decoderLayers.map((l) => l.crossAttention.projectMemory(memory, memoryMask)),
    };
  }

  /** The trainable tf.Variables, for `optimizer.minimize(() => model.loss(...), true, model.variables())`. */
  variables(): tf.Variable[] {
    return this.namedWeights().map((w) => w.variable.read() as tf.Variable);
  }

  /** Every weight once, with structural names (`encoder/0/self_attention/query/kernel`, …). */
  namedWeights(): NamedWeight[] {
    this.build();
    const prefix = (p: string, ws: NamedWeight[]) => ws.map((w) => ({ ...w, name: `${p}/${w.name}` }));
    const single = (name: string, l: tf.layers.Layer | null, names: string[]) =>
      l ? l.weights.map((variable, i) => ({ name: `${name}/${names[i]}`, variable })) : [];
    return [
      ...single('source_embedding', this.sourceEmbedding, ['embeddings']),
      ...(this.config.shareEmbeddings ? [] : single('target_embedding', this.targetEmbedding, ['embeddings'])),
      ...single('source_position', this.sourcePosition, ['embeddings']),
      ...single('target_position', this.targetPosition, ['embeddings']),
      ...this.encoderLayers.flatMap((l, i) => prefix(`encoder/${i}`, l.namedWeights)),
      ...single('encoder_norm', this.encoderNorm, ['gamma', 'beta']),
      ...this.decoderLayers.flatMap((l, i) => prefix(`decoder/${i}`, l.namedWeights)),
      ...single('decoder_norm', this.decoderNorm, ['gamma', 'beta']),
      ...single('output', this.output, ['kernel', 'bias']),
    ];
  }

  /** Number of parameters. */
  countParams(): number {
    return this.namedWeights().reduce((n, w) => n + (w.variable.shape as number[]).reduce((a, b) => a * b, 1), 0);
  }

  /** Saves config and weights through any tf.io handler (memory, browser storage, a custom file handler). */
  async save(handler: tf.io.IOHandler): Promise<tf.io.SaveResult> {
    check(typeof handler?.save === 'function', () => AttentionError.value(`${OP}.save`, 'handler must have a save() method', typeof handler));
    const named = Object.fromEntries(this.namedWeights().map((w) => [w.name, w.variable.read()]));
    const { data, specs } = await tf.io.encodeWeights(named);
    return handler.save({
      modelTopology: { attnkitTransformer: this.config } as unknown as tf.io.ModelJSON,
      weightSpecs: specs,
      weightData: data,
      format: 'attnkit-transformer',
    });
  }

  /** Loads a model saved with {@link save}; every weight must be present with its shape. */
  static async load(handler: tf.io.IOHandler): Promise<Transformer> {
    check(typeof handler?.load === 'function', () => AttentionError.value(`${OP}.load`, 'handler must have a load() method', typeof handler));
    const artifacts = await handler.load();
    const config = (artifacts.modelTopology as { attnkitTransformer?: TransformerConfig } | undefined)?.attnkitTransformer;
    check(config !== undefined && artifacts.weightSpecs !== undefined && artifacts.weightData !== undefined, () =>
      AttentionError.value(`${OP}.load`, 'artifacts must hold an attnkit Transformer config, weightSpecs and weightData', artifacts.format ?? 'unknown format'),
    );
    const model = new Transformer(config);
    const tensors = tf.io.decodeWeights(artifacts.weightData!, artifacts.weightSpecs!);
    try {
      for (const { name, variable } of model.namedWeights()) {
        const t = tensors[name];
        check(t !== undefined && t.shape.join() === variable.shape.join(), () =>
          AttentionError.shapes(`${OP}.load`, `weight ${name} is missing or has the wrong shape`, {
            expected: variable.shape as number[],
            found: t?.shape ?? [],
          }),
        );
        variable.write(t);
      }
    } finally {
      tf.dispose(Object.values(tensors));
    }
    return model;
  }

  /** Disposes every weight, also of layers built by encode/decode without {@link build}; the model cannot be used afterwards. */
  dispose(): void {
    const layers = new Set<tf.layers.Layer>([
      ...this.encoderLayers,
      ...this.decoderLayers,
      this.sourceEmbedding,
      this.targetEmbedding,
      ...[this.output, this.sourcePosition, this.targetPosition, this.encoderNorm, this.decoderNorm].filter((l): l is tf.layers.Layer => l !== null),
    ]);
    for (const layer of layers) disposeSublayer(layer);
  }
}

function checkIds(op: string, name: string, ids: unknown) {
  check(ids instanceof tf.Tensor && ids.rank === 2 && ids.dtype === 'int32' && ids.size > 0, () =>
    AttentionError.shapes(`${OP}.${op}`, `${name} must be non-empty int32 token ids [B, T]`, { [name]: ids instanceof tf.Tensor ? ids.shape : [] }),
  );
}
