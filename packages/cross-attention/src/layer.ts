import { AttentionError, check } from '@attnkit/masking';
import { MultiHeadAttention, type MultiHeadAttentionArgs } from '@attnkit/multi-head';
import * as tf from '@tensorflow/tfjs';
import { MemoryCache } from './cache.js';

const OP = 'CrossAttention';
type Kwargs = Record<string, unknown>;

export type CrossAttentionArgs = MultiHeadAttentionArgs;

export interface CrossAttentionCallOptions {
  /** Encoder memory [B, Ts, dm]. Required unless `memoryCache` is given. */
  memory?: tf.Tensor | null;
  /** Memory padding mask [B, Ts], true = real token (bool, or nonzero = real). Default: all real. */
  memoryMask?: tf.Tensor | null;
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
 * Keras weights), plus {@link projectMemory}, which projects the memory's keys and values
 * once per source batch so each decoding step only projects its own queries.
 */
export class CrossAttention extends tf.layers.Layer {
  static className = 'CrossAttention';
  readonly attention: MultiHeadAttention;

  constructor(args: CrossAttentionArgs) {
    super({ ...(args?.name !== undefined ? { name: args.name } : {}), ...(args?.trainable !== undefined ? { trainable: args.trainable } : {}) });
    const { name: _name, trainable: _trainable, ...rest } = args ?? ({} as CrossAttentionArgs);
    this.attention = new MultiHeadAttention(rest);
  }

  override build(inputShape: tf.Shape | tf.Shape[]): void {
    const [query, memory] = inputShape as tf.Shape[];
    check(Array.isArray(query) && Array.isArray(memory), () =>
      AttentionError.value(OP, 'build takes [queryShape, memoryShape]', JSON.stringify(inputShape)),
    );
    if (!this.attention.built) {
      this.attention.build([query, memory]);
      this.attention.built = true;
    }
    this.built = true;
  }

  /** Builds from the query and memory shapes first (tfjs would build from the query alone). */
  override apply(inputs: tf.Tensor | tf.Tensor[] | tf.SymbolicTensor | tf.SymbolicTensor[], kwargs: Kwargs = {}) {
    const query = Array.isArray(inputs) ? inputs[0] : inputs;
    const memory = Array.isArray(inputs) ? inputs[1] : kwargs.memory;
    if (!this.built && query instanceof tf.Tensor && memory instanceof tf.Tensor && query.rank === 3 && memory.rank === 3) {
      this.build([query.shape, memory.shape]);
    }
    return super.apply(inputs, kwargs);
  }

  override get trainableWeights(): tf.LayerVariable[] {
    return this.trainable ? this.attention.trainableWeights : [];
  }

  override get nonTrainableWeights(): tf.LayerVariable[] {
    return this.trainable ? this.attention.nonTrainableWeights : this.attention.weights;
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
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs = {}): tf.Tensor | tf.Tensor[] {
    const options = kwargs as CrossAttentionCallOptions;
    const query = Array.isArray(inputs) ? inputs[0] : inputs;
    const memory = Array.isArray(inputs) ? inputs[1] : options.memory;
    const { memoryMask = null, memoryCache = null, returnAttentionScores = false, training = false } = options;
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
    const result = tf.tidy(() => {
      const kv = memoryCache ?? this.attention.projectKeyValue(memory!, memory!);
      const mask = memoryCache ? memoryCache.mask : memoryMask ? keyMask(memoryMask) : null; // [B, 1, Ts]
      const q = this.attention.projectQuery(query); // [B, N, Tq, H]
      const { output, weights } = this.attention.attendProjected(q, kv, {
        attentionMask: mask,
        training,
        returnAttentionScores,
      });
      return weights ? [output, weights] : [output];
    });
    return result.length === 2 ? result : result[0]!;
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape | tf.Shape[] {
    const [query, memory] = inputShape as tf.Shape[];
    return this.attention.computeOutputShape([query!, memory!]);
  }

  override getConfig(): tf.serialization.ConfigDict {
    const { name: _n, trainable: _t, ...attention } = this.attention.getConfig();
    return { ...attention, ...super.getConfig() };
  }

  /** Disposes the weights (held by the inner attention layer). */
  override dispose() {
    const inner = this.attention.dispose();
    if (this._refCount === null && this.built) this._refCount = 1;
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
tf.serialization.registerClass(CrossAttention);

/** [B, Ts] padding mask -> Keras attention mask [B, 1, Ts] (broadcasts over Tq), bool. */
function keyMask(mask: tf.Tensor): tf.Tensor3D {
  const bool = mask.dtype === 'bool' ? mask : tf.notEqual(mask, 0);
  return tf.expandDims(bool, 1) as tf.Tensor3D; // [B, 1, Ts]
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
