/**
 * @attnkit/transformer decoding, in the decode modes: tokens/s of `greedyDecode` with
 * `useCache: true` (decode-kv-cache: a KVCache per decoder layer and the encoder memory
 * projected once) and `useCache: false` (decode-no-cache: every step re-runs the decoder over
 * the whole prefix and re-projects the memory).
 *
 * The model is a small random-weights Transformer with a fixed seed: dModel = H·d, H heads,
 * ff 4·dModel, 3 + 3 layers, vocabulary 1000, pre-norm, no dropout. Here T is the SOURCE
 * length and `--decode-steps` the number of generated target tokens (B sentences at once).
 *
 * What one timed run is: `greedyDecode(model, source, { maxLength: steps, useCache })` — one
 * encoder pass, then `steps` decoder steps that each generate a token, then the step at which
 * greedyDecode forces EOS (maxLength reached): steps + 1 decoder calls in all. tokens/s is
 * steps·B / time. To force all `steps` tokens, the EOS id is chosen (untimed, in setup) among
 * the ids the model never picks: a cached greedy probe of `steps` steps collects the argmax
 * ids, and the timed model is rebuilt from the same seed with the smallest other id as EOS
 * (the seed alone fixes the weights). A run that still stops early throws.
 *
 * The error check compares each hypothesis' score (sum of log-probabilities of its tokens and
 * the final EOS, from the incremental decode) with the same sum from ONE teacher-forced
 * forward pass over [BOS, tokens] (`model.logits`), in float32 both: it measures how far
 * incremental decoding drifts from the full forward, not an error against float64.
 */
import { randomValues } from '@attnkit/test-utils/random';
import { Transformer, greedyDecode } from '@attnkit/transformer';
import * as tf from '@tensorflow/tfjs-core';
import type { BenchImplementation, Problem, Session } from '../registry.js';
import type { BenchConfig } from '../types.js';

/** Fixed model sizes beside dModel = H·d (from the shape) and the seed of every weight. */
export const DECODER_MODEL = { vocab: 1000, layers: 3, ffMultiple: 4, seed: 7 } as const;
/** Ids below this are padding (0), BOS (1) and the default EOS (2): never drawn for the source. */
const FIRST_WORD = 3;

function makeModel(c: BenchConfig, eosId: number): Transformer {
  const dModel = c.H * c.d;
  return new Transformer({
    sourceVocabSize: DECODER_MODEL.vocab,
    targetVocabSize: DECODER_MODEL.vocab,
    dModel,
    numHeads: c.H,
    ffDim: DECODER_MODEL.ffMultiple * dModel,
    numEncoderLayers: DECODER_MODEL.layers,
    numDecoderLayers: DECODER_MODEL.layers,
    dropout: 0,
    normFirst: true,
    // sinusoidal positions: any source or target length
    positional: 'sinusoidal',
    eosId,
    seed: DECODER_MODEL.seed,
  }).build();
}

/** Seeded source ids [B, Ts] in [FIRST_WORD, vocab) (seed 11; the same for every backend and mode). */
export function sourceIds(B: number, Ts: number): number[][] {
  const u = randomValues(B * Ts, 11, 0, 1);
  const span = DECODER_MODEL.vocab - FIRST_WORD;
  return Array.from({ length: B }, (_, b) => Array.from({ length: Ts }, (_, t) => FIRST_WORD + Math.min(span - 1, Math.floor(u[b * Ts + t]! * span))));
}

/** Every id the model picks in `steps` cached greedy steps (no EOS stops the probe). */
function probePicks(model: Transformer, source: tf.Tensor2D, steps: number): Set<number> {
  const B = source.shape[0];
  const picked = new Set<number>();
  const { memory, memoryMask } = model.encode(source);
  const state = model.startDecoding(memory, memoryMask);
  let last = Array.from({ length: B }, () => model.config.bosId);
  try {
    for (let s = 0; s < steps; s++) {
      const next = tf.tidy(() => {
        const ids = tf.tensor2d(
          last.map((id) => [id]),
          [B, 1],
          'int32',
        ); // [B, 1]
        const { logits } = model.decode(ids, { state }); // [B, 1, V]
        return tf.argMax(tf.reshape(logits, [B, DECODER_MODEL.vocab]), 1); // [B]
      });
      last = Array.from(next.dataSync());
      next.dispose();
      for (const id of last) picked.add(id);
    }
  } finally {
    for (const cache of [...state.selfCaches, ...state.memoryCaches]) cache.dispose();
    tf.dispose([memory, memoryMask]);
  }
  return picked;
}

/** The smallest id from FIRST_WORD up that is not in `picked`. */
export function unusedId(picked: ReadonlySet<number>, vocab: number): number {
  for (let id = FIRST_WORD; id < vocab; id++) if (!picked.has(id)) return id;
  throw new Error(`bench decoder: the model picked every id of its ${vocab}-token vocabulary; no EOS can be banned`);
}

