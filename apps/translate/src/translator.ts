/**
 * The translation model of the app: an @attnkit/transformer Transformer, the shared BPE
 * tokenizer, and the glue between text and token ids (normalisation, over-long inputs,
 * decoding, attention per layer and head).
 */
import { AttentionError } from '@attnkit/masking';
import { type Hypothesis, Transformer, type TransformerConfig, beamSearch, beamSearchAsync, greedyDecode, greedyDecodeAsync } from '@attnkit/transformer';
import * as tf from '@tensorflow/tfjs';
import { type Checkpoint, type CheckpointMetadata, type Json, assignWeights } from './checkpoint-format.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import type { DataSourceName } from './data/sources.js';
import { normalizeText } from './text.js';
import { BOS_ID, type BPETokenizer, EOS_ID, type Encoding, PAD_ID, padBatch } from './tokenizer/bpe.js';

/** Model sizes for `train --size`. Each is pre-norm with one embedding table shared by both languages. */
export const MODEL_SIZES = {
  /** ~0.2 M parameters: the numbers task. */
  tiny: { dModel: 64, numHeads: 4, ffDim: 128, numEncoderLayers: 2, numDecoderLayers: 2 },
  /** ~1.5 M parameters plus embeddings: short sentences. */
  small: { dModel: 128, numHeads: 4, ffDim: 512, numEncoderLayers: 3, numDecoderLayers: 3 },
  /** The paper's base model (far too slow to train on 2 CPU cores; for completeness). */
  base: { dModel: 512, numHeads: 8, ffDim: 2048, numEncoderLayers: 6, numDecoderLayers: 6 },
} as const;
export type ModelSize = keyof typeof MODEL_SIZES;

export interface TranslatorConfig {
  task: DataSourceName;
  size: ModelSize;
  /** Longest source in tokens (`<eos>` included); longer inputs are cut and flagged. */
  maxSourceTokens: number;
  transformer: TransformerConfig;
}

export interface TranslateOptions {
  /** 1 = greedy decoding. Default 1. */
  beamSize?: number;
  /** Collect cross- and self-attention per layer and head. Default false. */
  returnAttention?: boolean;
  /** Longest output in tokens. Default source tokens + 50. */
  maxLength?: number;
}

export interface Translation {
  /** The normalised input. */
  source: string;
  output: string;
  /** Source tokens as the model saw them (`<eos>` included). */
  sourceTokens: string[];
  /** Generated tokens, `<eos>` included. */
  targetTokens: string[];
  /** Whether the input was cut to `maxSourceTokens`. */
  truncated: boolean;
  /** Log-probability of the output (length-normalised with beams). */
  score: number;
  /**
   * The geometric mean of the probabilities the model gave its own output tokens (`<eos>`
   * included), 0..1: exp of the mean token log-probability. Low values mean the model is unsure
   * (see `outputNotes` in explain.ts, which flags them).
   */
  confidence: number;
  /** cross[layer][head][target][source], when asked for. */
  cross?: number[][][][];
  /** self[layer][head][target][target] (zero above the diagonal), when asked for. */
  self?: number[][][][];
}

export function transformerConfig(size: ModelSize, vocabSize: number, seed: number, maxLength = 256): TransformerConfig {
  return {
    ...MODEL_SIZES[size],
    sourceVocabSize: vocabSize,
    targetVocabSize: vocabSize,
    shareEmbeddings: true,
    normFirst: true,
    dropout: 0.1,
    maxLength,
    padId: PAD_ID,
    bosId: BOS_ID,
    eosId: EOS_ID,
    seed,
  };
}

export class Translator {
  constructor(
    readonly model: Transformer,
    readonly tokenizer: BPETokenizer,
    readonly config: TranslatorConfig,
  ) {}

  /** A fresh, untrained translator. */
  static create(
    tokenizer: BPETokenizer,
    options: { task: DataSourceName; size: ModelSize; seed: number; maxSourceTokens?: number; dropout?: number },
  ): Translator {
    const { task, size, seed, maxSourceTokens = 64, dropout = 0.1 } = options;
    const transformer = { ...transformerConfig(size, tokenizer.vocabSize, seed), dropout };
    return new Translator(new Transformer(transformer).build(), tokenizer, { task, size, maxSourceTokens, transformer });
  }

  /** Loads a checkpoint written by {@link save}; `extra` receives the weights it does not use. */
  static load(path: string): { translator: Translator; metadata: CheckpointMetadata; extra: tf.NamedTensorMap } {
    return Translator.fromCheckpoint(loadCheckpoint(path), path);
  }

  /**
   * A translator from a parsed checkpoint (`loadCheckpoint`, or `parseCheckpoint` of fetched bytes
   * in a browser); `origin` names it in errors. Takes ownership of `ck.weights`: those the model
   * does not use come back in `extra`, the rest are disposed.
   */
  static fromCheckpoint(ck: Checkpoint, origin: string): { translator: Translator; metadata: CheckpointMetadata; extra: tf.NamedTensorMap } {
    const config = ck.config as unknown as TranslatorConfig;
    if (!config?.transformer || !config.task || !config.size) {
      tf.dispose(Object.values(ck.weights));
      throw AttentionError.value('Translator.load', `${origin}: not a translation-model checkpoint`, JSON.stringify(Object.keys(ck.config)));
    }
    const model = new Transformer(config.transformer).build();
    const targets = model.namedWeights().map(({ name, variable }) => ({
      name,
      shape: variable.shape as number[],
      dtype: variable.dtype,
      write: (t: tf.Tensor) => variable.write(t),
    }));
    const names = new Set(targets.map((t) => t.name));
    try {
      assignWeights(targets, ck.weights, { allowUnused: true });
    } catch (error) {
      model.dispose();
      tf.dispose(Object.values(ck.weights));
      throw error;
    }
    const extra: tf.NamedTensorMap = {};
    for (const [name, t] of Object.entries(ck.weights)) {
      if (names.has(name)) t.dispose();
      else extra[name] = t;
    }
    return { translator: new Translator(model, ck.tokenizer, config), metadata: ck.metadata, extra };
  }

