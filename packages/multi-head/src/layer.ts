import { type Implementation, IMPLEMENTATIONS, attentionWithWeights, dense, scaledDotProductAttention } from '@attnkit/core';
import { AttentionError, broadcastShapes, check, formatShape } from '@attnkit/masking';
import * as tf from '@tensorflow/tfjs';
import { type CachedKV, KVCache } from './cache.js';
import {
  type Constraint,
  type Identifier,
  type Initializer,
  type Regularizer,
  pythonicToTs,
  resolveConstraint,
  resolveInitializer,
  resolveRegularizer,
  serialize,
} from './config.js';
import type { PositionHook } from './hook.js';
import { defaultLayerName, registerAttnkitClass } from './register.js';

const OP = 'MultiHeadAttention';

type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
type Kwargs = Record<string, unknown>;
type AnyTensor = tf.Tensor | tf.SymbolicTensor;

export interface MultiHeadAttentionArgs extends LayerArgs {
  /** Number of query heads N. Required. */
  numHeads: number;
  /** Size of each query and key head H. Required. */
  keyDim: number;
  /** Size of each value head Hv. Default `keyDim`. */
  valueDim?: number | null;
  /**
   * Number of key/value heads for grouped-query attention; must divide `numHeads`. `1` is
   * multi-query attention. Default `numHeads` (plain multi-head attention).
   */
  numKeyValueHeads?: number | null;
  /** Dropout rate on the attention weights, applied only when `training`. Default 0. */
  dropout?: number;
  /** Whether the four projections have biases. Default true. */
  useBias?: boolean;
  /** Output feature shape (a number or a list of dims). Default: the query's last dim. */
  outputShape?: number | number[] | null;
  /** Default `'glorotUniform'`. Keras names (`'glorot_uniform'`) and serialized configs are accepted. */
  kernelInitializer?: Identifier<Initializer>;
  /** Default `'zeros'`. */
  biasInitializer?: Identifier<Initializer>;
  /** Default none. */
  kernelRegularizer?: Identifier<Regularizer> | null;
  /** Default none. */
  biasRegularizer?: Identifier<Regularizer> | null;
  /** Default none. */
  kernelConstraint?: Identifier<Constraint> | null;
  /** Default none. */
  biasConstraint?: Identifier<Constraint> | null;
  /** Passed to @attnkit/core's attention. Default `'auto'`. */
  implementation?: Implementation;
  /**
   * Applied to projected queries and new keys [B, H, T, D] (e.g. rotary embeddings). Not
   * serialized: pass it again after `fromConfig`. Default none.
   */
  positionHook?: PositionHook | null;
  /**
   * Causal masking for calls that do not say (`useCausalMask` call option), serialized in the
   * config. This is how a causal layer goes into a `tf.model`: tfjs' model executor calls
   * layers without their graph-node options. Default false.
   */
  useCausalMask?: boolean;
  /**
   * Return `[output, scores]` for calls that do not say (`returnAttentionScores` call option),
   * serialized in the config; inside a `tf.model` the scores are the layer's second output.
   * Default false.
   */
  returnAttentionScores?: boolean;
  /** Input shapes to build the weights from at construction, as Keras' config stores them. Default: build on first call. */
  queryShape?: tf.Shape | null;
  valueShape?: tf.Shape | null;
  keyShape?: tf.Shape | null;
}

export interface MultiHeadAttentionCallOptions {
  /** Value input [B, Tk, dv]. Required unless passed as the second input. */
  value?: tf.Tensor;
  /** Key input [B, Tk, dk]. Default: `value`. */
  key?: tf.Tensor | null;
  /**
   * Bool mask (true = attend; other dtypes: nonzero = attend) broadcastable to [B, Tq, Tk],
   * as in Keras, or rank 4 [B, N, Tq, Tk] per head; Tk counts cached tokens too. Default none.
   */
  attentionMask?: tf.Tensor | null;
  /**
   * Additive float32 bias on the logits, beside `attentionMask`: rank <= 3 broadcasts to
   * [B, Tq, Tk] (every head), rank 4 to [B, N, Tq, Tk] (per head). PyTorch's 0/-inf float masks
   * convert with `fromTorchAttentionMask`. Default none.
   */
  attentionBias?: tf.Tensor | null;
  /**
   * Causal masking, ANDed with `attentionMask`. Aligned bottom-right when Tq != Tk (query i sees
   * keys j <= i + Tk - Tq), which is what decoding with a cache needs. Default: the
   * constructor's `useCausalMask` (false).
   */
  useCausalMask?: boolean;
  /**
   * Return `[output, scores]`, scores per query head [B, N, Tq, Tk] before dropout. Default:
   * the constructor's `returnAttentionScores` (false).
   */
  returnAttentionScores?: boolean;
  /** With scores: average them over heads, [B, Tq, Tk], as PyTorch's `average_attn_weights=True`. Default false. */
  averageWeights?: boolean;
  /** Whether dropout is active. Default false. */
  training?: boolean;
  /** Cache of this layer's projected keys/values; new ones are appended before attending. Default none. */
  cache?: KVCache | null;
}

