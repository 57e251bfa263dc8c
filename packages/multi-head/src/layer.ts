import { type Implementation, IMPLEMENTATIONS, dense, reshapeView } from '@attnkit/core';
import { AttentionError } from '@attnkit/masking';
import { broadcastShapes, check, formatShape, toBoolMask } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs';
import type {
  Constraint,
  Initializer,
  LayerArgs,
  MultiHeadAttentionApplyOptions,
  MultiHeadAttentionArgs,
  MultiHeadAttentionCallOptions,
  Regularizer,
} from './args.js';
import { type AttentionFn, type AttentionPathReport, coreAttentionFn } from './attention.js';
import { type CachedKV, KVCache } from './cache.js';
import { argsFromConfig, resolveConstraint, resolveInitializer, resolveRegularizer, serialize } from './config.js';
import type { PositionHook } from './hook.js';
import { defaultLayerName, registerAttnkitClass } from './register.js';
import { countBuiltLayer } from './scope.js';

const OP = 'MultiHeadAttention';

type Kwargs = Record<string, unknown>;
type AnyTensor = tf.Tensor | tf.SymbolicTensor;

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
  /** The attention between projecting and merging the heads; not serialized (see {@link MultiHeadAttentionArgs.attentionFn}). */
  readonly attentionFn: AttentionFn;
  /** Whether {@link attentionFn} was given (true) or is core's with {@link implementation}. */
  readonly customAttention: boolean;
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
  private lastPath: AttentionPathReport | null = null;

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
    const attentionFn = args.attentionFn ?? null;
    check(attentionFn === null || typeof attentionFn === 'function', () => AttentionError.value(OP, 'attentionFn must be a function', typeof attentionFn));
    check(attentionFn === null || implementation === 'auto', () =>
      AttentionError.value(
        OP,
        "pass either attentionFn or implementation, not both (implementation is shorthand for attentionFn: coreAttentionFn(implementation); only 'auto' may go with a custom attentionFn)",
        implementation,
      ),
    );
    const hook = args.positionHook ?? null;
    check(hook === null || typeof hook.apply === 'function', () => AttentionError.value(OP, 'positionHook must have an apply(x, offset) method', typeof hook));
    for (const name of ['useCausalMask', 'returnAttentionScores'] as const) {
      check(optionalBoolean(args[name]), () => AttentionError.value(OP, `${name} must be a boolean`, args[name]));
    }
    const { queryShape, valueShape, keyShape, attentionFn: _fn, ...base } = args;
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
    this.attentionFn = attentionFn ?? coreAttentionFn(implementation);
    this.customAttention = attentionFn !== null;
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

  /**
   * The attention path the last call ran (eager, inside a `tf.model`, or through
   * {@link attendProjected}): one of @attnkit/core's (`'fused'`, `'chunked'`, `'sliced'`,
   * `'reference'`), or `'custom'` for an `attentionFn` that does not report one; null before
   * the first call. A report, not an option: it never changes what the next call does. Calls
   * returning scores run `'reference'` or `'sliced'`, never a registered fused kernel: read it
   * to see whether asking for scores left the fast path.
   */
  get lastAttentionPath(): AttentionPathReport | null {
    return this.lastPath;
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
   * {@link projectKeyValue} or a cache), through the layer's {@link attentionFn}, then heads
   * merged and projected out: output [B, Tq, ...outputShape], when `returnAttentionScores`
   * weights [B, N, Tq, Tk], and the path that ran (also kept as {@link lastAttentionPath}).
   * `attentionMask` is Keras' [B, Tq, Tk] (true = attend) or per head [B, N, Tq, Tk];
   * `attentionBias` likewise, additive float32. Options default to false / none (not to the
   * constructor's `useCausalMask`).
   */
  attendProjected(
    query: tf.Tensor,
    keyValue: CachedKV,
    options: Pick<MultiHeadAttentionCallOptions, 'attentionMask' | 'attentionBias' | 'useCausalMask' | 'training' | 'returnAttentionScores'> = {},
  ): { output: tf.Tensor; weights: tf.Tensor4D | null; path: AttentionPathReport } {
    const w = this.builtWeights('attendProjected');
    const { attentionMask = null, attentionBias = null, useCausalMask = false, training = false, returnAttentionScores = false } = options;
    // Keras' [B, Tq, Tk] mask applies to every head; a rank-4 one is per head already
    const mask = attentionMask ? maskForHeads(attentionMask) : null; // broadcasts to [B, N, Tq, Tk]
    const bias = attentionBias ? forHeads(attentionBias) : null; // broadcasts to [B, N, Tq, Tk]
    const q = query as tf.Tensor4D;
    const { key, value } = keyValue;
    const result = this.attentionFn(q, key, value, {
      mask,
      bias,
      causal: useCausalMask,
      dropout: this.dropout,
      training,
      returnWeights: returnAttentionScores,
    });
    checkAttended(result, q, key, value, returnAttentionScores);
    const path = result.path ?? 'custom';
    this.lastPath = path;
    return { output: this.projectOut(result.output, w), weights: returnAttentionScores ? result.weights : null, path };
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
    const merged = reshapeView(Tq === 1 ? attended : tf.transpose(attended, [0, 2, 1, 3]), [B * Tq, N * Hv]); // [B*Tq, N*Hv]
    const kernel = reshapeView(w.outputKernel.read(), [N * Hv, dOut]) as tf.Tensor2D; // [N*Hv, dOut]
    const y = dense(merged as tf.Tensor2D, kernel, w.outputBias ? (reshapeView(w.outputBias.read(), [dOut]) as tf.Tensor1D) : null); // [B*Tq, dOut]
    return reshapeView(y, [B, Tq, ...outDims]); // [B, Tq, ...outDims]
  }

  /** Disposes the weights; unlike tfjs' Layer, also for a layer built but never applied. */
  override dispose(): ReturnType<tf.layers.Layer['dispose']> {
    countBuiltLayer(this);
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
  const w = reshapeView(kernel.read(), [d, heads * size]) as tf.Tensor2D; // [d, heads*size]
  const b = bias ? (reshapeView(bias.read(), [heads * size]) as tf.Tensor1D) : null; // [heads*size]
  const y = dense(reshapeView(x, [B * T, d]) as tf.Tensor2D, w, b); // [B*T, heads*size]
  // one token (a decoding step): splitting the heads is a reshape, no transpose
  if (T === 1) return reshapeView(y, [B, heads, 1, size]); // [B, heads, 1, size]
  return tf.transpose(reshapeView(y, [B, T, heads, size]), [0, 2, 1, 3]); // [B, heads, T, size]
}

/** An attention function's result must have the shapes the layer merges: output [B, N, Tq, Hv], weights [B, N, Tq, Tk] when asked for. */
function checkAttended(r: unknown, query: tf.Tensor4D, key: tf.Tensor4D, value: tf.Tensor4D, wantsWeights: boolean) {
  const op = `${OP}.attentionFn`;
  const [B, N, Tq] = query.shape;
  const [Tk, Hv] = [key.shape[2], value.shape[3]];
  const { output, weights } = (r ?? {}) as { output?: unknown; weights?: unknown };
  const shape = (x: unknown) => (x instanceof tf.Tensor ? x.shape : []);
  const is = (x: unknown, want: number[]) => x instanceof tf.Tensor && x.shape.join() === want.join();
  check(is(output, [B, N, Tq, Hv]), () =>
    AttentionError.shapes(op, `must return output [B, N, Tq, Hv] = ${formatShape([B, N, Tq, Hv])}`, { output: shape(output) }),
  );
  check(!wantsWeights || is(weights, [B, N, Tq, Tk]), () =>
    AttentionError.shapes(op, `must return weights [B, N, Tq, Tk] = ${formatShape([B, N, Tq, Tk])} when returnWeights`, { weights: shape(weights) }),
  );
}

/** Keras' attention mask, broadcastable to [B, Tq, Tk] (or [B, N, Tq, Tk]), as a bool mask broadcastable to [B, N, Tq, Tk]. */
function maskForHeads(mask: tf.Tensor): tf.Tensor {
  return forHeads(toBoolMask(mask));
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
