/**
 * `pnpm --filter @attnkit/translate alignment-report`: what the heatmaps and the alignment score
 * will show once a model exists, without one. For a few numbers it draws the **gold** token
 * alignment of the numbers task (German units before tens: the crossing) and a **monotone**
 * baseline (each target token attends to the source position at the same relative place), and
 * prints how often each one's strongest weight falls on a right source token. No model here.
 *
 * Writes `apps/translate/.data/reports/alignment.html` (git-ignored).
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { alignmentAccuracy, numberPair, numberPairs, splitNumbers, tokenAlignment } from '../data/numbers.js';
import { htmlReport, type ReportSection, renderHeatmapSvg } from '../heatmap.js';
import { BPETokenizer } from '../tokenizer/bpe.js';

const out = fileURLToPath(new URL('../../.data/reports/', import.meta.url));

// 1) a shared vocabulary from the training split of 0..9999
const { train, test } = splitNumbers(numberPairs({ max: 9999 }));
const tokenizer = BPETokenizer.train(
  train.flatMap((p) => [p.en, p.de]),
  { vocabSize: 160 },
);

function matrices(n: number) {
  const pair = numberPair(n);
  const src = tokenizer.encode(pair.en);
  const tgt = tokenizer.encode(pair.de);
  const gold = tokenAlignment(pair, src.spans, tgt.spans);
  const Ts = src.ids.length;
  // Gold as weights: spread evenly over the right source tokens; <eos> → <eos>; 'und' rows empty.
  const goldWeights = gold.map((g, t) =>
    Array.from({ length: Ts }, (_, s) => (g.length ? (g.includes(s) ? 1 / g.length : 0) : t === gold.length - 1 && s === Ts - 1 ? 1 : 0)),
  );
  const monotone = gold.map((_, t) => Array.from({ length: Ts }, (_, s) => (s === Math.round((t * (Ts - 1)) / Math.max(1, gold.length - 1)) ? 1 : 0)));
  return { pair, src, tgt, gold, goldWeights, monotone };
}

// 2) scores over the test split
let goldTotal = { scored: 0, correct: 0 };
let monoTotal = { scored: 0, correct: 0 };
for (const p of test) {
  const m = matrices(p.n);
  const g = alignmentAccuracy(m.goldWeights, m.gold);
  const b = alignmentAccuracy(m.monotone, m.gold);
  goldTotal = { scored: goldTotal.scored + g.scored, correct: goldTotal.correct + g.correct };
  monoTotal = { scored: monoTotal.scored + b.scored, correct: monoTotal.correct + b.correct };
}
const pct = (x: { scored: number; correct: number }) => `${((100 * x.correct) / x.scored).toFixed(1)}% of ${x.scored} tokens`;
console.log(`vocabulary: ${tokenizer.vocabSize} tokens; test split: ${test.length} numbers`);
console.log(`strongest weight on a right source token — gold alignment: ${pct(goldTotal)}; monotone baseline: ${pct(monoTotal)}`);

// 3) heatmaps for a few numbers
const sections: ReportSection[] = [];
for (const n of [29, 71, 345, 2021, 9876]) {
  const m = matrices(n);
  const labels = {
    sourceTokens: tokenizer.idsToTokens(m.src.ids),
    targetTokens: tokenizer.idsToTokens(m.tgt.ids),
    sourceTitle: 'English',
    targetTitle: 'German',
  };
  const mono = alignmentAccuracy(m.monotone, m.gold);
  sections.push({ title: `${n}: gold alignment`, caption: `${m.pair.en} → ${m.pair.de}`, svg: await renderHeatmapSvg({ weights: m.goldWeights, ...labels }) });
  sections.push({
    title: `${n}: monotone baseline`,
    caption: `right source token for ${mono.correct} of ${mono.scored} scored target tokens`,
    svg: await renderHeatmapSvg({ weights: m.monotone, ...labels }),
  });
}
mkdirSync(out, { recursive: true });
const file = join(out, 'alignment.html');
writeFileSync(file, htmlReport('Numbers EN→DE: where cross-attention should look', sections));
console.log(`wrote ${file}`);