/**
 * Options of `apply()`: the call options, with `value`/`key` also as SymbolicTensors (inside a
 * `tf.model`, where only `training` and options equal to the constructor's are allowed).
 */
export type MultiHeadAttentionApplyOptions = Omit<MultiHeadAttentionCallOptions, 'value' | 'key'> & {
  value?: tf.Tensor | tf.SymbolicTensor;
  key?: tf.Tensor | tf.SymbolicTensor | null;
};

interface Weights {
  queryKernel: tf.LayerVariable;
  queryBias: tf.LayerVariable | null;
  keyKernel: tf.LayerVariable;
  keyBias: tf.LayerVariable | null;
  valueKernel: tf.LayerVariable;
  valueBias: tf.LayerVariable | null;
  outputKernel: tf.LayerVariable;
  outputBias: tf.LayerVariable | null;
}

const isPositiveInt = (n: unknown): n is number => Number.isInteger(n) && (n as number) > 0;
const optionalBoolean = (x: unknown) => x === undefined || x === null || typeof x === 'boolean';

/**
 * Multi-head attention as a tfjs layer, with Keras' arguments, call options and weights
 * (`query/kernel` [d, N, H], `query/bias` [N, H], likewise `key` and `value`,
 * `attention_output/kernel` [N, Hv, dOut], `attention_output/bias` [dOut]), plus grouped-query
 * attention (`numKeyValueHeads`), a position hook and a {@link KVCache}.
 *
 * Calling it: eagerly `layer.apply(query, {value, key?, ...options})`,
 * `layer.apply([query, value, key?], options)` or `layer.call(query, {value, ...})`; inside
 * `tf.model`, `layer.apply([query, value])` (or with `{value}`) on SymbolicTensors, with
 * serializable options (`useCausalMask`, `returnAttentionScores`) only. Inputs are [B, T, d].
 */
export class MultiHeadAttention extends tf.layers.Layer {
  static className = 'attnkit>MultiHeadAttention';

  readonly numHeads: number;
  readonly numKeyValueHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly dropout: number;
  readonly useBias: boolean;
  readonly outputShapeArg: number[] | null;
  readonly implementation: Implementation;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;
  readonly kernelRegularizer: Regularizer | null;
  readonly biasRegularizer: Regularizer | null;
  readonly kernelConstraint: Constraint | null;
  readonly biasConstraint: Constraint | null;
  /** Applied to projected queries and new keys; may be set after construction. */
  positionHook: PositionHook | null;
  /** Causal masking when a call does not say; a constructor argument, serialized. */
  readonly useCausalMask: boolean;
  /** Whether calls that do not say return `[output, scores]`; a constructor argument, serialized. */
  readonly returnAttentionScores: boolean;
  private shapes: { query: tf.Shape; value: tf.Shape; key: tf.Shape } | null = null;
  private w: Weights | null = null;
  /**
   * True while weights are created inside a name scope that already ends in this layer's (our
   * own apply()) or that the owner chose ({@link buildUnscoped}): no own-name prefix then.
   */
  private applying = false;

