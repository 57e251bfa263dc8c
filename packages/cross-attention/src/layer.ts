import { AttentionError } from '@attnkit/masking';
import { andKeyPaddingMask, broadcastShapes, check, defaultLayerName, formatShape, registerAttnkitClass, toBoolMask } from '@attnkit/masking/internal';
import { type AttentionPathReport, MultiHeadAttention, type MultiHeadAttentionArgs, withNameScope } from '@attnkit/multi-head';
import { countBuiltLayer } from '@attnkit/multi-head/internal';
import * as tf from '@tensorflow/tfjs';
import { MemoryCache } from './cache.js';

const OP = 'CrossAttention';
type Kwargs = Record<string, unknown>;

export type CrossAttentionArgs = Omit<MultiHeadAttentionArgs, 'useCausalMask' | 'returnAttentionScores' | 'keyShape'> & {
  /** Query and memory shapes to build the weights from at construction. Default: build on first call or `build()`. */
  memoryShape?: tf.Shape | null;
};

export interface CrossAttentionCallOptions {
  /** Encoder memory [B, Ts, dm]. Required unless `memoryCache` is given. */
  memory?: tf.Tensor | null;
  /** Memory padding mask [B, Ts], true = real token (bool, or nonzero = real). Default: all real. */
  memoryMask?: tf.Tensor | null;
  /**
   * Bool mask (true = attend) over [B, Tq, Ts] (rank <= 3, broadcasting) or per head
   * [B, N, Tq, Ts], ANDed with `memoryMask`: PyTorch's `memory_mask` after
   * `fromTorchAttentionMask`. Default none.
   */
  attentionMask?: tf.Tensor | null;
  /** Additive float32 bias, shaped like `attentionMask`. Default none. */
  attentionBias?: tf.Tensor | null;
  /** The memory projected once by {@link CrossAttention.projectMemory}; replaces `memory` and `memoryMask`. */
  memoryCache?: MemoryCache | null;
  /** Also return the weights per head [B, N, Tq, Ts]. Default false. */
  returnAttentionScores?: boolean;
  /** Whether dropout is active. Default false. */
  training?: boolean;
}

/**
 * Encoder-decoder attention: queries from the decoder [B, Tq, d], keys and values from the
 * encoder memory [B, Ts, dm]. A {@link MultiHeadAttention} underneath (same arguments, same
 * Keras weights, named `<this layer>/query/kernel`, …), plus {@link projectMemory}, which
 * projects the memory's keys and values once per source batch so each decoding step only
 * projects its own queries.
 *
 * Inside a `tf.model`: `apply([query, memory])` or `apply([query, memory, memoryMask])` with
 * SymbolicTensors ([B, Tq, d], [B, Ts, dm], [B, Ts]).
 */
export class CrossAttention extends tf.layers.Layer {
  static className = 'attnkit>CrossAttention';
  readonly attention: MultiHeadAttention;
  /** True while our own apply() runs: tfjs' name scope already ends in this layer's name. */
  private applying = false;

  constructor(args: CrossAttentionArgs) {
    super({ name: defaultLayerName(args?.name, 'cross_attention'), ...(args?.trainable !== undefined ? { trainable: args.trainable } : {}) });
    const { name: _name, trainable: _trainable, queryShape, memoryShape, valueShape, ...rest } = (args ?? {}) as CrossAttentionArgs;
    // The inner layer is named by role; its weights are named after this layer (buildUnscoped).
    this.attention = new MultiHeadAttention({ ...rest, name: 'attention' });
    const memory = memoryShape ?? valueShape;
    if (queryShape && memory) this.build([queryShape, memory]);
  }

