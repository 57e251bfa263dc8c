import { CrossAttention, type MemoryCache } from '@attnkit/cross-attention';
import { AttentionError } from '@attnkit/masking';
import { REGISTRATION_PREFIX, andKeyPaddingMask, check, defaultLayerName, registerAttnkitClass, toBoolMask } from '@attnkit/masking/internal';
import { type KVCache, MultiHeadAttention, type MultiHeadAttentionArgs, buildSublayer, disposeSublayer, withNameScope } from '@attnkit/multi-head';
import { countBuiltLayer } from '@attnkit/multi-head/internal';
import { type Activation, type Implementation, dropout } from '@attnkit/core';
import * as tf from '@tensorflow/tfjs';
import { Linear } from './linear.js';
import { tidy } from './tidy.js';
import { LayerNorm } from './norm.js';

type Kwargs = Record<string, unknown>;
export type NamedWeight = { name: string; variable: tf.LayerVariable };

/** What an encoder layer's {@link TransformerEncoderLayer.forward} returns: y [B, T, d], and the self-attention weights [B, N, T, T] when asked for. */
export interface EncoderLayerOutput {
  y: tf.Tensor3D;
  self?: tf.Tensor4D;
}

/** What a decoder layer's {@link TransformerDecoderLayer.forward} returns: y [B, T, d], and when asked for the self [B, N, T, Tk] and cross [B, N, T, Ts] weights. */
export interface DecoderLayerOutput {
  y: tf.Tensor3D;
  self?: tf.Tensor4D;
  cross?: tf.Tensor4D;
}

/** One residual branch's output, and the weights of the attention inside it (null for the feed-forward, or when not asked for). */
interface Branch {
  output: tf.Tensor;
  weights: tf.Tensor4D | null;
}

/** An attention sublayer's `apply()` result as a branch: `[output, weights]` when scores were asked for, else the output. */
function attended(r: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[]): Branch {
  return Array.isArray(r) ? { output: r[0] as tf.Tensor, weights: r[1] as tf.Tensor4D } : { output: r as tf.Tensor, weights: null };
}

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
  trainable?: boolean;
}

type Resolved = Required<Omit<TransformerBlockArgs, 'name' | 'seed' | 'trainable'>> & { seed: number | null };

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

/** [B, T, d] of a single shape or the first of a list. */
function firstShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
  return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tf.Shape;
}

/**
 * What encoder and decoder layers share: layer norms, the feed-forward network, residual
 * branches with dropout in pre- or post-norm order, and weight bookkeeping over sublayers.
 *
 * Keras' rule for a layer made of layers: the sublayers are created in the constructor, named
 * by role (`self_attention`, `ffn_intermediate`, …), and built in {@link build} from the input
 * shapes, so that `tf.model`'s `compile()` and `save()` see every weight before any call and the
 * saved names (`encoder/self_attention/query/kernel`) are the same in every process.
 */
abstract class Block extends tf.layers.Layer {
  readonly config: Resolved;
  protected readonly ffIn: tf.layers.Layer;
  protected readonly ffOut: tf.layers.Layer;
  protected readonly ffNorm: tf.layers.Layer;
  /** True while our own apply() runs: tfjs' name scope already ends in this layer's name. */
  protected applying = false;

  constructor(op: string, args: TransformerBlockArgs) {
    const config = resolve(op, args);
    super({
      name: defaultLayerName(args.name, op.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase()),
      ...(args.trainable !== undefined ? { trainable: args.trainable } : {}),
    });
    this.config = config;
    this.ffIn = new Linear({ units: config.ffDim, activation: config.activation, kernelInitializer: this.initializer(0), name: 'ffn_intermediate' });
    this.ffOut = new Linear({ units: config.dModel, kernelInitializer: this.initializer(1), name: 'ffn_output' });
    this.ffNorm = this.norm('ffn_norm');
  }

  protected norm(name: string): tf.layers.Layer {
    return new LayerNorm({ epsilon: this.config.layerNormEpsilon, name });
  }

  /** Glorot-uniform, seeded with seed + `offset` when the layer has a seed. */
  protected initializer(offset: number): ReturnType<typeof tf.initializers.glorotUniform> {
    const { seed } = this.config;
    return tf.initializers.glorotUniform(seed === null ? {} : { seed: seed + offset });
  }