  constructor(args: MultiHeadAttentionArgs) {
    const { numHeads, keyDim } = args ?? ({} as MultiHeadAttentionArgs);
    check(isPositiveInt(numHeads), () => AttentionError.value(OP, 'numHeads must be a positive integer', numHeads));
    check(isPositiveInt(keyDim), () => AttentionError.value(OP, 'keyDim must be a positive integer', keyDim));
    const valueDim = args.valueDim ?? keyDim;
    check(isPositiveInt(valueDim), () => AttentionError.value(OP, 'valueDim must be a positive integer', valueDim));
    const numKeyValueHeads = args.numKeyValueHeads ?? numHeads;
    check(isPositiveInt(numKeyValueHeads) && numHeads % numKeyValueHeads === 0, () =>
      AttentionError.value(OP, `numKeyValueHeads must be a positive integer dividing numHeads (${numHeads})`, numKeyValueHeads),
    );
    const dropout = args.dropout ?? 0;
    check(typeof dropout === 'number' && dropout >= 0 && dropout < 1, () => AttentionError.value(OP, 'dropout must be a number in [0, 1)', dropout));
    const implementation = args.implementation ?? 'auto';
    check(IMPLEMENTATIONS.includes(implementation), () =>
      AttentionError.value(OP, `implementation must be one of ${IMPLEMENTATIONS.join(', ')}`, implementation),
    );
    const out = args.outputShape == null ? null : Array.isArray(args.outputShape) ? args.outputShape : [args.outputShape];
    check(out === null || (out.length > 0 && out.every(isPositiveInt)), () =>
      AttentionError.value(OP, 'outputShape must be a positive integer or a non-empty list of them', args.outputShape),
    );
    const hook = args.positionHook ?? null;
    check(hook === null || typeof hook.apply === 'function', () => AttentionError.value(OP, 'positionHook must have an apply(x, offset) method', typeof hook));
    for (const name of ['useCausalMask', 'returnAttentionScores'] as const) {
      check(optionalBoolean(args[name]), () => AttentionError.value(OP, `${name} must be a boolean`, args[name]));
    }
    const { queryShape, valueShape, keyShape, ...base } = args;
    super(baseArgs(base));
    this.useCausalMask = args.useCausalMask === true;
    this.returnAttentionScores = args.returnAttentionScores === true;
    this.numHeads = numHeads;
    this.numKeyValueHeads = numKeyValueHeads;
    this.keyDim = keyDim;
    this.valueDim = valueDim;
    this.dropout = dropout;
    this.useBias = args.useBias ?? true;
    this.outputShapeArg = out;
    this.implementation = implementation;
    this.kernelInitializer = resolveInitializer(OP, args.kernelInitializer ?? 'glorotUniform')!;
    this.biasInitializer = resolveInitializer(OP, args.biasInitializer ?? 'zeros')!;
    this.kernelRegularizer = resolveRegularizer(OP, args.kernelRegularizer);
    this.biasRegularizer = resolveRegularizer(OP, args.biasRegularizer);
    this.kernelConstraint = resolveConstraint(OP, args.kernelConstraint);
    this.biasConstraint = resolveConstraint(OP, args.biasConstraint);
    this.positionHook = hook;
    if (queryShape && valueShape) {
      this.build(keyShape ? [queryShape, valueShape, keyShape] : [queryShape, valueShape]);
      this.built = true;
    }
  }

  /** Input shapes the weights were built for (batch and time null), or null before build. */
  get builtShapes() {
    return this.shapes;
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [query, value, key] = inputShapes(inputShape);
    const [dq, dv, dk] = [query[2], value[2], key[2]];
    check(isPositiveInt(dq) && isPositiveInt(dv) && isPositiveInt(dk), () =>
      AttentionError.shapes(OP, 'query, value and key need known last dims to build', {
        query: query.map(Number),
        value: value.map(Number),
        key: key.map(Number),
      }),
    );
    const { numHeads: N, numKeyValueHeads: Nkv, keyDim: H, valueDim: Hv } = this;
    const outDims = this.outputShapeArg ?? [dq];
    // Inside apply() tfjs scopes names by the layer name; elsewhere we do it ourselves.
    const scope = this.applying ? '' : `${this.name}/`;
    const kernel = (name: string, shape: number[]) =>
      this.addWeight(
        `${scope}${name}/kernel`,
        shape,
        'float32',
        this.kernelInitializer,
        this.kernelRegularizer ?? undefined,
        true,
        this.kernelConstraint ?? undefined,
      );
    const bias = (name: string, shape: number[]) =>
      this.useBias
        ? this.addWeight(
            `${scope}${name}/bias`,
            shape,
            'float32',
            this.biasInitializer,
            this.biasRegularizer ?? undefined,
            true,
            this.biasConstraint ?? undefined,
          )
        : null;
    // Creation order is Keras' weight order: query, key, value, attention_output; kernel before bias.
    const queryKernel = kernel('query', [dq, N, H]);
    const queryBias = bias('query', [N, H]);
    const keyKernel = kernel('key', [dk, Nkv, H]);
    const keyBias = bias('key', [Nkv, H]);
    const valueKernel = kernel('value', [dv, Nkv, Hv]);
    const valueBias = bias('value', [Nkv, Hv]);
    const outputKernel = kernel('attention_output', [N, Hv, ...outDims]);
    const outputBias = bias('attention_output', outDims);
    this.w = { queryKernel, queryBias, keyKernel, keyBias, valueKernel, valueBias, outputKernel, outputBias };
    this.shapes = { query: [null, null, dq], value: [null, null, dv], key: [null, null, dk] };
  }

