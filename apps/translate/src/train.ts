/**
 * Training: Adam (β = 0.9, 0.98, ε = 1e-9) with the paper's warm-up then inverse-square-root
 * learning rate, label smoothing 0.1, length-bucketed batches, periodic dev scores, atomic
 * checkpoints with the optimizer state, and resumption from them.
 */
import { existsSync } from 'node:fs';
import { Adam } from '@attnkit/core';
import * as tf from '@tensorflow/tfjs';
import type { CheckpointMetadata, Json } from './checkpoint.js';
import type { DataSourceName } from './data/sources.js';
import { evaluate } from './evaluate.js';
import { loadTask } from './tasks.js';
import { BPETokenizer, padBatch } from './tokenizer/bpe.js';
import { type ModelSize, Translator } from './translator.js';
import { seededRandom, seededShuffle } from './util.js';

export interface TrainOptions {
  task: DataSourceName;
  size: ModelSize;
  /** Checkpoint path (written atomically every `saveEvery` steps and at the end). */
  out: string;
  /** Stop at this many steps in total (counting resumed ones). Default: no limit. */
  steps?: number;
  /** Stop after this many minutes of this run. Default: no limit. */
  minutes?: number;
  /** Sentence pairs per batch. Default 64. */
  batchSize?: number;
  /** Warm-up steps of the learning-rate schedule. Default 400. */
  warmup?: number;
  /** Multiplier of the schedule's rate d^-0.5 · min(step^-0.5, step · warmup^-1.5). Default 1. */
  lrScale?: number;
  labelSmoothing?: number;
  dropout?: number;
  /** BPE vocabulary size (a new run only). Default 160 for numbers, 4000 for ding. */
  vocabSize?: number;
  /** Dev scores every this many steps. Default 500. */
  evalEvery?: number;
  /** Dev sentences scored each time. Default 200. */
  devLimit?: number;
  saveEvery?: number;
  seed?: number;
  /**
   * Ding only: add the dictionary's word and phrase pairs to the training data (dev and test stay
   * example sentences). Default false.
   */
  dictionary?: boolean;
  /**
   * With `dictionary`: the dictionary pairs are cut into this many seeded parts and each epoch
   * holds every train sentence once plus one part, so a sentence is seen `dictChunks` times as
   * often as a dictionary pair. Default 1 (every pair every epoch).
   */
  dictChunks?: number;
  /** Recorded in the checkpoint's metadata (`command`), e.g. the command line that trained it. */
  command?: string;
  /** Continue from `out` (model, optimizer and step). Default false. */
  resume?: boolean;
  /** Progress sink; default writes a bar to stderr. */
  log?: (line: string, final?: boolean) => void;
  /** Checked after every step; true stops training (and saves). */
  shouldStop?: () => boolean;
}

export interface TrainResult {
  step: number;
  seconds: number;
  loss: number;
  dev: Record<string, number> | null;
}

/**
 * Adam (@attnkit/core's: one fused update over every variable on wasm) whose learning rate
 * follows a schedule and whose whole state can be saved and restored.
 */
class ScheduledAdam extends Adam {
  set rate(lr: number) {
    this.learningRate = lr;
  }

  /** tfjs keeps the running β^t products private; they are state all the same. */
  private get powers() {
    return this as unknown as { accBeta1: tf.Variable; accBeta2: tf.Variable };
  }

  /** Iterations, moments (tfjs' order) and the running β^t products, by name. */
  async state(): Promise<tf.NamedTensorMap> {
    const out: tf.NamedTensorMap = { 'optimizer/beta1_power': this.powers.accBeta1, 'optimizer/beta2_power': this.powers.accBeta2 };
    for (const [i, w] of (await this.getWeights()).entries()) out[`optimizer/${i}`] = w.tensor;
    return out;
  }

  /**
   * Restores {@link state}. tfjs' own setWeights recomputes β^t as a power, which differs from
   * the running product in the last bits; the saved products make a resumed run exact.
   */
  async restore(state: tf.NamedTensorMap): Promise<void> {
    const ordered = Object.keys(state)
      .filter((n) => /^optimizer\/\d+$/.test(n))
      .sort((a, b) => Number(a.split('/')[1]) - Number(b.split('/')[1]));
    if (ordered.length === 0) return;
    await this.setWeights(ordered.map((name) => ({ name, tensor: state[name]! })));
    const [beta1, beta2] = [state['optimizer/beta1_power'], state['optimizer/beta2_power']];
    if (beta1 && beta2) {
      this.powers.accBeta1.assign(beta1);
      this.powers.accBeta2.assign(beta2);
    }
  }
}

/** The paper's schedule: d^-0.5 · min(step^-0.5, step · warmup^-1.5), times `scale`. */
export function learningRate(step: number, dModel: number, warmup: number, scale = 1): number {
  return scale * dModel ** -0.5 * Math.min(step ** -0.5, step * warmup ** -1.5);
}