interface DecoderSession extends Session {
  model: Transformer;
  source: tf.Tensor2D;
  /** The last run's generated tokens per sentence. */
  tokens: number[][];
}

async function setup(problem: Problem): Promise<DecoderSession> {
  const c = problem.config;
  const steps = c.decodeSteps;
  const source = tf.tensor2d(sourceIds(c.B, problem.T), [c.B, problem.T], 'int32'); // [B, Ts]
  const probe = makeModel(c, 2);
  const eosId = unusedId(probePicks(probe, source, steps), DECODER_MODEL.vocab);
  probe.dispose();
  const model = makeModel(c, eosId);
  const session: DecoderSession = {
    model,
    source,
    tokens: [],
    run: async () => void (await session.output()),
    output: async () => {
      const hyps = greedyDecode(model, source, { maxLength: steps, useCache: c.mode === 'decode-kv-cache' });
      const short = hyps.findIndex((h) => h.tokens.length !== steps);
      if (short >= 0) throw new Error(`bench decoder: sentence ${short} stopped after ${hyps[short]!.tokens.length} of ${steps} tokens (EOS ${eosId})`);
      session.tokens = hyps.map((h) => h.tokens);
      return Float32Array.from(hyps.map((h) => h.score));
    },
    dispose: () => {
      model.dispose();
      source.dispose();
    },
  };
  return session;
}

/** Each sentence's score recomputed from one teacher-forced forward over [BOS, tokens]: Σ log p(token) + log p(EOS). */
async function oracle(_problem: Problem, s: Session): Promise<Float64Array> {
  const { model, source, tokens } = s as DecoderSession;
  const { bosId, eosId } = model.config;
  const B = tokens.length;
  const L = tokens[0]!.length + 1;
  const logp = tf.tidy(() => {
    const targetIn = tf.tensor2d(
      tokens.map((t) => [bosId, ...t]),
      [B, L],
      'int32',
    ); // [B, L]
    return tf.logSoftmax(model.logits(source, targetIn)); // [B, L, V]
  });
  const data = await logp.data();
  logp.dispose();
  const V = DECODER_MODEL.vocab;
  return Float64Array.from(tokens, (t, b) => [...t, eosId].reduce((sum, id, i) => sum + data[(b * L + i) * V + id]!, 0));
}

/**
 * FLOPs of one greedyDecode run (B sentences, source Ts = T, `steps` tokens + the EOS step),
 * counting the products actually computed: the encoder once; per decoder step, per layer, the
 * self-attention projections and scores over the prefix, the cross-attention query/output
 * projections and scores over the source, the feed-forward; the one-hot embedding product and
 * the output projection. With the cache a step runs 1 position and the memory is projected once;
 * without, a step runs all its L positions and re-projects the memory (keys and values) per layer.
 */
export function decoderFlops(c: Pick<BenchConfig, 'B' | 'H' | 'd' | 'T' | 'decodeSteps' | 'mode'>): number {
  const D = c.H * c.d;
  const F = DECODER_MODEL.ffMultiple * D;
  const V = DECODER_MODEL.vocab;
  const N = DECODER_MODEL.layers;
  const Ts = c.T;
  const cached = c.mode === 'decode-kv-cache';
  const mm = (rows: number, inner: number, cols: number) => 2 * rows * inner * cols;
  const memoryProjection = N * 2 * mm(Ts, D, D); // keys and values of the memory, per layer
  const encoder = mm(Ts, V, D) + N * (4 * mm(Ts, D, D) + 4 * Ts * Ts * D + mm(Ts, D, F) + mm(Ts, F, D));
  let total = encoder + (cached ? memoryProjection : 0);
  for (let s = 1; s <= c.decodeSteps + 1; s++) {
    const rows = cached ? 1 : s; // positions run this step
    const layer = 4 * mm(rows, D, D) + 4 * rows * s * D + 2 * mm(rows, D, D) + 4 * rows * Ts * D + mm(rows, D, F) + mm(rows, F, D);
    total += mm(rows, V, D) + N * layer + mm(rows, D, V) + (cached ? 0 : memoryProjection);
  }
  return c.B * total;
}

export const attnkitDecoder: BenchImplementation = {
  name: 'attnkit-decoder',
  description:
    '@attnkit/transformer greedyDecode (model level; T = source length, decode steps = generated tokens): random seeded Transformer, dModel H·d, ff 4·dModel, 3+3 layers, vocab 1000; decode-kv-cache = useCache true, decode-no-cache = useCache false; one run = encoder + steps tokens + the forced EOS step; max error = |decode score − teacher-forced score| (float32, not an oracle)',
  engine: 'tfjs',
  level: 'model',
  backends: ['cpu', 'wasm', 'webgpu'],
  modes: ['decode-kv-cache', 'decode-no-cache'],
  unsupported: (c) => {
    if (c.Hkv !== c.H) return 'the Transformer has no grouped-query attention option';
    if (c.window !== null) return 'the Transformer has no sliding-window option';
    return null;
  },
  flops: decoderFlops,
  oracle,
  setup,
};