  /**
   * Builds the weights named without this layer's own name, inside whatever name scope is
   * current: for a composite layer whose weights ARE this layer's (CrossAttention names them
   * `xattn/query/kernel`). No-op when built.
   */
  buildUnscoped(inputShape: tf.Shape | tf.Shape[]): void {
    if (this.built) return;
    this.applying = true;
    try {
      this.build(inputShape);
      this.built = true;
    } finally {
      this.applying = false;
    }
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const [query, value, key] = inputShapes(inputShape);
    check(value[1] == null || key[1] == null || value[1] === key[1], () =>
      AttentionError.shapes(OP, 'key and value lengths must match', { key: key.map(Number), value: value.map(Number) }),
    );
    const output = [query[0] ?? null, query[1] ?? null, ...(this.outputShapeArg ?? [query[2] ?? null])];
    if (!this.returnAttentionScores) return output;
    return [output, [query[0] ?? null, this.numHeads, query[1] ?? null, value[1] ?? null]];
  }

  /**
   * Accepts `apply(query, {value, key?})` as well as `apply([query, value, key?])`, for tensors
   * and SymbolicTensors alike, and hands tfjs a list of inputs.
   */
  override apply(
    inputs: AnyTensor | AnyTensor[],
    options: MultiHeadAttentionApplyOptions = {},
  ): tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[] {
    const { value, key, ...rest } = options as { value?: AnyTensor; key?: AnyTensor | null } & Kwargs;
    let list: AnyTensor[];
    if (Array.isArray(inputs)) {
      check(inputs.length === 2 || inputs.length === 3, () =>
        AttentionError.value(OP, 'apply() takes [query, value] or [query, value, key]', `${inputs.length} inputs`),
      );
      check(value == null && key == null, () => AttentionError.value(OP, 'pass value and key either in the input list or as options, not both', 'both'));
      list = inputs;
    } else {
      check(value != null, () => AttentionError.value(OP, 'value is required: apply(query, {value}) or apply([query, value])', value));
      list = key != null ? [inputs, value, key] : [inputs, value];
    }
    const symbolic = list[0] instanceof tf.SymbolicTensor;
    if (symbolic) this.checkGraphOptions(rest);
    this.applying = true;
    try {
      // biome-ignore lint/suspicious/noExplicitAny: tfjs' apply() is typed for all-tensor or all-symbolic lists
      return super.apply(list as any, rest);
    } finally {
      this.applying = false;
    }
  }

  /**
   * A graph node keeps no options of its own: tfjs' model executor calls the layer with only
   * `training`. So inside a tf.model the options must be what the constructor says, and
   * tensors cannot be baked in.
   */
  private checkGraphOptions(options: Kwargs) {
    for (const name of ['attentionMask', 'attentionBias', 'cache'] as const) {
      check(options[name] == null, () => AttentionError.value(OP, `${name} cannot be used inside tf.model (only serializable options)`, typeof options[name]));
    }
    check(options.averageWeights == null || options.averageWeights === false, () =>
      AttentionError.value(OP, 'averageWeights cannot be used inside tf.model', options.averageWeights),
    );
    for (const name of ['useCausalMask', 'returnAttentionScores'] as const) {
      const own = this[name];
      check(options[name] == null || options[name] === own, () =>
        AttentionError.value(
          OP,
          `inside tf.model ${name} is the layer's constructor argument (${own}): pass it to new MultiHeadAttention({${name}: ${options[name]}}) instead of apply()`,
          options[name],
        ),
      );
    }
  }

  /**
   * Eager forward pass. `inputs` is the query [B, Tq, dq] with `value` (and `key`) in the
   * options, or the list [query, value, key?]. Returns [B, Tq, dOut], or `[output, scores]`
   * when `returnAttentionScores`.
   */
  override call(inputs: tf.Tensor | tf.Tensor[], options: MultiHeadAttentionCallOptions = {}): tf.Tensor | tf.Tensor[] {
    const kwargs = options as Kwargs;
    const [query, value, key] = Array.isArray(inputs) ? inputs : [inputs, options.value, options.key ?? undefined];
    checkTensor('query', query);
    checkTensor('value', value);
    if (key != null) checkTensor('key', key);
    if (!this.built) return this.apply(key ? [query, value, key] : [query, value], without(kwargs, 'value', 'key')) as tf.Tensor | tf.Tensor[];
    const plan = this.plan(query, value, key ?? value, options);
    return tf.tidy(() => this.forward(plan));
  }