  /** Arguments of this block's attention layers; `offset` picks their initializer seed. */
  protected attentionArgs(offset: number, name: string): MultiHeadAttentionArgs {
    const { numHeads, dModel, dropout, implementation } = this.config;
    return { numHeads, keyDim: dModel / numHeads, dropout, implementation, kernelInitializer: this.initializer(offset), name };
  }

  /** Builds every sublayer from the input shape(s), under this layer's name. */
  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const create = () => this.buildSublayers(inputShape);
    if (this.applying) create();
    else withNameScope(this.name, create);
    this.built = true;
  }

  /** Builds the attention sublayers and norms; {@link buildFeedForward} builds the rest. */
  protected abstract buildSublayers(inputShape: tf.Shape | tf.Shape[]): void;

  protected buildFeedForward(x: tf.Shape) {
    buildSublayer(this.ffIn, x);
    buildSublayer(this.ffOut, [...x.slice(0, -1), this.config.ffDim]);
    buildSublayer(this.ffNorm, x);
  }

  /** Runs tfjs' apply with our name-scope flag set; symbolic calls take only `training`. */
  override apply(
    inputs: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[],
    options: EncoderCallOptions | DecoderCallOptions = {},
  ): tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[] {
    const kwargs = options as Kwargs;
    const first = Array.isArray(inputs) ? inputs[0] : inputs;
    if (first instanceof tf.SymbolicTensor) {
      const extra = Object.keys(kwargs).filter((k) => k !== 'training' && kwargs[k] != null && kwargs[k] !== false);
      check(extra.length === 0, () =>
        AttentionError.value(
          this.getClassName().replace(REGISTRATION_PREFIX, ''),
          'inside tf.model only training may be an apply() option (pass masks and memory as inputs)',
          extra.join(', '),
        ),
      );
    }
    this.applying = true;
    try {
      const prebuild = this.prebuildShapes(inputs, kwargs);
      if (!this.built && prebuild) {
        // build from every input (tfjs would build from the list of inputs only), inside our scope
        return withNameScope(this.name, () => {
          this.build(prebuild);
          // biome-ignore lint/suspicious/noExplicitAny: tfjs' apply() is typed for all-tensor or all-symbolic lists
          return super.apply(inputs as any, kwargs);
        });
      }
      // biome-ignore lint/suspicious/noExplicitAny: tfjs' apply() is typed for all-tensor or all-symbolic lists
      return super.apply(inputs as any, kwargs);
    } finally {
      this.applying = false;
    }
  }

  /** Shapes to build from on an eager first call whose tensors come partly as options; null: tfjs' own. */
  protected prebuildShapes(_inputs: unknown, _kwargs: Kwargs): tf.Shape[] | null {
    return null;
  }

  /**
   * One residual branch: pre-norm x + drop(f(norm(x))), or post-norm norm(x + drop(f(x))); the
   * weights of an attention `f` pass through as they are.
   */
  protected residual(x: tf.Tensor, norm: tf.layers.Layer, f: (h: tf.Tensor) => Branch, training: boolean): Branch {
    const drop = (h: tf.Tensor) => (training && this.config.dropout > 0 ? dropout(h, this.config.dropout) : h);
    const branch = f(this.config.normFirst ? (norm.apply(x) as tf.Tensor) : x);
    const y = tf.add(x, drop(branch.output));
    return { output: this.config.normFirst ? y : (norm.apply(y) as tf.Tensor), weights: branch.weights };
  }

  protected feedForward(x: tf.Tensor, training: boolean): tf.Tensor3D {
    return this.residual(x, this.ffNorm, (h) => ({ output: this.ffOut.apply(this.ffIn.apply(h)) as tf.Tensor, weights: null }), training).output as tf.Tensor3D;
  }

  /** Builds the weights when {@link forward} is called before any apply() (the stacks and the seq2seq model call it directly). */
  protected ensureBuilt(inputShape: tf.Shape | tf.Shape[]): void {
    if (!this.built) this.build(inputShape);
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
    return firstShape(inputShape);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...this.config, ...super.getConfig() };
  }

  /** Disposes every sublayer's weights (also for a layer built but never called). */
  override dispose(): ReturnType<tf.layers.Layer['dispose']> {
    countBuiltLayer(this);
    return super.dispose();
  }

  protected override disposeWeights(): number {
    return this.sublayers().reduce((n, l) => n + disposeSublayer(l), 0);
  }
}

