import { reshapeView, rowLogSumExp } from '@attnkit/core';
import { AttentionError } from '@attnkit/masking';
import { check } from '@attnkit/masking/internal';
import * as tf from '@tensorflow/tfjs';
import type { DecoderState, Transformer } from './model.js';
import { tidy } from './tidy.js';

export interface DecodeOptions {
  /** Longest output in tokens (EOS not counted). Default source length + 50. */
  maxLength?: number;
  /** Decode on the KV and memory caches (true) or recompute the whole prefix each step. Default true. */
  useCache?: boolean;
  /** Collect attention weights for every generated token. Default false. */
  returnAttention?: boolean;
}

export interface BeamOptions extends DecodeOptions {
  /** Hypotheses kept per sentence. Default 4. */
  beamSize?: number;
  /** GNMT length penalty α: scores are divided by ((5 + length) / 6)^α. Default 0.6. */
  lengthPenalty?: number;
}

/** Attention of one generated token, per decoder layer: self [heads][keys so far], cross [heads][source]. */
export type TokenAttention = Array<{ self: number[][]; cross: number[][] }>;

export interface Hypothesis {
  /** Generated tokens, without BOS and EOS. */
  tokens: number[];
  /** Sum of token log-probabilities (EOS included when generated); beam search divides by the length penalty. */
  score: number;
  /** Per generated token (EOS included), when `returnAttention`. */
  attention?: TokenAttention[];
}

type StepAttention = Array<{ self: tf.Tensor4D; cross: tf.Tensor4D }>;

/** What one decoding step computes: next-token logits [B, V], their log-sum-exp [B] and, on request, each layer's attention [B, N, 1, Tk]. */
interface StepTensors {
  logits: tf.Tensor2D;
  lse: tf.Tensor1D;
  attention: StepAttention | null;
}

/**
 * The same, read back: each row's next-token logits (views of one buffer) and its log-sum-exp, so
 * that token j's log-probability is `logits[r][j] - lse[r]` (ranking logits ranks
 * log-probabilities), and the attention as arrays.
 */
interface StepValues {
  logits: Float32Array[];
  lse: Float32Array;
  attention: Array<{ self: number[][][][]; cross: number[][][][] }> | null;
}

/** `logits` [rows, V] (flat) as rows. */
const rowsOf = (logits: Float32Array, V: number) => Array.from({ length: logits.length / V }, (_, r) => logits.subarray(r * V, (r + 1) * V));

/** Index of the largest value (the first of equals). */
function argMax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * A decoding loop written once for synchronous and asynchronous reads: it yields each step's
 * tensors, is resumed with their values, and returns the hypotheses. `runSync` drives it with
 * `arraySync` (cpu, wasm, webgl), `runAsync` with `array()` (needed on webgpu, whose synchronous
 * reads are slow or unsupported).
 */
type DecodeLoop = Generator<StepTensors, Hypothesis[], StepValues>;

/** Row `r` of each layer's [B, N, 1, T] weights as nested arrays. */
function rowAttention(att: NonNullable<StepValues['attention']>, r: number): TokenAttention {
  return att.map(({ self, cross }) => ({
    self: self[r]!.map((head) => head[0]!),
    cross: cross[r]!.map((head) => head[0]!),
  }));
}

const attentionTensors = (t: StepTensors) => (t.attention ?? []).flatMap((a) => [a.self, a.cross]);
const stepTensors = (t: StepTensors) => [t.logits, t.lse, ...attentionTensors(t)];

function readSync(t: StepTensors): StepValues {
  const attention = t.attention?.map((a) => ({ self: a.self.arraySync(), cross: a.cross.arraySync() })) ?? null;
  return { logits: rowsOf(t.logits.dataSync() as Float32Array, t.logits.shape[1]), lse: t.lse.dataSync() as Float32Array, attention };
}