  /** Validates one call before anything is allocated and collects what forward() needs. */
  private plan(query: tf.Tensor, value: tf.Tensor, key: tf.Tensor, options: MultiHeadAttentionCallOptions) {
    const {
      attentionMask = null,
      attentionBias = null,
      useCausalMask = this.useCausalMask,
      returnAttentionScores = this.returnAttentionScores,
      averageWeights = false,
      training = false,
      cache = null,
    } = options;
    const shapes = this.shapes!;
    const all = { query: query.shape, value: value.shape, key: key.shape };
    for (const [name, x] of Object.entries({ query, value, key })) {
      check(x.rank === 3, () => AttentionError.shapes(OP, `${name} must be rank 3 [B, T, d]`, { [name]: x.shape }));
      check(x.dtype === 'float32', () => AttentionError.value(OP, `${name} must be float32`, x.dtype));
      check(x.size > 0, () => AttentionError.shapes(OP, `${name} must not be empty`, { [name]: x.shape }));
    }
    const [B, Tq] = query.shape as [number, number, number];
    const Tnew = value.shape[1]!;
    check(value.shape[0] === B && key.shape[0] === B, () => AttentionError.shapes(OP, 'query, value and key batch sizes must match', all));
    check(key.shape[1] === Tnew, () => AttentionError.shapes(OP, 'key and value lengths must match', { key: key.shape, value: value.shape }));
    for (const name of ['query', 'value', 'key'] as const) {
      check(all[name][2] === shapes[name][2], () =>
        AttentionError.shapes(OP, `${name} last dim must be ${shapes[name][2]}, as the layer was built`, { [name]: all[name] }),
      );
    }
    check(optionalBoolean(useCausalMask), () => AttentionError.value(OP, 'useCausalMask must be a boolean', useCausalMask));
    check(optionalBoolean(returnAttentionScores), () => AttentionError.value(OP, 'returnAttentionScores must be a boolean', returnAttentionScores));
    check(optionalBoolean(training), () => AttentionError.value(OP, 'training must be a boolean', training));
    check(optionalBoolean(averageWeights), () => AttentionError.value(OP, 'averageWeights must be a boolean', averageWeights));
    check(cache === null || cache instanceof KVCache, () => AttentionError.value(OP, 'cache must be a KVCache', typeof cache));
    const offset = cache ? cache.length : 0;
    if (cache) {
      cache.checkAppend([B, this.numKeyValueHeads, Tnew, this.keyDim], [B, this.numKeyValueHeads, Tnew, this.valueDim], OP);
    }
    const Tk = offset + Tnew;
    checkMaskShape('attentionMask', attentionMask, B, this.numHeads, Tq, Tk);
    checkMaskShape('attentionBias', attentionBias, B, this.numHeads, Tq, Tk);
    if (attentionBias != null) {
      check(attentionBias.dtype === 'float32', () => AttentionError.value(OP, 'attentionBias must be float32', attentionBias.dtype));
    }
    return {
      query,
      value,
      key,
      attentionMask,
      attentionBias,
      averageWeights: averageWeights === true,
      causal: useCausalMask === true,
      scores: returnAttentionScores === true,
      training: training === true,
      cache,
      offset,
    };
  }

  private forward(p: ReturnType<MultiHeadAttention['plan']>): tf.Tensor | tf.Tensor[] {
    // 1) project into heads; positions of the new tokens start after what is cached
    const q = this.projectQuery(p.query, p.offset); // [B, N, Tq, H]
    let kv = this.projectKeyValue(p.key, p.value, p.offset); // [B, Nkv, Tnew, H], [B, Nkv, Tnew, Hv]
    // 2) extend the cache
    if (p.cache) kv = p.cache.append(kv.key, kv.value); // [B, Nkv, Tk, H], [B, Nkv, Tk, Hv]
    // 3) attend, merge heads and project out
    const { output, weights } = this.attendProjected(q, kv, {
      attentionMask: p.attentionMask,
      attentionBias: p.attentionBias,
      useCausalMask: p.causal,
      training: p.training,
      returnAttentionScores: p.scores,
    });
    if (!weights) return output;
    return [output, p.averageWeights ? tf.mean(weights, 1) : weights]; // [B, N, Tq, Tk] or averaged [B, Tq, Tk]
  }

  /**
   * Projects queries [B, Tq, dq] into heads [B, N, Tq, H], applying the position hook with the
   * first token at `offset`. For callers that keep projected keys/values themselves (e.g.
   * cross-attention over an encoder memory); `call` does all of this for you.
   */
  projectQuery(query: tf.Tensor, offset = 0): tf.Tensor4D {
    const w = this.builtWeights('projectQuery');
    const q = project(query, w.queryKernel, w.queryBias, this.numHeads, this.keyDim); // [B, N, Tq, H]
    return (this.positionHook ? this.positionHook.apply(q, offset) : q) as tf.Tensor4D;
  }