export interface EncoderCallOptions {
  /** Source padding mask [B, T], true = real token: PyTorch's `src_key_padding_mask` inverted. Default: all real. */
  paddingMask?: tf.Tensor | null;
  /**
   * Self-attention mask, bool (true = attend), [T, T] / [B, T, T] or per head [B, N, T, T]:
   * PyTorch's `src_mask` (see `fromTorchTransformerMasks`). Default none.
   */
  attentionMask?: tf.Tensor | null;
  /** Additive float32 self-attention bias, shaped like `attentionMask` (a float `src_mask`). Default none. */
  attentionBias?: tf.Tensor | null;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Return `[output, selfAttentionWeights [B, N, T, T]]`. Default false. */
  returnAttentionScores?: boolean;
}

/**
 * Transformer encoder layer: self-attention and feed-forward, each a residual branch. [B, T, d] -> [B, T, d].
 * Inside a `tf.model`: `apply(x)` or `apply([x, paddingMask])` ([B, T, d], [B, T] with 1 = real token).
 */
export class TransformerEncoderLayer extends Block {
  static className = 'attnkit>TransformerEncoderLayer';
  readonly selfAttention: MultiHeadAttention;
  private readonly attentionNorm: tf.layers.Layer;

  constructor(args: TransformerBlockArgs) {
    super('TransformerEncoderLayer', args);
    this.selfAttention = new MultiHeadAttention(this.attentionArgs(2, 'self_attention'));
    this.attentionNorm = this.norm('attention_norm');
  }

  protected buildSublayers(inputShape: tf.Shape | tf.Shape[]) {
    const x = firstShape(inputShape);
    checkShape('TransformerEncoderLayer', x, this.config.dModel);
    if (!this.selfAttention.built) {
      this.selfAttention.build([x, x]);
      this.selfAttention.built = true;
    }
    buildSublayer(this.attentionNorm, x);
    this.buildFeedForward(x);
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

  override apply(inputs: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[], options: EncoderCallOptions = {}) {
    return super.apply(inputs, options);
  }

  /** tfjs' entry: `x` or `[x, paddingMask]` (inside a tf.model), through {@link forward}. Returns y, or `[y, selfWeights]` when `returnAttentionScores`. */
  override call(inputs: tf.Tensor | tf.Tensor[], o: EncoderCallOptions = {}): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? inputs[0]! : inputs;
    const paddingMask = (Array.isArray(inputs) ? inputs[1] : undefined) ?? o.paddingMask ?? null;
    const { y, self } = this.forward(x, { ...o, paddingMask });
    return self ? [y, self] : y;
  }

  /**
   * @internal The typed forward pass that {@link call}, the encoder stack and the seq2seq model
   * share: x [B, T, d] -> y [B, T, d], and the self-attention weights [B, N, T, T] when
   * `returnAttentionScores`. Builds the layer on first use.
   */
  forward(x: tf.Tensor, o: EncoderCallOptions = {}): EncoderLayerOutput {
    const { paddingMask = null, attentionMask = null, attentionBias = null, training = false, returnAttentionScores = false } = o;
    checkInput('TransformerEncoderLayer', x, this.config.dModel);
    checkPadding('TransformerEncoderLayer', 'paddingMask', paddingMask, x.shape[0]!, x.shape[1]!);
    this.ensureBuilt(x.shape);
    return tidy(() => {
      const mask = andKeyPaddingMask(paddingMask ? tf.expandDims(toBoolMask(paddingMask), 1) : null, attentionMask); // [B, 1, T] & mask
      const attend = (h: tf.Tensor) => attended(this.selfAttention.apply(h, { value: h, attentionMask: mask, attentionBias, training, returnAttentionScores }));
      const { output: h, weights } = this.residual(x, this.attentionNorm, attend, training);
      const y = this.feedForward(h, training);
      return weights ? { y, self: weights } : { y };
    });
  }
}
registerAttnkitClass(TransformerEncoderLayer, 'TransformerEncoderLayer');