async function readAsync(t: StepTensors): Promise<StepValues> {
  const [logits, lse, ...att] = await Promise.all([t.logits.data(), t.lse.data(), ...attentionTensors(t).map((x) => x.array())]);
  const attention = t.attention ? t.attention.map((_, i) => ({ self: att[2 * i] as number[][][][], cross: att[2 * i + 1] as number[][][][] })) : null;
  return { logits: rowsOf(logits as Float32Array, t.logits.shape[1]), lse: lse as Float32Array, attention };
}

/** Yields one step's tensors to the driver, returns their values and disposes them either way. */
function* readStep(tensors: StepTensors): Generator<StepTensors, StepValues, StepValues> {
  try {
    return yield tensors;
  } finally {
    tf.dispose(stepTensors(tensors));
  }
}

function runSync(loop: DecodeLoop): Hypothesis[] {
  let next = loop.next();
  try {
    while (!next.done) next = loop.next(readSync(next.value));
    return next.value;
  } finally {
    // a failed read: close the loop so it disposes its tensors and caches
    if (!next.done) loop.return([]);
  }
}

async function runAsync(loop: DecodeLoop): Promise<Hypothesis[]> {
  let next = loop.next();
  try {
    while (!next.done) next = loop.next(await readAsync(next.value));
    return next.value;
  } finally {
    if (!next.done) loop.return([]);
  }
}

/**
 * One batch of hypotheses being decoded. With caches, each step feeds only the last token and
 * the caches follow the hypotheses through `reorder`; without, each step re-runs the whole
 * prefix against the memory rows the hypotheses came from.
 */
class Stepper {
  private readonly memory: tf.Tensor3D;
  private readonly memoryMask: tf.Tensor2D;
  private state: DecoderState | null;
  /** Memory row of each hypothesis (used without caches). */
  private rows: number[];

  constructor(
    private readonly model: Transformer,
    source: tf.Tensor,
    useCache: boolean,
    private readonly returnAttention: boolean,
  ) {
    ({ memory: this.memory, memoryMask: this.memoryMask } = model.encode(source));
    this.state = useCache ? model.startDecoding(this.memory, this.memoryMask) : null;
    this.rows = Array.from({ length: source.shape[0]! }, (_, i) => i);
  }

  /** Logits [B, V] of the next token after each prefix, their log-sum-exp [B], and its attention per layer; the caller disposes them. */
  step(prefixes: number[][]): StepTensors {
    const { model, state, returnAttention } = this;
    return tidy((): StepTensors => {
      const B = prefixes.length;
      const ids = state
        ? tf.tensor2d(
            prefixes.map((p) => [p[p.length - 1]!]),
            [B, 1],
            'int32',
          ) // [B, 1]
        : tf.tensor2d(prefixes, [B, prefixes[0]!.length], 'int32'); // [B, t]
      const out = state
        ? model.decode(ids, { state, returnAttention })
        : model.decode(ids, { memory: tf.gather(this.memory, this.rows), memoryMask: tf.gather(this.memoryMask, this.rows), returnAttention });
      const [, T, V] = out.logits.shape;
      // with the caches T = 1: the last position is all there is
      const last = T === 1 ? out.logits : tf.slice(out.logits, [0, T - 1, 0], [-1, 1, -1]); // [B, 1, V]
      const logits = reshapeView<tf.Rank.R2>(last, [B, V]); // [B, V]
      const lastQuery = (a: tf.Tensor4D) => (T === 1 ? a : tf.slice(a, [0, 0, T - 1, 0], [-1, -1, 1, -1])); // [B, N, 1, Tk]
      const attention = out.attention?.map((a) => ({ self: lastQuery(a.self), cross: lastQuery(a.cross) })) ?? null;
      // the log-softmax's normaliser on the backend (one SIMD kernel on wasm with @attnkit/kernels)
      return { logits, lse: rowLogSumExp(logits) as tf.Tensor1D, attention };
    });
  }

  /** Row `i` of the next batch continues row `parents[i]` of this one. */
  reorder(parents: number[]) {
    if (this.state) for (const c of [...this.state.selfCaches, ...this.state.memoryCaches]) c.reorder(parents);
    this.rows = parents.map((r) => this.rows[r]!);
  }

