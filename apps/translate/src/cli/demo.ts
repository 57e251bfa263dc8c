/**
 * `pnpm demo` (root): the app's main job. Loads the shipped numbers checkpoint, translates the
 * held-out test split, prints examples and scores (exact match, chrF2, BLEU, alignment
 * accuracy), and writes cross-attention heatmaps (per layer and head, and averaged) as SVG plus
 * one self-contained HTML report. A Ding model trained locally (never shipped) is scored too
 * when present.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { numberPair } from '../data/numbers.js';
import { copyBaseline, evaluate } from '../evaluate.js';
import { formatBleu } from '../metrics/bleu.js';
import { formatChrf } from '../metrics/chrf.js';
import { type ReportSection, htmlReport, renderHeatmapSvg } from '../heatmap.js';
import { DATA_DIR, loadTask } from '../tasks.js';
import { type Translation, Translator, averageHeads } from '../translator.js';
import { startBackend } from './backend.js';

const started = performance.now();
const appDir = fileURLToPath(new URL('../../', import.meta.url));
const outDir = join(appDir, 'out');
const checkpoint = join(appDir, 'checkpoints', 'numbers.ckpt');
const backend = await startBackend();

const { translator, metadata, extra } = Translator.load(checkpoint);
tf.dispose(Object.values(extra)); // optimizer state, for resuming training only
console.log(`attnkit translate demo — ${checkpoint}`);
console.log(
  `model: ${translator.config.size}, ${translator.model.countParams().toLocaleString('en')} parameters, vocabulary ${translator.tokenizer.vocabSize}; ` +
    `trained ${metadata.step} steps in ${Math.round(Number(metadata.trainSeconds) / 60)} min on ${metadata.trainingData.join(', ')}; backend ${backend}\n`,
);

// 1) the held-out test split of the numbers task
const test = loadTask('numbers').test;
const result = evaluate(translator, test, { task: 'numbers' });
const show = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => Math.floor((i * test.length) / 8));
for (const i of show) {
  const t = result.translations[i]!;
  const ok = t.output === test[i]!.de ? 'ok ' : 'BAD';
  console.log(`${ok} ${t.source.padEnd(48)} -> ${t.output.padEnd(52)} (reference ${test[i]!.de})`);
}
const copy = copyBaseline(test);
console.log(`\nnumbers test split, ${result.count} held-out numbers (greedy decoding):`);
console.log(`  exact match ${result.exactMatch.toFixed(1)}%`);
console.log(`  ${formatChrf(result.chrf)}   (copy-the-source baseline ${formatChrf(copy.chrf)})`);
console.log(`  ${formatBleu(result.bleu)}   (a German number is one word: BLEU only rewards exact outputs here)`);
for (const a of result.alignment ?? []) {
  console.log(`  alignment, decoder layer ${a.layer}: ${a.accuracy.toFixed(1)}% of ${a.scored} output tokens put their strongest cross-attention on the right source token`);
}

// 2) heatmaps: numbers whose German order crosses the English one
mkdirSync(outDir, { recursive: true });
const examples = [29, 4721, 380].map((n) => numberPair(n));
const translated = translator.translate(
  examples.map((p) => p.en),
  { returnAttention: true },
);
const sections: ReportSection[] = [];
const files: string[] = [];
async function heatmap(name: string, title: string, weights: number[][], t: Translation, caption: string) {
  const svg = await renderHeatmapSvg({ weights, sourceTokens: t.sourceTokens, targetTokens: t.targetTokens, title, sourceTitle: 'English (source)', targetTitle: 'German (output)' });
  const file = join(outDir, `${name}.svg`);
  writeFileSync(file, svg);
  files.push(file);
  sections.push({ title, svg, caption });
}
for (const [k, t] of translated.entries()) {
  const n = examples[k]!.n;
  const layers = t.cross!;
  await heatmap(`cross-${n}-average`, `${n}: "${t.source}" → "${t.output}", cross-attention averaged over layers and heads`, averageHeads(layers.map((l) => averageHeads(l))), t, 'Mean over every decoder layer and head. German puts units before tens: the crossing shows as an anti-diagonal.');
  for (const [l, heads] of layers.entries()) {
    await heatmap(`cross-${n}-layer${l}`, `${n}: decoder layer ${l}, mean over heads`, averageHeads(heads), t, `Layer ${l}, averaged over its ${heads.length} heads.`);
    for (const [h, w] of heads.entries()) await heatmap(`cross-${n}-layer${l}-head${h}`, `${n}: decoder layer ${l}, head ${h}`, w, t, `Layer ${l}, head ${h}.`);
  }
}
const report = join(outDir, 'report.html');
writeFileSync(report, htmlReport('attnkit — cross-attention of the numbers model', sections));

// 3) a Ding model trained here (GPL data: never shipped) is scored when present
const ding = join(DATA_DIR, 'checkpoints', 'ding.ckpt');
if (existsSync(ding)) {
  const loaded = Translator.load(ding);
  tf.dispose(Object.values(loaded.extra));
  const dingTest = loadTask('ding').test.slice(0, 100); // the whole split: the `evaluate` command
  const r = evaluate(loaded.translator, dingTest, { task: 'ding' });
  const base = copyBaseline(dingTest);
  console.log(`\nding test split (first ${dingTest.length} sentences; all of them: \`evaluate --task ding\`), local model from ${ding}:`);
  for (const t of r.translations.slice(0, 3)) console.log(`  ${t.source} -> ${t.output}`);
  console.log(`  ${formatBleu(r.bleu)}   copy-the-source baseline ${formatBleu(base.bleu)}`);
  console.log(`  ${formatChrf(r.chrf)}   copy-the-source baseline ${formatChrf(base.chrf)}`);
  loaded.translator.dispose();
} else {
  console.log(`\nno Ding model at ${ding} (it is never shipped: train one with \`pnpm --filter @attnkit/translate train --task ding\`)`);
}

translator.dispose();
console.log(`\nwrote ${files.length} heatmaps (SVG) to ${outDir}/ and the report ${report}`);
console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
