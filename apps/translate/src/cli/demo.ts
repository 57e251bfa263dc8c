/**
 * `pnpm demo` (root): the app's main job.
 *
 * - **Sentence model** (default when `checkpoints/ding/model.ckpt` exists): translates the Ding
 *   test split committed beside it (no network) with greedy decoding and beam search (4), prints
 *   examples and BLEU / chrF2 beside the copy-the-source baseline, then translates the seed's two
 *   "bank" sentences and prints, for each, the German, and how much the encoder's "bank" attends to
 *   "money" / "river" per layer and head; heatmaps (cross-attention per layer and head, the
 *   encoder self-attention row of "bank") go to SVG files and one HTML report, scores first.
 * - **Numbers model** (`demo --task numbers`, or when there is no sentence model): the shipped
 *   MIT-clean numbers checkpoint on the held-out numbers, with exact match, chrF2, BLEU and
 *   alignment accuracy, and heatmaps of three numbers.
 *
 * Options: `--task ding|numbers`, `--checkpoint PATH`, `--limit N` (test pairs), `--beam-limit N`
 * (sentences decoded with beam 4 too, default 300: beam search costs about 6× greedy), `--out DIR`
 * (default `apps/translate/out`), `--help`.
 * Layers and heads are numbered from 1 everywhere (see `explain.ts`).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { encoderAttention } from '../browser.js';
import { numberPair } from '../data/numbers.js';
import { copyBaseline, evaluate } from '../evaluate.js';
import { BANK_SENTENCES, headName, inputNotes, layerName, wordTokens, wordWeight } from '../explain.js';
import { type ReportSection, type ReportTable, htmlReport, renderHeatmapSvg } from '../heatmap.js';
import { corpusBleu, formatBleu } from '../metrics/bleu.js';
import { corpusChrf, formatChrf } from '../metrics/chrf.js';
import { DING_CHECKPOINT, NUMBERS_CHECKPOINT, dingTestSplit, loadTask } from '../tasks.js';
import { type Translation, Translator, averageHeads } from '../translator.js';
import { numberArg, parseArgs } from './args.js';
import { startBackend } from './backend.js';

const USAGE = `usage: pnpm demo [-- --task ding|numbers] [--checkpoint PATH] [--limit N] [--beam-limit N] [--out DIR]
  (from apps/translate: pnpm demo --task numbers)
  ding     the sentence model, checkpoints/ding/model.ckpt, on the Ding test split (default when it exists)
  numbers  the numbers model, checkpoints/numbers.ckpt, on the held-out numbers`;

const started = performance.now();
const appDir = fileURLToPath(new URL('../../', import.meta.url));

let args: Record<string, string | true>;
try {
  args = parseArgs(process.argv.slice(2).filter((a) => a !== '--'));
} catch (error) {
  console.error(`demo: ${(error as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
if (args.task !== undefined && args.task !== 'ding' && args.task !== 'numbers') {
  console.error(`demo: --task must be 'ding' or 'numbers', but got '${args.task}'\n${USAGE}`);
  process.exit(2);
}
const explicit = typeof args.checkpoint === 'string' ? args.checkpoint : undefined;
let task: 'ding' | 'numbers' = (args.task as 'ding' | 'numbers' | undefined) ?? 'ding';
if (task === 'ding' && !explicit && !existsSync(DING_CHECKPOINT)) {
  if (args.task === 'ding') {
    console.error(`demo: no sentence model at ${DING_CHECKPOINT}; train it with the command in apps/translate/README.md ("The shipped sentence model")`);
    process.exit(1);
  }
  console.log(
    `NOTE: no sentence model at ${DING_CHECKPOINT} yet (see apps/translate/README.md, "The shipped sentence model"): running the numbers demo instead.\n`,
  );
  task = 'numbers';
}
const checkpoint = explicit ?? (task === 'ding' ? DING_CHECKPOINT : NUMBERS_CHECKPOINT);
const limit = numberArg(args, 'limit') ?? Number.POSITIVE_INFINITY;
const beamLimit = numberArg(args, 'beam-limit') ?? 300;
const outDir = typeof args.out === 'string' ? args.out : join(appDir, 'out');
const backend = await startBackend();

const { translator, metadata, extra } = Translator.load(checkpoint);
tf.dispose(Object.values(extra)); // optimizer state, for resuming training only
const c = translator.model.config;
console.log(`attnkit translate demo — ${checkpoint}`);
console.log(
  `model: ${translator.config.size} (${c.numEncoderLayers} + ${c.numDecoderLayers} layers, ${c.numHeads} heads, d ${c.dModel}), ` +
    `${translator.model.countParams().toLocaleString('en')} parameters, vocabulary ${translator.tokenizer.vocabSize}; ` +
    `trained ${metadata.step} steps in ${Math.round(Number(metadata.trainSeconds) / 60)} min on ${metadata.trainingData.join(', ')}; backend ${backend}\n`,
);
mkdirSync(outDir, { recursive: true });
const sections: ReportSection[] = [];
const files: string[] = [];

async function heatmap(name: string, section: Omit<ReportSection, 'svg'>, input: Parameters<typeof renderHeatmapSvg>[0]) {
  const svg = await renderHeatmapSvg(input);
  const file = join(outDir, `${name}.svg`);
  writeFileSync(file, svg);
  files.push(file);
  sections.push({ ...section, svg });
}

/** Cross-attention of one translation: per layer, the mean over heads and every head, one grid per layer. */
async function crossHeatmaps(name: string, label: string, t: Translation) {
  const axes = { sourceTokens: t.sourceTokens, targetTokens: t.targetTokens, sourceTitle: 'English (source)', targetTitle: 'German (output)' };
  for (const [l, heads] of t.cross!.entries()) {
    const group = `${label}: cross-attention, decoder ${layerName(l)}`;
    await heatmap(`${name}-cross-layer${l + 1}`, { title: `${layerName(l)}, mean of ${heads.length} heads`, group }, { ...axes, weights: averageHeads(heads) });
    for (const [h, w] of heads.entries())
      await heatmap(`${name}-cross-layer${l + 1}-head${h + 1}`, { title: `${layerName(l)}, ${headName(h)}`, group }, { ...axes, weights: w });
  }
}