  dispose() {
    if (this.state) for (const c of [...this.state.selfCaches, ...this.state.memoryCaches]) c.dispose();
    this.state = null;
    tf.dispose([this.memory, this.memoryMask]);
  }
}

function checkSource(op: string, model: Transformer, source: unknown) {
  check(source instanceof tf.Tensor && source.rank === 2 && source.dtype === 'int32' && source.size > 0, () =>
    AttentionError.shapes(op, 'source must be non-empty int32 token ids [B, Ts]', { source: source instanceof tf.Tensor ? source.shape : [] }),
  );
  void model;
}

function checkMaxLength(op: string, maxLength: number) {
  check(Number.isInteger(maxLength) && maxLength > 0, () => AttentionError.value(op, 'maxLength must be a positive integer', maxLength));
}

/**
 * Greedy decoding: the most likely next token at every step, until EOS or `maxLength`, for
 * every sentence of `source` [B, Ts] at once. Returns one hypothesis per sentence.
 */
export function greedyDecode(model: Transformer, source: tf.Tensor, options: DecodeOptions = {}): Hypothesis[] {
  return runSync(greedyLoop('greedyDecode', model, source, options));
}

/**
 * {@link greedyDecode} reading each step's results with `await tensor.array()` instead of
 * `arraySync()`: the same hypotheses, without blocking on GPU backends (webgpu cannot read
 * synchronously). Do not run other tfjs work on `model` while it is pending.
 */
export function greedyDecodeAsync(model: Transformer, source: tf.Tensor, options: DecodeOptions = {}): Promise<Hypothesis[]> {
  return runAsync(greedyLoop('greedyDecodeAsync', model, source, options));
}

function* greedyLoop(op: string, model: Transformer, source: tf.Tensor, options: DecodeOptions): DecodeLoop {
  checkSource(op, model, source);
  const { maxLength = (source as tf.Tensor).shape[1]! + 50, useCache = true, returnAttention = false } = options;
  checkMaxLength(op, maxLength);
  const { bosId, eosId } = model.config;
  const B = (source as tf.Tensor).shape[0]!;
  const stepper = new Stepper(model, source as tf.Tensor, useCache, returnAttention);
  const hyps: Array<Hypothesis & { done: boolean; prefix: number[] }> = Array.from({ length: B }, () => ({
    tokens: [],
    score: 0,
    done: false,
    prefix: [bosId],
    ...(returnAttention ? { attention: [] } : {}),
  }));
  try {
    for (let t = 0; t <= maxLength && hyps.some((h) => !h.done); t++) {
      const { logits, lse, attention } = yield* readStep(stepper.step(hyps.map((h) => h.prefix)));
      hyps.forEach((h, b) => {
        if (h.done) return;
        const row = logits[b]!;
        // at maxLength only EOS may follow
        const next = t === maxLength ? eosId : argMax(row);
        h.score += row[next]! - lse[b]!;
        h.prefix.push(next);
        if (attention) h.attention!.push(rowAttention(attention, b));
        if (next === eosId) h.done = true;
        else h.tokens.push(next);
      });
    }
  } finally {
    stepper.dispose();
  }
  return hyps.map(({ tokens, score, attention }) => ({ tokens, score, ...(attention ? { attention } : {}) }));
}

/**
 * Beam search: `beamSize` hypotheses per sentence; at each step the best 2·beamSize
 * continuations are ranked, those ending in EOS within the top beamSize are finished (scored
 * with the GNMT length penalty), the best beamSize others become the next beams. A sentence stops once `beamSize` hypotheses have
 * finished. Returns the best hypothesis per sentence.
 */
export function beamSearch(model: Transformer, source: tf.Tensor, options: BeamOptions = {}): Hypothesis[] {
  return runSync(beamLoop('beamSearch', model, source, options));
}

/** {@link beamSearch} with asynchronous reads, as {@link greedyDecodeAsync}. */
export function beamSearchAsync(model: Transformer, source: tf.Tensor, options: BeamOptions = {}): Promise<Hypothesis[]> {
  return runAsync(beamLoop('beamSearchAsync', model, source, options));
}