  /**
   * Projects keys [B, Tk, dk] and values [B, Tk, dv] into heads, key [B, Nkv, Tk, H] and value
   * [B, Nkv, Tk, Hv], applying the position hook to keys with the first token at `offset`.
   * Project an encoder memory once and pass it to {@link attendProjected} at every step.
   */
  projectKeyValue(key: tf.Tensor, value: tf.Tensor, offset = 0): CachedKV {
    const w = this.builtWeights('projectKeyValue');
    const k = project(key, w.keyKernel, w.keyBias, this.numKeyValueHeads, this.keyDim); // [B, Nkv, Tk, H]
    const v = project(value, w.valueKernel, w.valueBias, this.numKeyValueHeads, this.valueDim); // [B, Nkv, Tk, Hv]
    return { key: (this.positionHook ? this.positionHook.apply(k, offset) : k) as tf.Tensor4D, value: v as tf.Tensor4D };
  }

  /**
   * Attention of projected queries [B, N, Tq, H] over projected keys/values (from
   * {@link projectKeyValue} or a cache), then heads merged and projected out: output
   * [B, Tq, ...outputShape] and, when `returnAttentionScores`, weights [B, N, Tq, Tk].
   * `attentionMask` is Keras' [B, Tq, Tk] (true = attend) or per head [B, N, Tq, Tk];
   * `attentionBias` likewise, additive float32. Options default to false / none (not to the
   * constructor's `useCausalMask`).
   */
  attendProjected(
    query: tf.Tensor,
    keyValue: CachedKV,
    options: Pick<MultiHeadAttentionCallOptions, 'attentionMask' | 'attentionBias' | 'useCausalMask' | 'training' | 'returnAttentionScores'> = {},
  ): { output: tf.Tensor; weights: tf.Tensor4D | null } {
    const w = this.builtWeights('attendProjected');
    const { attentionMask = null, attentionBias = null, useCausalMask = false, training = false, returnAttentionScores = false } = options;
    // Keras' [B, Tq, Tk] mask applies to every head; a rank-4 one is per head already
    const mask = attentionMask ? maskForHeads(attentionMask) : null; // broadcasts to [B, N, Tq, Tk]
    const bias = attentionBias ? forHeads(attentionBias) : null; // broadcasts to [B, N, Tq, Tk]
    const core = { mask, bias, causal: useCausalMask, dropout: this.dropout, training, implementation: this.implementation };
    const { key, value } = keyValue;
    const { output, weights } = returnAttentionScores
      ? attentionWithWeights(query, key, value, core)
      : { output: scaledDotProductAttention(query, key, value, core), weights: null };
    return { output: this.projectOut(output, w), weights };
  }

  private builtWeights(op: string): Weights {
    check(this.w !== null, () => AttentionError.value(`${OP}.${op}`, 'the layer must be built first (call it once or pass queryShape/valueShape)', 'unbuilt'));
    return this.w;
  }

  private projectOut(attended: tf.Tensor, w: Weights): tf.Tensor {
    const [B, N, Tq, Hv] = attended.shape as [number, number, number, number];
    const outDims = w.outputKernel.shape.slice(2) as number[];
    const dOut = outDims.reduce((a, b) => a * b, 1);
    // one query (a decoding step): merging the heads is a reshape, no transpose
    const merged = tf.reshape(Tq === 1 ? attended : tf.transpose(attended, [0, 2, 1, 3]), [B * Tq, N * Hv]); // [B*Tq, N*Hv]
    const kernel = tf.reshape(w.outputKernel.read(), [N * Hv, dOut]) as tf.Tensor2D; // [N*Hv, dOut]
    const y = dense(merged as tf.Tensor2D, kernel, w.outputBias ? (tf.reshape(w.outputBias.read(), [dOut]) as tf.Tensor1D) : null); // [B*Tq, dOut]
    return tf.reshape(y, [B, Tq, ...outDims]); // [B, Tq, ...outDims]
  }

  /** Disposes the weights; unlike tfjs' Layer, also for a layer built but never applied. */
  override dispose(): ReturnType<tf.layers.Layer['dispose']> {
    if (this._refCount === null && this.built) this._refCount = 1;
    return super.dispose();
  }