interface Example {
  src: number[];
  tin: number[];
  tout: number[];
}

/** Batches of similar length: examples sorted by length, cut into batches, batch order shuffled per epoch. */
export function bucketBatches(examples: readonly Example[], batchSize: number): number[][] {
  const order = examples
    .map((_, i) => i)
    .sort((a, b) => examples[a]!.src.length + examples[a]!.tout.length - (examples[b]!.src.length + examples[b]!.tout.length));
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}

/**
 * Which batch every step trains on. Examples `[0, sentences)` are in every epoch; the rest
 * (dictionary pairs) are dealt into `chunks` seeded parts, epoch `e` holding part `e % chunks`.
 * Each epoch's examples are bucketed by length and its batch order shuffled from the seed
 * (with one part, exactly the batches of `bucketBatches` over everything).
 */
export function epochSchedule(examples: readonly Example[], sentences: number, chunks: number, batchSize: number, seed: number) {
  const extra = seededShuffle(
    Array.from({ length: examples.length - sentences }, (_, i) => sentences + i),
    seed * 104729 + 17,
  );
  const parts = Array.from({ length: chunks }, (_, c) => {
    const ids = [...Array.from({ length: sentences }, (_, i) => i), ...extra.filter((_, k) => k % chunks === c)].sort((a, b) => a - b);
    return bucketBatches(
      ids.map((i) => examples[i]!),
      batchSize,
    ).map((b) => b.map((j) => ids[j]!));
  });
  const cycle = parts.reduce((n, p) => n + p.length, 0);
  return {
    /** Batches in one pass over every part. */
    cycle,
    /** The example indices of step `step` (1-based). */
    batchAt(step: number): number[] {
      let rest = (step - 1) % cycle;
      let epoch = Math.floor((step - 1) / cycle) * chunks;
      for (const part of parts) {
        if (rest < part.length) return seededShuffle(part, seed * 7919 + epoch)[rest]!;
        rest -= part.length;
        epoch++;
      }
      throw new Error('unreachable');
    },
  };
}