export interface DecoderCallOptions {
  /** Encoder output [B, Ts, d]. Required unless `memoryCache` is given (or the memory is the second input). */
  memory?: tf.Tensor | null;
  /** Source padding mask [B, Ts], true = real token: PyTorch's `memory_key_padding_mask` inverted. Default: all real. */
  memoryMask?: tf.Tensor | null;
  /** The memory projected once by `crossAttention.projectMemory` (decoding). */
  memoryCache?: MemoryCache | null;
  /** This layer's self-attention cache (decoding); the causal mask aligns to it. */
  selfCache?: KVCache | null;
  /**
   * Causal self-attention (bottom-right aligned with a cache), ANDed with `selfAttentionMask`.
   * PyTorch applies no causal mask unless `tgt_mask` says so. Default true.
   */
  useCausalMask?: boolean;
  /** Target padding mask over the self-attention keys [B, Tk] (cached + new), true = real: `tgt_key_padding_mask` inverted. Default: all real. */
  paddingMask?: tf.Tensor | null;
  /** Self-attention mask, bool (true = attend), [T, Tk] / [B, T, Tk] / [B, N, T, Tk]: PyTorch's `tgt_mask`. Default none. */
  selfAttentionMask?: tf.Tensor | null;
  /** Additive float32 self-attention bias, shaped like `selfAttentionMask`. Default none. */
  selfAttentionBias?: tf.Tensor | null;
  /** Cross-attention mask, bool (true = attend), [T, Ts] / [B, T, Ts] / [B, N, T, Ts]: PyTorch's `memory_mask`. Default none. */
  crossAttentionMask?: tf.Tensor | null;
  /** Additive float32 cross-attention bias, shaped like `crossAttentionMask`. Default none. */
  crossAttentionBias?: tf.Tensor | null;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Return `[output, selfWeights [B, N, T, Tk], crossWeights [B, N, T, Ts]]`. Default false. */
  returnAttentionScores?: boolean;
}

/**
 * Transformer decoder layer: causal self-attention (with an optional KV cache), cross-attention
 * over the encoder memory, and feed-forward, each a residual branch. [B, T, d] -> [B, T, d].
 * Inside a `tf.model`: `apply([x, memory])` or `apply([x, memory, memoryMask])`.
 */
export class TransformerDecoderLayer extends Block {
  static className = 'attnkit>TransformerDecoderLayer';
  readonly selfAttention: MultiHeadAttention;
  readonly crossAttention: CrossAttention;
  private readonly selfNorm: tf.layers.Layer;
  private readonly crossNorm: tf.layers.Layer;

  constructor(args: TransformerBlockArgs) {
    super('TransformerDecoderLayer', args);
    this.selfAttention = new MultiHeadAttention(this.attentionArgs(2, 'self_attention'));
    this.crossAttention = new CrossAttention(this.attentionArgs(3, 'cross_attention'));
    this.selfNorm = this.norm('self_attention_norm');
    this.crossNorm = this.norm('cross_attention_norm');
  }

  /** [x] or [x, memory(, memoryMask)]; the memory width defaults to dModel. */
  protected buildSublayers(inputShape: tf.Shape | tf.Shape[]) {
    const x = firstShape(inputShape);
    const memory = Array.isArray(inputShape[0]) && inputShape.length > 1 ? (inputShape[1] as tf.Shape) : [null, null, this.config.dModel];
    checkShape('TransformerDecoderLayer', x, this.config.dModel);
    if (!this.selfAttention.built) {
      this.selfAttention.build([x, x]);
      this.selfAttention.built = true;
    }
    buildSublayer(this.selfNorm, x);
    if (!this.crossAttention.built) this.crossAttention.build([x, memory]);
    buildSublayer(this.crossNorm, x);
    this.buildFeedForward(x);
  }