function* beamLoop(op: string, model: Transformer, source: tf.Tensor, options: BeamOptions): DecodeLoop {
  checkSource(op, model, source);
  const { maxLength = (source as tf.Tensor).shape[1]! + 50, useCache = true, returnAttention = false, beamSize = 4, lengthPenalty = 0.6 } = options;
  checkMaxLength(op, maxLength);
  check(Number.isInteger(beamSize) && beamSize > 0, () => AttentionError.value(op, 'beamSize must be a positive integer', beamSize));
  check(Number.isFinite(lengthPenalty) && lengthPenalty >= 0, () => AttentionError.value(op, 'lengthPenalty must be a non-negative number', lengthPenalty));
  const { bosId, eosId } = model.config;
  const B = (source as tf.Tensor).shape[0]!;
  const K = beamSize;
  const penalty = (len: number) => ((5 + len) / 6) ** lengthPenalty;
  type Beam = { prefix: number[]; score: number; attention: TokenAttention[]; row: number };
  // Start with one live beam per sentence; it widens to K after the first step.
  let beams: Beam[][] = Array.from({ length: B }, (_, b) => [{ prefix: [bosId], score: 0, attention: [], row: b }]);
  const finished: Hypothesis[][] = Array.from({ length: B }, () => []);
  const stepper = new Stepper(model, source as tf.Tensor, useCache, returnAttention);
  try {
    for (let t = 0; t <= maxLength; t++) {
      const flat = beams.flat();
      if (flat.length === 0) break;
      const { logits, lse, attention } = yield* readStep(stepper.step(flat.map((h) => h.prefix)));
      let row = 0;
      beams = beams.map((bs, b) => {
        const candidates: Array<{ parent: number; token: number; score: number }> = [];
        bs.forEach((beam, j) => {
          const [x, norm] = [logits[row + j]!, lse[row + j]!];
          // the 2K best tokens of each beam cover the 2K best continuations overall
          const best = t === maxLength ? [eosId] : topK(x, 2 * K);
          for (const token of best) candidates.push({ parent: row + j, token, score: beam.score + x[token]! - norm });
        });
        candidates.sort((x, y) => y.score - x.score);
        const next: Beam[] = [];
        for (const [rank, c] of candidates.slice(0, 2 * K).entries()) {
          const parent = flat[c.parent]!;
          const att = attention ? [...parent.attention, rowAttention(attention, c.parent)] : parent.attention;
          if (c.token === eosId) {
            // an EOS finishes a hypothesis only from the top K ranks (so beam size 1 is greedy)
            if (rank < K && finished[b]!.length < K) {
              const tokens = parent.prefix.slice(1);
              finished[b]!.push({ tokens, score: c.score / penalty(tokens.length + 1), ...(attention ? { attention: att } : {}) });
            }
          } else if (next.length < K) {
            next.push({ prefix: [...parent.prefix, c.token], score: c.score, attention: att, row: c.parent });
          }
        }
        row += bs.length;
        // a sentence with K finished hypotheses stops decoding
        return finished[b]!.length >= K ? [] : next;
      });
      const parents = beams.flat().map((beam) => beam.row);
      if (parents.length > 0) stepper.reorder(parents);
    }
  } finally {
    stepper.dispose();
  }
  return finished.map((hyps) => hyps.reduce((best, h) => (h.score > best.score ? h : best)));
}

/**
 * Indices of the k largest values, largest first (ties: lower index first), in one pass with a
 * small sorted buffer: O(V·k) for k << V instead of sorting the whole vocabulary.
 */
function topK(values: ArrayLike<number>, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (idx.length === k && !(v > values[idx[k - 1]!]!)) continue;
    let at = idx.length;
    while (at > 0 && v > values[idx[at - 1]!]!) at--;
    idx.splice(at, 0, i);
    if (idx.length > k) idx.pop();
  }
  return idx;
}