function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'='.repeat(Math.max(0, filled - 1))}${filled > 0 ? '>' : ''}${' '.repeat(width - filled)}]`;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const m = Math.floor(seconds / 60);
  return m > 0 ? `${m}m${String(Math.round(seconds % 60)).padStart(2, '0')}s` : `${Math.round(seconds)}s`;
}

function defaultLog(line: string, final = false) {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
  else if (final) process.stderr.write(`${line}\n`);
}

/**
 * Runs `f` with Math.random drawing from a generator seeded with `seed`. The dropout patterns of
 * a training step (@attnkit/core's dropout and the attention kernel's draw their seeds from
 * Math.random) then follow from the run's seed and the step number, so that a run is remade
 * exactly by the same command, and a resumed run repeats an uninterrupted one.
 */
function withSeededRandom<T>(seed: number, f: () => T): T {
  const original = Math.random;
  Math.random = seededRandom(seed);
  try {
    return f();
  } finally {
    Math.random = original;
  }
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const {
    task,
    size,
    out,
    batchSize = 64,
    warmup = 400,
    lrScale = 1,
    labelSmoothing = 0.1,
    evalEvery = 500,
    devLimit = 200,
    saveEvery = 250,
    seed = 1,
    resume = false,
    dictionary = false,
    dictChunks = 1,
    log = defaultLog,
    shouldStop = () => false,
  } = options;
  if (!(Number.isInteger(dictChunks) && dictChunks >= 1)) throw new Error(`train: dictChunks must be a positive integer, but got ${dictChunks}`);
  if (dictionary && task !== 'ding') throw new Error(`train: the dictionary pairs belong to the ding task, but the task is '${task}'`);
  const splits = loadTask(task, { dictionary });
  const trainPairs: ReadonlyArray<{ en: string; de: string }> = [...splits.train, ...splits.dictionary];
  // 1) model, tokenizer and optimizer: fresh, or from the checkpoint
  let translator: Translator;
  let step = 0;
  let optimizerState: tf.NamedTensorMap = {};
  let history: Json[] = [];
  let secondsBefore = 0;
  let command = options.command;
  if (resume && existsSync(out)) {
    const loaded = Translator.load(out);
    translator = loaded.translator;
    optimizerState = loaded.extra;
    step = Number(loaded.metadata.step ?? 0);
    secondsBefore = Number(loaded.metadata.trainSeconds ?? 0);
    history = (loaded.metadata.history as Json[] | undefined) ?? [];
    if (typeof loaded.metadata.command === 'string') command = loaded.metadata.command; // the command that started it
    // a resumed run must see the data of the run it continues, or it is not that run any more
    const m = loaded.metadata;
    const expected: Record<string, Json | undefined> = {
      seed,
      batchSize,
      dictionaryPairs: dictionary ? splits.dictionary.length : undefined,
      dictChunks: dictionary ? dictChunks : undefined,
    };
    for (const [key, value] of Object.entries(expected)) {
      if (m[key] !== undefined && m[key] !== value) {
        translator.dispose();
        tf.dispose(Object.values(optimizerState));
        throw new Error(
          `train: --resume of ${out}: it was trained with ${key} ${JSON.stringify(m[key])}, but this run has ${JSON.stringify(value ?? null)}; resume with the options it was started with`,
        );
      }
    }
  } else {
    const texts = trainPairs.flatMap((p) => [p.en, p.de]);
    const tokenizer = BPETokenizer.train(texts, { vocabSize: options.vocabSize ?? (task === 'numbers' ? 160 : 4000) });
    translator = Translator.create(tokenizer, { task, size, seed, ...(options.dropout !== undefined ? { dropout: options.dropout } : {}) });
  }
  const { model, tokenizer } = translator;
  const variables = model.variables();
  const optimizer = new ScheduledAdam(0, 0.9, 0.98, 1e-9);
  await optimizer.restore(optimizerState);

  // 2) data: encoded once, bucketed by length
  const max = translator.config.maxSourceTokens;
  const examples: Example[] = trainPairs.map((p) => {
    const de = tokenizer.encode(p.de, { eos: false, maxLength: max - 1 }).ids;
    return { src: tokenizer.encode(p.en, { eos: true, maxLength: max }).ids, tin: [1, ...de], tout: [...de, 2] };
  });
  const schedule = epochSchedule(examples, splits.train.length, dictChunks, batchSize, seed);
  const dModel = model.config.dModel;
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const deadline = options.minutes !== undefined ? options.minutes * 60 : Number.POSITIVE_INFINITY;
  const lastStep = options.steps ?? Number.POSITIVE_INFINITY;
  const firstStep = step;
  let loss = Number.NaN;
  let tokens = 0;
  let dev: Record<string, number> | null = null;

  const save = async () => {
    const state = await optimizer.state();
    const metadata: CheckpointMetadata = {
      trainingData: [task],
      step,
      trainSeconds: Math.round(secondsBefore + elapsed()),
      batchSize,
      seed,
      size,
      vocabSize: tokenizer.vocabSize,
      trainPairs: examples.length,
      ...(dictionary ? { dictionaryPairs: splits.dictionary.length, dictChunks } : {}),
      ...(command ? { command } : {}),
      history,
    };
    await translator.save(out, metadata, state);
  };

  // 3) the loop
  try {
    while (step < lastStep && elapsed() < deadline && !shouldStop()) {
      step++;
      const batch = schedule.batchAt(step).map((i) => examples[i]!);
      const [src, tin, tout] = (['src', 'tin', 'tout'] as const).map((k) => {
        const b = padBatch(batch.map((e) => e[k]));
        return tf.tensor2d(b.ids, b.shape, 'int32');
      });
      optimizer.rate = learningRate(step, dModel, warmup, lrScale);
      const cost = withSeededRandom(seed * 1_000_003 + step, () =>
        optimizer.minimize(() => model.loss(src!, tin!, tout!, { labelSmoothing, training: true }), true, variables),
      )!;
      loss = cost.dataSync()[0]!;
      tokens += batch.reduce((n, e) => n + e.src.length + e.tout.length, 0);
      tf.dispose([src!, tin!, tout!, cost]);

      const rate = tokens / Math.max(elapsed(), 1e-9);
      const done = step - firstStep;
      const left = Math.min(Number.isFinite(lastStep) ? ((lastStep - step) * elapsed()) / done : Number.POSITIVE_INFINITY, deadline - elapsed());
      const fraction = Number.isFinite(lastStep) ? step / lastStep : elapsed() / deadline;
      log(
        `${bar(fraction)} step ${step} loss ${loss.toFixed(3)} ${Math.round(rate)} tok/s lr ${learningRate(step, dModel, warmup, lrScale).toExponential(1)} ETA ${duration(left)}`,
        !process.stderr.isTTY && step % 100 === 0,
      );
      if (step % evalEvery === 0) {
        dev = scoresOf(evaluate(translator, splits.dev.slice(0, devLimit), { task }));
        history.push({ step, ...dev });
        log(`step ${step} dev ${JSON.stringify(dev)}`, true);
      }
      if (step % saveEvery === 0) await save();
    }
  } finally {
    await save();
    tf.dispose(Object.values(optimizerState));
  }
  dev = scoresOf(evaluate(translator, splits.dev.slice(0, devLimit), { task }));
  log(`step ${step} loss ${loss.toFixed(3)} dev ${JSON.stringify(dev)} saved ${out}`, true);
  translator.dispose();
  optimizer.dispose();
  return { step, seconds: elapsed(), loss, dev };
}

function scoresOf(e: ReturnType<typeof evaluate>): Record<string, number> {
  const r: Record<string, number> = { exact: round(e.exactMatch), chrF: round(e.chrf.score), BLEU: round(e.bleu.score) };
  return r;
}

const round = (x: number) => Math.round(x * 100) / 100;