  /**
   * Builds the weights from `[queryShape, memoryShape]` (a memory mask shape may follow), or
   * from the query shape alone when the memory has the query's width.
   */
  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const list = Array.isArray(inputShape[0]) ? (inputShape as tf.Shape[]) : [inputShape as tf.Shape];
    const [query, memory = query] = list;
    check(list.length <= 3 && list.slice(0, 2).every((s) => Array.isArray(s) && s.length === 3), () =>
      AttentionError.value(
        OP,
        'build takes [queryShape, memoryShape] (rank 3 each, a memory mask shape may follow) or a query shape',
        JSON.stringify(inputShape),
      ),
    );
    const create = () => this.attention.buildUnscoped([query!, memory!]);
    if (this.applying) create();
    else withNameScope(this.name, create);
    this.built = true;
  }

  /** Builds from the query and memory shapes first (tfjs would build from the query alone). */
  override apply(
    inputs: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[],
    options: CrossAttentionCallOptions = {},
  ): tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[] {
    const kwargs = options as Kwargs;
    const query = Array.isArray(inputs) ? inputs[0] : inputs;
    const memory = Array.isArray(inputs) ? inputs[1] : kwargs.memory;
    const symbolic = query instanceof tf.SymbolicTensor;
    if (symbolic) {
      check(Array.isArray(inputs) && (inputs.length === 2 || inputs.length === 3), () =>
        AttentionError.value(
          OP,
          'inside tf.model apply() takes [query, memory] or [query, memory, memoryMask]',
          Array.isArray(inputs) ? `${inputs.length} inputs` : '1 input',
        ),
      );
      for (const name of ['memory', 'memoryMask', 'memoryCache', 'attentionMask', 'attentionBias', 'returnAttentionScores'] as const) {
        check(kwargs[name] == null || kwargs[name] === false, () =>
          AttentionError.value(OP, `${name} cannot be an apply() option inside tf.model (pass the memory and its mask as inputs)`, typeof kwargs[name]),
        );
      }
    }
    this.applying = true;
    try {
      if (!this.built && query instanceof tf.Tensor && memory instanceof tf.Tensor && query.rank === 3 && memory.rank === 3) {
        // inside tfjs' scope of this layer, as super.apply would build
        return withNameScope(this.name, () => {
          this.build([query.shape, memory.shape]);
          return super.apply(inputs, kwargs);
        });
      }
      // biome-ignore lint/suspicious/noExplicitAny: tfjs' apply() is typed for all-tensor or all-symbolic lists
      return super.apply(inputs as any, kwargs);
    } finally {
      this.applying = false;
    }
  }

  override get trainableWeights(): tf.LayerVariable[] {
    return this.trainable ? this.attention.trainableWeights : [];
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    return this.trainable ? this.attention.nonTrainableWeights : this.attention.weights;
  }

  /**
   * The attention path the last call ran (core's `'fused'`, `'chunked'`, `'sliced'`,
   * `'reference'`, or `'custom'`), null before any: calls returning weights never run a fused
   * kernel. See MultiHeadAttention's `lastAttentionPath`.
   */
  get lastAttentionPath(): AttentionPathReport | null {
    return this.attention.lastAttentionPath;
  }

  /** The weights with Keras names (`query/kernel`, …, `attention_output/bias`). */
  get namedWeights(): Array<{ name: string; variable: tf.LayerVariable }> {
    return this.attention.namedWeights;
  }

  /**
   * Projects the memory's keys and values once: pass the result as `memoryCache` at every
   * decoding step of this source batch. The caller owns (and disposes) the cache.
   */
  projectMemory(memory: tf.Tensor, memoryMask: tf.Tensor | null = null): MemoryCache {
    checkMemory('projectMemory', memory, memoryMask);
    this.ensureBuilt([null, null, memory.shape[2]!], memory.shape);
    const [key, value] = tf.tidy(() => {
      const kv = this.attention.projectKeyValue(memory, memory); // [B, Hkv, Ts, H], [B, Hkv, Ts, Hv]
      return [kv.key, kv.value];
    });
    const mask = memoryMask ? tf.tidy(() => keyMask(memoryMask)) : null; // [B, 1, Ts]
    return new MemoryCache(key!, value!, mask);
  }

  /**
   * Eager forward pass: `query` [B, Tq, d] with `memory` (or `memoryCache`) in the options.
   * Returns [B, Tq, dOut], or `[output, weights]` when `returnAttentionScores`.
   */
  override call(inputs: tf.Tensor | tf.Tensor[], options: CrossAttentionCallOptions = {}): tf.Tensor | tf.Tensor[] {
    const query = Array.isArray(inputs) ? inputs[0] : inputs;
    const memory = Array.isArray(inputs) ? inputs[1] : options.memory;
    const memoryMask = (Array.isArray(inputs) ? inputs[2] : undefined) ?? options.memoryMask ?? null;
    const { memoryCache = null, attentionMask = null, attentionBias = null, returnAttentionScores = false, training = false } = options;
    check(query instanceof tf.Tensor && query.rank === 3, () =>
      AttentionError.shapes(OP, 'query must be a rank-3 tensor [B, Tq, d]', { query: query instanceof tf.Tensor ? query.shape : [] }),
    );
    check((memory == null) !== (memoryCache == null), () =>
      AttentionError.value(OP, 'pass exactly one of memory and memoryCache', memory == null ? 'neither' : 'both'),
    );
    if (memoryCache) {
      check(memoryMask == null, () => AttentionError.value(OP, 'memoryMask belongs to projectMemory when a memoryCache is used', 'both'));
      check(memoryCache instanceof MemoryCache && memoryCache.batchSize === query.shape[0], () =>
        AttentionError.shapes(OP, 'memoryCache must be a MemoryCache with the batch of query', {
          query: query.shape,
          memoryKey: memoryCache instanceof MemoryCache ? memoryCache.key.shape : [],
        }),
      );
    } else {
      checkMemory(OP, memory!, memoryMask, query);
      this.ensureBuilt(query.shape, memory!.shape);
    }
    const Ts = memoryCache ? memoryCache.length : memory!.shape[1]!;
    const [B, Tq] = query.shape as [number, number, number];
    checkMaskShape('attentionMask', attentionMask, [B, this.attention.numHeads, Tq, Ts]);
    checkMaskShape('attentionBias', attentionBias, [B, this.attention.numHeads, Tq, Ts]);
    check(attentionBias == null || attentionBias.dtype === 'float32', () => AttentionError.value(OP, 'attentionBias must be float32', attentionBias!.dtype));
    const result = tf.tidy(() => {
      const kv = memoryCache ?? this.attention.projectKeyValue(memory!, memory!);
      const padding = memoryCache ? memoryCache.mask : memoryMask ? keyMask(memoryMask) : null; // [B, 1, Ts]
      const q = this.attention.projectQuery(query); // [B, N, Tq, H]
      const { output, weights } = this.attention.attendProjected(q, kv, {
        attentionMask: andKeyPaddingMask(padding, attentionMask), // [B, 1, Ts] & mask
        attentionBias,
        training,
        returnAttentionScores,
      });
      return weights ? [output, weights] : [output];
    });
    return result.length === 2 ? result : result[0]!;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const list = Array.isArray(inputShape[0]) ? (inputShape as tf.Shape[]) : [inputShape as tf.Shape];
    const [query, memory = query] = list;
    return this.attention.computeOutputShape([query!, memory!]);
  }

  override getConfig(): tf.serialization.ConfigDict {
    const {
      name: _n,
      trainable: _t,
      useCausalMask: _c,
      returnAttentionScores: _r,
      queryShape,
      valueShape,
      keyShape: _k,
      ...attention
    } = this.attention.getConfig();
    return { ...attention, queryShape: queryShape ?? null, memoryShape: valueShape ?? null, ...super.getConfig() };
  }

  /** Disposes the weights (held by the inner attention layer). */
  override dispose(): ReturnType<tf.layers.Layer['dispose']> {
    const inner = this.attention.dispose();
    countBuiltLayer(this);
    const outer = super.dispose();
    return { refCountAfterDispose: outer.refCountAfterDispose, numDisposedVariables: inner.numDisposedVariables };
  }

  /** The inner attention layer owns and disposes the weights. */
  protected override disposeWeights(): number {
    return 0;
  }

  private ensureBuilt(query: tf.Shape, memory: tf.Shape) {
    if (!this.built) this.build([query, memory]);
  }
}
registerAttnkitClass(CrossAttention, 'CrossAttention');