const fmt = (x: number) => x.toFixed(2);
/** The quality the shipped sentence model is meant to reach on the whole Ding test split (greedy). */
const QUALITY_BAR = { bleu: 15, chrf: 40 };
const tables: ReportTable[] = [];
const notes: string[] = [];
let title: string;

if (task === 'ding') {
  // 1) the Ding test split, greedy and beam 4, beside the copy-the-source baseline
  const split = dingTestSplit();
  const test = split.pairs.slice(0, limit);
  const t0 = performance.now();
  const greedy = evaluate(translator, test, { task: 'ding' });
  const t1 = performance.now();
  // beam search costs about 6× greedy: on the first beamLimit sentences, so the demo stays under a minute
  const beamTest = test.slice(0, beamLimit);
  const beam = evaluate(translator, beamTest, { task: 'ding', beamSize: 4, batchSize: 16 }); // smaller beam batches finish sooner (measured)
  const t2 = performance.now();
  const copy = copyBaseline(test);
  const whole = beamTest.length === test.length;
  for (const i of [0, 1, 2, 3, 4, 5].map((k) => Math.floor((k * beamTest.length) / 6))) {
    console.log(`EN   ${test[i]!.en}\n  greedy ${greedy.translations[i]!.output}\n  beam 4 ${beam.translations[i]!.output}\n  ref    ${test[i]!.de}`);
  }
  console.log(
    `\nDing test split, ${test.length} sentences (${split.from}); greedy ${((t1 - t0) / 1000).toFixed(1)} s, beam 4 ${whole ? '' : `on the first ${beamTest.length} `}${((t2 - t1) / 1000).toFixed(1)} s:`,
  );
  const rows: [string, typeof greedy.bleu, typeof greedy.chrf][] = [
    ['greedy', greedy.bleu, greedy.chrf],
    ...(whole ? [['beam 4', beam.bleu, beam.chrf] as [string, typeof greedy.bleu, typeof greedy.chrf]] : []),
    ['copy-the-source baseline', copy.bleu, copy.chrf],
  ];
  if (!whole) {
    const refs = beamTest.map((p) => p.de);
    const hyps = greedy.translations.slice(0, beamTest.length).map((t) => t.output);
    rows.push([`greedy (first ${beamTest.length})`, corpusBleu(hyps, [refs]), corpusChrf(hyps, [refs])]);
    rows.push([`beam 4 (first ${beamTest.length})`, beam.bleu, beam.chrf]);
  }
  console.log(`  ${'decoding'.padEnd(26)} ${'BLEU'.padStart(6)} ${'chrF2'.padStart(6)}`);
  for (const [name, b, ch] of rows) console.log(`  ${name.padEnd(26)} ${fmt(b.score).padStart(6)} ${fmt(ch.score).padStart(6)}`);
  const reached = greedy.bleu.score >= QUALITY_BAR.bleu && greedy.chrf.score >= QUALITY_BAR.chrf;
  console.log(
    `  the bar this model is built for (apps/translate/README.md): BLEU >= ${QUALITY_BAR.bleu}, chrF2 >= ${QUALITY_BAR.chrf}: ${reached ? 'reached' : 'NOT reached: read the outputs as the attention views of a weak model, not as translations'}`,
  );
  console.log(`  greedy: ${formatBleu(greedy.bleu)}\n          ${formatChrf(greedy.chrf)}`);
  console.log(`  beam 4${whole ? '' : ` (first ${beamTest.length})`}: ${formatBleu(beam.bleu)}\n          ${formatChrf(beam.chrf)}`);
  tables.push({
    caption: `Ding test split, ${test.length} sentences (sacreBLEU-compatible corpus BLEU and chrF2); the bar: BLEU ≥ ${QUALITY_BAR.bleu}, chrF2 ≥ ${QUALITY_BAR.chrf}, ${reached ? 'reached' : 'not reached'}`,
    header: ['decoding', 'BLEU', 'chrF2'],
    rows: rows.map(([name, b, ch]) => [name, fmt(b.score), fmt(ch.score)]),
  });

  // 2) the seed's "bank" pair: German, cross-attention, and the encoder's "bank" row
  const bankRows: string[][] = [];
  for (const [k, s] of BANK_SENTENCES.entries()) {
    const [t] = translator.translate([s.text], { returnAttention: true });
    const enc = await encoderAttention(translator, s.text);
    const encoding = translator.encodeSource(s.text);
    const bank = wordTokens(encoding, s.word);
    const context = wordTokens(encoding, s.context);
    console.log(`\n"${s.text}"  →  ${t!.output}`);
    for (const note of inputNotes(translator, s.text)) console.log(`  note: ${note}`);
    const label = `“${s.text}” → “${t!.output}”`;
    await crossHeatmaps(`bank${k + 1}`, label, t!);
    // encoder self-attention row of "bank": one row per layer and head, plus each layer's mean
    const rowLabels: string[] = [];
    const rowWeights: number[][] = [];
    const group = `${label}: encoder self-attention of “${s.word}”`;
    for (const [l, heads] of enc.weights.entries()) {
      const mean = averageHeads(heads);
      const parts = heads.map((w, h) => `${headName(h)} ${fmt(wordWeight(w, bank, context))}`);
      console.log(
        `  encoder ${layerName(l)}: "${s.word}" puts ${fmt(wordWeight(mean, bank, context))} of its attention on "${s.context}" (mean of heads; ${parts.join(', ')})`,
      );
      bankRows.push([s.text, layerName(l), 'mean', fmt(wordWeight(mean, bank, context))]);
      for (const [h, w] of heads.entries()) bankRows.push([s.text, layerName(l), headName(h), fmt(wordWeight(w, bank, context))]);
      for (const [h, w] of [...heads.entries(), [-1, mean] as const]) {
        rowLabels.push(h < 0 ? `${layerName(l)} mean` : `${layerName(l)} ${headName(h)}`);
        rowWeights.push(enc.sourceTokens.map((_, j) => bank.reduce((acc, q) => acc + w[q]![j]!, 0) / bank.length));
      }
      await heatmap(
        `bank${k + 1}-encoder-layer${l + 1}`,
        { title: `${layerName(l)}, mean of ${heads.length} heads (whole matrix)`, group },
        {
          weights: mean,
          sourceTokens: enc.sourceTokens,
          targetTokens: enc.sourceTokens,
          sourceTitle: 'English (key)',
          targetTitle: 'English (query)',
        },
      );
    }
    await heatmap(
      `bank${k + 1}-encoder-bank-row`,
      {
        title: `the row of “${s.word}” (tokens ${bank.join(', ')}), every layer and head`,
        caption: `Weight on “${s.context}”: see the table at the top.`,
        group,
      },
      {
        weights: rowWeights,
        sourceTokens: enc.sourceTokens,
        targetTokens: rowLabels,
        sourceTitle: 'English (key)',
        targetTitle: `“${s.word}” in`,
        showValues: true,
      },
    );
  }
  tables.push({
    caption:
      'Encoder self-attention: share of “bank”’s attention on “money” / “river” (mean over bank’s tokens of the summed weight on the context word’s tokens)',
    header: ['sentence', 'layer', 'head', 'weight'],
    rows: bankRows,
  });
  notes.push(
    `Model ${checkpoint}: ${translator.config.size}, ${c.numEncoderLayers} + ${c.numDecoderLayers} layers, ${c.numHeads} heads; trained ${metadata.step} steps on ${metadata.trainingData.join(', ')}. Layers and heads are numbered from 1.`,
  );
  title = 'attnkit — the English→German sentence model: scores and attention';
} else {
  // 1) the held-out test split of the numbers task
  const test = loadTask('numbers').test.slice(0, limit);
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
    console.log(
      `  alignment, decoder ${layerName(a.layer)}: ${a.accuracy.toFixed(1)}% of ${a.scored} output tokens put their strongest cross-attention on the right source token`,
    );
  }
  tables.push({
    caption: `Numbers test split, ${result.count} held-out numbers, greedy`,
    header: ['measure', 'model', 'copy-the-source baseline'],
    rows: [
      ['exact match', `${result.exactMatch.toFixed(1)}%`, ''],
      ['chrF2', fmt(result.chrf.score), fmt(copy.chrf.score)],
      ['BLEU', fmt(result.bleu.score), fmt(copy.bleu.score)],
      ...(result.alignment ?? []).map((a) => [`alignment, decoder ${layerName(a.layer)}`, `${a.accuracy.toFixed(1)}% of ${a.scored} tokens`, '']),
    ],
  });

  // 2) heatmaps: numbers whose German order crosses the English one
  const examples = [29, 4721, 380].map((n) => numberPair(n));
  const translated = translator.translate(
    examples.map((p) => p.en),
    { returnAttention: true },
  );
  for (const [k, t] of translated.entries()) {
    const n = examples[k]!.n;
    await heatmap(
      `cross-${n}-average`,
      {
        title: `${n}: “${t.source}” → “${t.output}”, cross-attention averaged over layers and heads`,
        caption: 'German puts units before tens: the crossing shows as an anti-diagonal.',
      },
      {
        weights: averageHeads(t.cross!.map((l) => averageHeads(l))),
        sourceTokens: t.sourceTokens,
        targetTokens: t.targetTokens,
        sourceTitle: 'English (source)',
        targetTitle: 'German (output)',
      },
    );
    await crossHeatmaps(`cross-${n}`, `${n}`, t);
  }
  notes.push('Layers and heads are numbered from 1.');
  title = 'attnkit — cross-attention of the numbers model';
}

const report = join(outDir, 'report.html');
writeFileSync(report, htmlReport(title, sections, { tables, notes }));
translator.dispose();
console.log(`\nwrote ${files.length} heatmaps (SVG) to ${outDir}/ and the report ${report}`);
if (task === 'numbers')
  console.log('the sentence model: `pnpm demo` once checkpoints/ding/model.ckpt exists (apps/translate/README.md, "The shipped sentence model")');
else console.log('the numbers model: `pnpm --filter @attnkit/translate demo --task numbers`');
console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