  /** Writes the model (and any `extra` tensors, e.g. optimizer state) atomically to `path`. */
  async save(path: string, metadata: CheckpointMetadata, extra: tf.NamedTensorMap = {}): Promise<void> {
    const weights: tf.NamedTensorMap = { ...extra };
    for (const { name, variable } of this.model.namedWeights()) weights[name] = variable.read();
    await saveCheckpoint(path, { config: this.config as unknown as { [k: string]: Json }, tokenizer: this.tokenizer, metadata, weights });
  }

  /** Source ids of one text: normalised, `<eos>`-terminated, cut to `maxSourceTokens`. */
  encodeSource(text: string) {
    return this.tokenizer.encode(normalizeText(text), { eos: true, maxLength: this.config.maxSourceTokens, overflow: 'truncate' });
  }

  /** Translates a batch of texts. */
  translate(texts: readonly string[], options: TranslateOptions = {}): Translation[] {
    if (texts.length === 0) return [];
    const { source, encodings, decode } = this.prepare(texts, options);
    try {
      const hyps = decode.beamSize === 1 ? greedyDecode(this.model, source, decode) : beamSearch(this.model, source, decode);
      return this.toTranslations(hyps, encodings, decode.beamSize);
    } finally {
      source.dispose();
    }
  }

  /**
   * {@link translate} reading tensors asynchronously (`greedyDecodeAsync` / `beamSearchAsync`): the
   * same translations, and what a browser must use on webgpu, which cannot read synchronously.
   */
  async translateAsync(texts: readonly string[], options: TranslateOptions = {}): Promise<Translation[]> {
    if (texts.length === 0) return [];
    const { source, encodings, decode } = this.prepare(texts, options);
    try {
      const hyps = decode.beamSize === 1 ? await greedyDecodeAsync(this.model, source, decode) : await beamSearchAsync(this.model, source, decode);
      return this.toTranslations(hyps, encodings, decode.beamSize);
    } finally {
      source.dispose();
    }
  }

  /** Encodes a batch into padded source ids [B, Ts] (the caller disposes) and the decoding options. */
  private prepare(texts: readonly string[], options: TranslateOptions) {
    const { beamSize = 1, returnAttention = false } = options;
    const encodings = texts.map((t) => this.encodeSource(t));
    const batch = padBatch(encodings.map((e) => e.ids));
    const source = tf.tensor2d(batch.ids, batch.shape, 'int32'); // [B, Ts]
    const maxLength = options.maxLength ?? batch.shape[1] + 50;
    return { source, encodings, decode: { maxLength, beamSize, returnAttention } };
  }

  private toTranslations(hyps: Hypothesis[], encodings: Encoding[], beamSize: number): Translation[] {
    return hyps.map((h, i) => {
      const enc = encodings[i]!;
      const length = h.tokens.length + 1; // <eos> included
      // beamSearch divides a finished beam's log-probability by its default GNMT length penalty ((5 + L) / 6)^0.6
      const logProb = beamSize === 1 ? h.score : h.score * ((5 + length) / 6) ** 0.6;
      const Ts = enc.ids.length; // real source length; padding columns are dropped
      const targetIds = [...h.tokens, EOS_ID].slice(0, h.attention?.length ?? h.tokens.length + 1);
      const result: Translation = {
        source: enc.text,
        output: this.tokenizer.decode(h.tokens),
        sourceTokens: this.tokenizer.idsToTokens(enc.ids),
        targetTokens: this.tokenizer.idsToTokens(targetIds),
        truncated: enc.truncated,
        score: h.score,
        confidence: Math.exp(logProb / length),
      };
      if (h.attention) {
        const layers = h.attention[0]!.length;
        const heads = h.attention[0]![0]!.cross.length;
        const T = h.attention.length;
        result.cross = Array.from({ length: layers }, (_, l) =>
          Array.from({ length: heads }, (_, n) => h.attention!.map((step) => step[l]!.cross[n]!.slice(0, Ts))),
        );
        result.self = Array.from({ length: layers }, (_, l) =>
          Array.from({ length: heads }, (_, n) => h.attention!.map((step, t) => Array.from({ length: T }, (_, j) => (j <= t ? step[l]!.self[n]![j]! : 0)))),
        );
      }
      return result;
    });
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Mean over heads of one layer's [head][target][source] weights: [target][source]. */
export function averageHeads(perHead: number[][][]): number[][] {
  const H = perHead.length;
  return perHead[0]!.map((row, t) => row.map((_, s) => perHead.reduce((acc, head) => acc + head[t]![s]!, 0) / H));
}
