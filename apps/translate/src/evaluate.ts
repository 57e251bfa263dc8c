/** Scores a translator on sentence pairs: exact match, sacreBLEU-compatible BLEU and chrF2, and alignment for numbers. */
import type { SentencePair } from './data/ding.js';
import { type NumberPair, alignmentAccuracy, tokenAlignment } from './data/numbers.js';
import type { DataSourceName } from './data/sources.js';
import { type BLEUResult, corpusBleu } from './metrics/bleu.js';
import { type ChrFResult, corpusChrf } from './metrics/chrf.js';
import { normalizeText } from './text.js';
import { type Translation, type Translator, averageHeads } from './translator.js';

export interface Evaluation {
  count: number;
  /** Percentage of outputs equal to the reference. */
  exactMatch: number;
  bleu: BLEUResult;
  chrf: ChrFResult;
  /** Numbers task: per decoder layer, the % of output tokens whose strongest cross-attention (mean over heads) is on a right source token. */
  alignment: Array<{ layer: number; accuracy: number; scored: number }> | null;
  translations: Translation[];
}

export interface EvaluateOptions {
  task: DataSourceName;
  beamSize?: number;
  /** Sentences decoded together. Default 64. */
  batchSize?: number;
  /**
   * Longest output of a batch, from its longest source in tokens `Ts`: `ceil(Ts * ratio) + 8`
   * (a translation far longer than its source is a degenerate one, so this bounds decoding time,
   * not translations). Default `1.6`; `Infinity` keeps the translator's default (`Ts + 50`).
   */
  maxLengthRatio?: number;
}

export function evaluate(translator: Translator, pairs: ReadonlyArray<NumberPair | SentencePair>, options: EvaluateOptions): Evaluation {
  const { task, beamSize = 1, batchSize = 64, maxLengthRatio = 1.6 } = options;
  const withAttention = task === 'numbers';
  // Batches of similar source length (sorted, stable), so that no short sentence waits for a long
  // one; translations come back in the input order.
  const lengths = pairs.map((p) => translator.encodeSource(p.en).ids.length);
  const order = pairs.map((_, i) => i).sort((a, b) => lengths[a]! - lengths[b]!);
  const translations: Translation[] = new Array(pairs.length);
  for (let i = 0; i < order.length; i += batchSize) {
    const batch = order.slice(i, i + batchSize);
    const longest = Math.max(...batch.map((k) => lengths[k]!));
    const maxLength = Number.isFinite(maxLengthRatio) ? Math.ceil(longest * maxLengthRatio) + 8 : undefined;
    const out = translator.translate(
      batch.map((k) => pairs[k]!.en),
      { beamSize, returnAttention: withAttention, ...(maxLength ? { maxLength } : {}) },
    );
    batch.forEach((k, j) => {
      translations[k] = out[j]!;
    });
  }
  const refs = pairs.map((p) => normalizeText(p.de));
  const hyps = translations.map((t) => t.output);
  const exact = hyps.filter((h, i) => h === refs[i]).length;
  return {
    count: pairs.length,
    exactMatch: pairs.length ? (100 * exact) / pairs.length : 0,
    bleu: corpusBleu(hyps, [refs]),
    chrf: corpusChrf(hyps, [refs]),
    alignment: withAttention ? alignmentScores(translator, pairs as readonly NumberPair[], translations) : null,
    translations,
  };
}

/**
 * Alignment of the numbers task, scored where the output is the reference token for token
 * (the gold alignment is defined on the reference's tokens).
 */
function alignmentScores(translator: Translator, pairs: readonly NumberPair[], translations: readonly Translation[]) {
  const layers = translations[0]?.cross?.length ?? 0;
  return Array.from({ length: layers }, (_, layer) => {
    let hits = 0;
    let scored = 0;
    pairs.forEach((pair, i) => {
      const t = translations[i]!;
      const reference = translator.tokenizer.encode(pair.de, { eos: true });
      if (t.targetTokens.join(' ') !== translator.tokenizer.idsToTokens(reference.ids).join(' ')) return;
      const source = translator.encodeSource(pair.en);
      const gold = tokenAlignment(pair, source.spans, reference.spans);
      const score = alignmentAccuracy(averageHeads(t.cross![layer]!), gold);
      hits += score.correct;
      scored += score.scored;
    });
    return { layer, accuracy: scored ? (100 * hits) / scored : 0, scored };
  });
}

/** The copy-the-source baseline: the English input offered as the German output. */
export function copyBaseline(pairs: ReadonlyArray<NumberPair | SentencePair>) {
  const refs = pairs.map((p) => normalizeText(p.de));
  const hyps = pairs.map((p) => normalizeText(p.en));
  return { bleu: corpusBleu(hyps, [refs]), chrf: corpusChrf(hyps, [refs]) };
}