/** Rank <= 3 must broadcast to [B, Tq, Ts], rank 4 to [B, N, Tq, Ts]. */
function checkMaskShape(name: string, x: tf.Tensor | null, [B, N, Tq, Ts]: number[]) {
  if (x == null) return;
  check(x instanceof tf.Tensor && !x.isDisposed, () => AttentionError.value(OP, `${name} must be a live tensor`, typeof x));
  const target = x.rank === 4 ? [B!, N!, Tq!, Ts!] : [B!, Tq!, Ts!];
  const fits = x.rank <= 4 && broadcastShapes(x.shape, target)?.every((d, i) => d === target[i]);
  check(fits === true, () =>
    AttentionError.shapes(OP, `${name} must broadcast to [B, Tq, Ts] = ${formatShape([B!, Tq!, Ts!])} or [B, N, Tq, Ts] = ${formatShape([B!, N!, Tq!, Ts!])}`, {
      [name]: x.shape,
    }),
  );
}

/** [B, Ts] padding mask -> Keras attention mask [B, 1, Ts] (broadcasts over Tq), bool. */
function keyMask(mask: tf.Tensor): tf.Tensor3D {
  return tf.expandDims(toBoolMask(mask), 1) as tf.Tensor3D; // [B, 1, Ts]
}

function checkMemory(op: string, memory: tf.Tensor, memoryMask: tf.Tensor | null, query?: tf.Tensor) {
  check(memory instanceof tf.Tensor && !memory.isDisposed && memory.rank === 3 && memory.size > 0, () =>
    AttentionError.shapes(op, 'memory must be a non-empty rank-3 tensor [B, Ts, dm]', { memory: memory instanceof tf.Tensor ? memory.shape : [] }),
  );
  if (query) {
    check(query.shape[0] === memory.shape[0], () =>
      AttentionError.shapes(op, 'query and memory batch sizes must match', { query: query.shape, memory: memory.shape }),
    );
  }
  if (memoryMask != null) {
    check(memoryMask instanceof tf.Tensor && memoryMask.rank === 2 && memoryMask.shape[0] === memory.shape[0] && memoryMask.shape[1] === memory.shape[1], () =>
      AttentionError.shapes(op, 'memoryMask must be [B, Ts] like memory', {
        memory: memory.shape,
        memoryMask: memoryMask instanceof tf.Tensor ? memoryMask.shape : [],
      }),
    );
  }
}
