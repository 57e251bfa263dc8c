/** The attnkit side of the whole-model benchmark: one training step, and cached greedy decoding. */
import { Adam } from '@attnkit/core';
import { Transformer, beamSearch, greedyDecode } from '@attnkit/transformer';
import * as tf from '@tensorflow/tfjs';
import { DROPOUT, LABEL_SMOOTHING, MODEL_SIZES, type ModelSize, VOCAB, batchIds } from './spec.js';

export function makeModel(size: ModelSize, dropout = DROPOUT): Transformer {
  return new Transformer({
    ...MODEL_SIZES[size],
    sourceVocabSize: VOCAB,
    targetVocabSize: VOCAB,
    shareEmbeddings: true,
    normFirst: true,
    dropout,
    maxLength: 512,
    seed: 1,
  }).build();
}

/** A model, an Adam optimizer and one fixed batch: `step()` is one training step, synchronised (loss read back). */
export class AttnkitTrainer {
  readonly model: Transformer;
  private readonly optimizer: tf.Optimizer;
  private readonly variables: tf.Variable[];
  private readonly batch: tf.Tensor2D[];
  loss = Number.NaN;

  constructor(size: ModelSize, B: number, T: number) {
    this.model = makeModel(size);
    this.variables = this.model.variables();
    this.optimizer = new Adam(1e-3, 0.9, 0.98, 1e-9);
    this.batch = [1, 2, 3].map((salt) => tf.tensor2d(batchIds(B, T, salt), [B, T], 'int32'));
  }

  step(): number {
    const [src, tin, tout] = this.batch as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const cost = this.optimizer.minimize(() => this.model.loss(src, tin, tout, { labelSmoothing: LABEL_SMOOTHING, training: true }), true, this.variables)!;
    this.loss = cost.dataSync()[0]!;
    cost.dispose();
    return this.loss;
  }

  dispose() {
    tf.dispose(this.batch);
    this.optimizer.dispose();
    this.model.dispose();
  }
}

/**
 * Cached greedy decoding (`greedyDecode`, KV caches, memory projected once) of `steps` tokens
 * for B seeded sources of length Ts, on a model with dropout off. EOS is the last id, which a
 * seeded random model rarely picks; `run()` returns the decoder steps taken and the tokens
 * generated, so ms/step and tokens/s stay exact when a sentence does stop early.
 */
export class AttnkitDecoder {
  readonly model: Transformer;
  private readonly source: tf.Tensor2D;

  constructor(
    size: ModelSize,
    readonly B: number,
    Ts: number,
    readonly steps: number,
    readonly beamSize = 1,
  ) {
    this.model = new Transformer({
      ...MODEL_SIZES[size],
      sourceVocabSize: VOCAB,
      targetVocabSize: VOCAB,
      shareEmbeddings: true,
      normFirst: true,
      dropout: 0,
      maxLength: 512,
      eosId: VOCAB - 1,
      seed: 1,
    }).build();
    this.source = tf.tensor2d(batchIds(B, Ts, 4), [B, Ts], 'int32');
  }

  run(): { decoderSteps: number; tokens: number } {
    const options = { maxLength: this.steps, useCache: true };
    const hyps =
      this.beamSize > 1 ? beamSearch(this.model, this.source, { ...options, beamSize: this.beamSize }) : greedyDecode(this.model, this.source, options);
    const longest = Math.max(...hyps.map((h) => h.tokens.length));
    return { decoderSteps: longest + 1, tokens: hyps.reduce((n, h) => n + h.tokens.length, 0) };
  }

  dispose() {
    this.source.dispose();
    this.model.dispose();
  }
}