  protected override prebuildShapes(inputs: unknown, kwargs: Kwargs): tf.Shape[] | null {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const memory = kwargs.memory;
    return x instanceof tf.Tensor && x.rank === 3 && memory instanceof tf.Tensor && memory.rank === 3 ? [x.shape, memory.shape] : null;
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

  override apply(inputs: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[], options: DecoderCallOptions = {}) {
    return super.apply(inputs, options);
  }

  /** tfjs' entry: `x` or `[x, memory(, memoryMask)]` (inside a tf.model), through {@link forward}. Returns y, or `[y, selfWeights, crossWeights]` when `returnAttentionScores`. */
  override call(inputs: tf.Tensor | tf.Tensor[], o: DecoderCallOptions = {}): tf.Tensor | tf.Tensor[] {
    const list = Array.isArray(inputs) ? inputs : [inputs];
    const memory = list[1] ?? o.memory ?? null;
    const memoryMask = list[2] ?? o.memoryMask ?? null;
    const { y, self, cross } = this.forward(list[0]!, { ...o, memory, memoryMask });
    return self && cross ? [y, self, cross] : y;
  }

  /**
   * @internal The typed forward pass that {@link call}, the decoder stack and the seq2seq
   * model's decoding share: x [B, T, d] -> y [B, T, d], and when `returnAttentionScores` the
   * self [B, N, T, Tk] and cross [B, N, T, Ts] weights. Builds the layer on first use.
   */
  forward(x: tf.Tensor, o: DecoderCallOptions = {}): DecoderLayerOutput {
    const { memory = null, memoryMask = null, memoryCache = null, selfCache = null, training = false, useCausalMask = true, paddingMask = null } = o;
    const { selfAttentionMask = null, selfAttentionBias = null, crossAttentionMask = null, crossAttentionBias = null } = o;
    const returnAttentionScores = o.returnAttentionScores === true;
    checkInput('TransformerDecoderLayer', x, this.config.dModel);
    check(typeof useCausalMask === 'boolean', () => AttentionError.value('TransformerDecoderLayer', 'useCausalMask must be a boolean', useCausalMask));
    checkPadding('TransformerDecoderLayer', 'paddingMask', paddingMask, x.shape[0]!, (selfCache?.length ?? 0) + x.shape[1]!);
    this.ensureBuilt(memory instanceof tf.Tensor && memory.rank === 3 ? [x.shape, memory.shape] : x.shape);
    return tidy(() => {
      const selfMask = andKeyPaddingMask(paddingMask ? tf.expandDims(toBoolMask(paddingMask), 1) : null, selfAttentionMask); // [B, 1, Tk] & mask
      const attendSelf = (h: tf.Tensor) =>
        attended(
          this.selfAttention.apply(h, {
            value: h,
            useCausalMask,
            attentionMask: selfMask,
            attentionBias: selfAttentionBias,
            cache: selfCache,
            training,
            returnAttentionScores,
          }),
        );
      const attendMemory = (h: tf.Tensor) =>
        attended(
          this.crossAttention.apply(h, {
            ...(memoryCache ? { memoryCache } : { memory, memoryMask }),
            attentionMask: crossAttentionMask,
            attentionBias: crossAttentionBias,
            training,
            returnAttentionScores,
          }),
        );
      const self = this.residual(x, this.selfNorm, attendSelf, training);
      const cross = this.residual(self.output, this.crossNorm, attendMemory, training);
      const y = this.feedForward(cross.output, training);
      return self.weights && cross.weights ? { y, self: self.weights, cross: cross.weights } : { y };
    });
  }
}
registerAttnkitClass(TransformerDecoderLayer, 'TransformerDecoderLayer');

function checkShape(op: string, x: tf.Shape, dModel: number) {
  check(x.length === 3 && (x[2] === dModel || x[2] == null), () =>
    AttentionError.shapes(op, `input must be [B, T, dModel=${dModel}]`, { input: x.map((d) => (d == null ? -1 : d)) }),
  );
}

function checkInput(op: string, x: unknown, dModel: number) {
  check(x instanceof tf.Tensor && x.rank === 3 && x.shape[2] === dModel, () =>
    AttentionError.shapes(op, `input must be [B, T, dModel=${dModel}]`, { input: x instanceof tf.Tensor ? x.shape : [] }),
  );
}

function checkPadding(op: string, name: string, mask: tf.Tensor | null, B: number, T: number) {
  if (mask == null) return;
  check(mask instanceof tf.Tensor && mask.rank === 2 && mask.shape[0] === B && mask.shape[1] === T, () =>
    AttentionError.shapes(op, `${name} must be [B, Tk] = [${B},${T}]`, { [name]: mask instanceof tf.Tensor ? mask.shape : [] }),
  );
}