  /** The weights in Keras order (query, key, value, attention_output; kernel then bias), or [] before build. */
  get namedWeights(): Array<{ name: string; variable: tf.LayerVariable }> {
    if (!this.w) return [];
    const names = ['query', 'key', 'value', 'attention_output'];
    const vars = this.weights;
    return vars.map((variable, i) => ({
      name: `${names[Math.floor(i / (this.useBias ? 2 : 1))]}/${this.useBias && i % 2 === 1 ? 'bias' : 'kernel'}`,
      variable,
    }));
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      numKeyValueHeads: this.numKeyValueHeads,
      dropout: this.dropout,
      useBias: this.useBias,
      outputShape: this.outputShapeArg,
      attentionAxes: null,
      implementation: this.implementation,
      useCausalMask: this.useCausalMask,
      returnAttentionScores: this.returnAttentionScores,
      kernelInitializer: serialize(this.kernelInitializer),
      biasInitializer: serialize(this.biasInitializer),
      kernelRegularizer: serialize(this.kernelRegularizer),
      biasRegularizer: serialize(this.biasRegularizer),
      kernelConstraint: serialize(this.kernelConstraint),
      biasConstraint: serialize(this.biasConstraint),
      queryShape: this.shapes?.query ?? null,
      valueShape: this.shapes?.value ?? null,
      keyShape: this.shapes?.key ?? null,
      ...super.getConfig(),
    };
  }

  /**
   * Builds a layer from its config: this layer's own (camelCase) or Keras'
   * (`num_heads`, `key_dim`, `kernel_initializer: {class_name, config}`, ...). When the config
   * carries `query_shape`/`value_shape` (as Keras 2 writes them) the weights are built at once.
   */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(argsFromConfig(config));
  }
}
// 'MultiHeadAttention' also loads ours: models saved before the prefix, and Keras configs (tfjs-layers' own class of that name is internal)
registerAttnkitClass(MultiHeadAttention, 'MultiHeadAttention');

/** Keras arguments that do not change a forward pass: accepted with a warning. */
const IGNORED_KERAS_ARGS: Array<[string, string, string]> = [
  ['seed', 'seed', "dropout draws from tfjs' random state, not from this seed"],
  ['flashAttention', 'flash_attention', 'the implementation option chooses the attention path'],
];

/** Keras or tfjs config -> constructor arguments; rejects what this layer cannot honour. */
export function argsFromConfig(config: tf.serialization.ConfigDict): MultiHeadAttentionArgs {
  const snake = Object.keys(config).some((k) => k.includes('_'));
  const c = (snake ? pythonicToTs(config) : config) as Record<string, unknown>;
  const axes = c.attentionAxes;
  check(axes == null || JSON.stringify(axes) === '[1]' || axes === 1, () =>
    AttentionError.value(OP, 'only attention over the time axis of [B, T, d] inputs is supported (attention_axes null or [1])', axes),
  );
  check(c.activityRegularizer == null, () =>
    AttentionError.value(OP, 'activity regularizers are not supported (tfjs layers cannot apply them)', JSON.stringify(c.activityRegularizer)),
  );
  const dtype = c.dtype && typeof c.dtype === 'object' ? (c.dtype as { config?: { name?: string } }).config?.name : c.dtype;
  const keep = [
    'name',
    'trainable',
    'numHeads',
    'keyDim',
    'valueDim',
    'numKeyValueHeads',
    'dropout',
    'useBias',
    'outputShape',
    'kernelInitializer',
    'biasInitializer',
    'kernelRegularizer',
    'biasRegularizer',
    'kernelConstraint',
    'biasConstraint',
    'implementation',
    'useCausalMask',
    'returnAttentionScores',
    'queryShape',
    'valueShape',
    'keyShape',
    'batchInputShape',
  ];
  check(dtype == null || dtype === 'float32', () =>
    AttentionError.value(OP, 'only the float32 dtype policy is supported (mixed precision would change the numbers)', String(dtype)),
  );
  for (const [k, keras, why] of IGNORED_KERAS_ARGS) {
    if (c[k] != null && c[k] !== false) {
      // tfjs warns in the same way about what it cannot honour when loading models
      console.warn(`MultiHeadAttention: Keras argument ${keras}=${JSON.stringify(c[k])} is accepted but ignored: ${why}`);
    }
  }
  const args: Record<string, unknown> = {};
  for (const k of keep) if (c[k] !== undefined) args[k] = c[k];
  if (typeof dtype === 'string') args.dtype = dtype;
  return args as unknown as MultiHeadAttentionArgs;
}

