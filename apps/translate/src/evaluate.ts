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
  batchSize?: number;
}

export function evaluate(translator: Translator, pairs: ReadonlyArray<NumberPair | SentencePair>, options: EvaluateOptions): Evaluation {
  const { task, beamSize = 1, batchSize = 64 } = options;
  const withAttention = task === 'numbers';
  const translations: Translation[] = [];
  for (let i = 0; i < pairs.length; i += batchSize) {
    translations.push(...translator.translate(pairs.slice(i, i + batchSize).map((p) => p.en), { beamSize, returnAttention: withAttention }));
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