/** What tfjs' Layer constructor takes from our arguments. */
function baseArgs(args: Partial<MultiHeadAttentionArgs>): LayerArgs {
  const out: LayerArgs = { name: defaultLayerName(args.name, 'multi_head_attention') };
  if (args.trainable !== undefined) out.trainable = args.trainable;
  if (args.dtype !== undefined) out.dtype = args.dtype;
  if (args.inputShape !== undefined) out.inputShape = args.inputShape;
  if (args.batchInputShape !== undefined) out.batchInputShape = args.batchInputShape;
  return out;
}

/** [query, value, key] shapes, key defaulting to value. */
function inputShapes(inputShape: tf.Shape | tf.Shape[]): [tf.Shape, tf.Shape, tf.Shape] {
  const list = Array.isArray(inputShape[0]) ? (inputShape as tf.Shape[]) : [inputShape as tf.Shape];
  check(list.length === 2 || list.length === 3, () =>
    AttentionError.value(OP, 'the layer takes [query, value] or [query, value, key]', `${list.length} inputs`),
  );
  for (const [i, s] of list.entries()) {
    const name = ['query', 'value', 'key'][i]!;
    check(s.length === 3, () => AttentionError.shapes(OP, `${name} must be rank 3 [B, T, d]`, { [name]: s.map(Number) }));
  }
  return [list[0]!, list[1]!, list[2] ?? list[1]!];
}

function checkTensor(name: string, x: unknown): asserts x is tf.Tensor {
  check(x instanceof tf.Tensor, () => AttentionError.value(OP, `${name} must be a tf.Tensor`, x == null ? x : typeof x));
  check(!x.isDisposed, () => AttentionError.shapes(OP, `${name} has been disposed`, { [name]: x.shape }));
}

function without(kwargs: Kwargs, ...names: string[]): Kwargs {
  return Object.fromEntries(Object.entries(kwargs).filter(([k]) => !names.includes(k)));
}

/** x [B, T, d] · kernel [d, heads, size] + bias [heads, size] -> [B, heads, T, size]. */
function project(x: tf.Tensor, kernel: tf.LayerVariable, bias: tf.LayerVariable | null, heads: number, size: number): tf.Tensor {
  const [B, T, d] = x.shape as [number, number, number];
  const w = tf.reshape(kernel.read(), [d, heads * size]) as tf.Tensor2D; // [d, heads*size]
  const b = bias ? (tf.reshape(bias.read(), [heads * size]) as tf.Tensor1D) : null; // [heads*size]
  const y = dense(tf.reshape(x, [B * T, d]) as tf.Tensor2D, w, b); // [B*T, heads*size]
  // one token (a decoding step): splitting the heads is a reshape, no transpose
  if (T === 1) return tf.reshape(y, [B, heads, 1, size]); // [B, heads, 1, size]
  return tf.transpose(tf.reshape(y, [B, T, heads, size]), [0, 2, 1, 3]); // [B, heads, T, size]
}

/** Keras' attention mask, broadcastable to [B, Tq, Tk] (or [B, N, Tq, Tk]), as a bool mask broadcastable to [B, N, Tq, Tk]. */
function maskForHeads(mask: tf.Tensor): tf.Tensor {
  return forHeads(mask.dtype === 'bool' ? mask : tf.notEqual(mask, 0));
}

/** [B, Tq, Tk] -> [B, 1, Tq, Tk]; ranks below 3 broadcast as they are, rank 4 is per head already. */
function forHeads(x: tf.Tensor): tf.Tensor {
  return x.rank === 3 ? tf.expandDims(x, 1) : x; // [B, 1, Tq, Tk], [B, N, Tq, Tk] or [Tq, Tk] / [Tk]
}

/** A mask or bias must be a tensor broadcastable to [B, Tq, Tk] (rank <= 3) or [B, N, Tq, Tk] (rank 4). */
function checkMaskShape(name: string, x: tf.Tensor | null, B: number, N: number, Tq: number, Tk: number) {
  if (x == null) return;
  check(x instanceof tf.Tensor, () => AttentionError.value(OP, `${name} must be a tensor`, typeof x));
  check(!x.isDisposed, () => AttentionError.shapes(OP, `${name} has been disposed`, { [name]: x.shape }));
  const target = x.rank === 4 ? [B, N, Tq, Tk] : [B, Tq, Tk];
  const fits = x.rank <= 4 && broadcastShapes(x.shape, target)?.every((d, i) => d === target[i]);
  check(fits === true, () =>
    AttentionError.shapes(OP, `${name} must broadcast to [B, Tq, Tk] = ${formatShape([B, Tq, Tk])} or [B, N, Tq, Tk] = ${formatShape([B, N, Tq, Tk])}`, {
      [name]: x.shape,
    }),
  );
}
