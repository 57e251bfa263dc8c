/**
 * `pnpm --filter @attnkit/translate translate "I deposited money at the bank."` (or `-` to read
 * stdin): translates with the shipped sentence model (`checkpoints/ding/model.ckpt`; the numbers
 * model when it is absent, saying so) or `--task numbers` / `--checkpoint PATH`, and prints an
 * alignment view: each output token with the source token it attends to most (mean over one
 * decoder layer's heads), plus a shaded grid. Input the model does not know (characters outside
 * its alphabet, digits for the sentence model, text that is not number words for the numbers
 * model, cut inputs) is flagged with `note:` lines. No text or `--help` prints the usage; every
 * error is one `translate: …` line and exit status 1 (2 for bad usage), never a stack trace.
 */
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { checkInput } from '../browser.js';
import { headName, inputNotes, layerName, numbersSource, outputNotes } from '../explain.js';
import { DING_CHECKPOINT, NUMBERS_CHECKPOINT } from '../tasks.js';
import { type Translation, Translator, averageHeads } from '../translator.js';
import { numberArg, parseArgs } from './args.js';
import { startBackend } from './backend.js';

export const USAGE = `usage: pnpm --filter @attnkit/translate translate [options] "English text"
       echo "English text" | pnpm --filter @attnkit/translate translate -
  --task ding|numbers   the sentence model (checkpoints/ding/model.ckpt, default when it exists)
                        or the numbers model (checkpoints/numbers.ckpt: English number words or digits, 0 to 9 999)
  --checkpoint PATH     another checkpoint
  --beam K              beam search with K beams (default 1: greedy)
  --layer N             the decoder layer of the alignment view, from 1 (default: the last)
  --help                this text`;

class UsageError extends Error {}

/** Text arguments and options: `--name value` pairs and flags; everything else is the text. */
function split(argv: readonly string[]): { text: string[]; options: string[] } {
  const text: string[] = [];
  const options: string[] = [];
  const valued = new Set(['--task', '--checkpoint', '--beam', '--layer']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') continue;
    if (valued.has(a)) {
      options.push(a, argv[++i] ?? '');
      if (argv[i] === undefined) throw new UsageError(`${a} needs a value`);
    } else if (a.startsWith('--')) options.push(a);
    else text.push(a);
  }
  return { text, options };
}

/** Reads stdin to its end; gives up (usage) when nothing arrives within `idleMs`. */
async function readStdin(idleMs = 3000): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('no text given, and stdin is a terminal');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let timer = setTimeout(() => done(new UsageError(`nothing arrived on stdin within ${idleMs / 1000} s`)), idleMs);
    const done = (error?: Error) => {
      clearTimeout(timer);
      process.stdin.pause();
      process.stdin.removeAllListeners();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    process.stdin.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(timer);
      timer = setTimeout(() => done(new UsageError(`stdin stayed open with nothing more for ${idleMs / 1000} s`)), idleMs);
    });
    process.stdin.on('end', () => done());
    process.stdin.on('error', (e) => done(e));
  });
}

/** The translation, each output token's strongest source token, and a shaded attention grid of one decoder layer. */
export function alignmentView(t: Translation, layer = t.cross!.length - 1): string {
  const heads = t.cross![layer]!;
  const weights = averageHeads(heads);
  const shades = ' ░▒▓█';
  const width = Math.max(...t.targetTokens.map((s) => s.length));
  const lines = [
    `${t.source}  →  ${t.output}`,
    '',
    `cross-attention, decoder ${layerName(layer)} of ${t.cross!.length}, mean of ${heads.length} heads (${headName(0)}…${headName(heads.length - 1)}):`,
  ];
  for (const [i, row] of weights.entries()) {
    const best = row.indexOf(Math.max(...row));
    const grid = row.map((w) => shades[Math.min(4, Math.floor(w * 5))]!.repeat(2)).join('');
    lines.push(`${t.targetTokens[i]!.padStart(width)} │${grid}│ ${t.sourceTokens[best]} (${row[best]!.toFixed(2)})`);
  }
  lines.push(`${' '.repeat(width)}  ${t.sourceTokens.map((_, j) => String(j % 10).padEnd(2)).join('')}`);
  lines.push(`source tokens: ${t.sourceTokens.map((s, j) => `${j}:${s}`).join(' ')}`);
  return lines.join('\n');
}

async function main(): Promise<number> {
  const { text: words, options } = split(process.argv.slice(2));
  const args = parseArgs(options);
  if (args.help) {
    console.log(USAGE);
    return 0;
  }
  if (args.task !== undefined && args.task !== 'ding' && args.task !== 'numbers')
    throw new UsageError(`--task must be 'ding' or 'numbers', but got '${args.task}'`);
  const beam = numberArg(args, 'beam') ?? 1;
  if (!Number.isInteger(beam) || beam < 1 || beam > 16) throw new UsageError(`--beam must be an integer from 1 to 16, but got ${beam}`);
  let text = words.join(' ');
  if (words.length === 0 || text === '-') text = words.length === 0 && process.stdin.isTTY ? '' : await readStdin();
  if (text.trim() === '') throw new UsageError('no text to translate');

  let checkpoint = typeof args.checkpoint === 'string' ? args.checkpoint : undefined;
  if (!checkpoint) {
    if (args.task === 'numbers') checkpoint = NUMBERS_CHECKPOINT;
    else if (existsSync(DING_CHECKPOINT)) checkpoint = DING_CHECKPOINT;
    else if (args.task === 'ding')
      throw new Error(
        `no sentence model at ${DING_CHECKPOINT} yet (apps/translate/README.md, "The shipped sentence model"); --task numbers translates number words`,
      );
    else {
      console.log(`note: no sentence model at ${DING_CHECKPOINT} yet, so this is the numbers model (English number words, 0 to 9 999).`);
      checkpoint = NUMBERS_CHECKPOINT;
    }
  }
  if (!existsSync(checkpoint)) throw new Error(`no checkpoint at ${checkpoint}`);
  await startBackend();
  const { translator, extra } = Translator.load(checkpoint);
  tf.dispose(Object.values(extra));
  try {
    const layers = translator.model.config.numDecoderLayers;
    const layer = numberArg(args, 'layer') ?? layers;
    if (!Number.isInteger(layer) || layer < 1 || layer > layers)
      throw new UsageError(`--layer must be from 1 to ${layers} (this model's decoder layers), but got ${layer}`);
    let source = text;
    const notes: string[] = [];
    let reference: string | null = null;
    if (translator.config.task === 'numbers') {
      const read = numbersSource(text);
      if ('refusal' in read) throw new Error(read.refusal);
      source = read.words;
      reference = read.reference;
      if (read.note) notes.push(read.note);
    }
    const check = checkInput(translator, source);
    if (check.refusal) throw new Error(check.refusal);
    notes.push(...inputNotes(translator, source));
    const [t] = translator.translate([source], { returnAttention: true, beamSize: beam });
    console.log(alignmentView(t!, layer - 1));
    if (reference !== null) notes.push(t!.output === reference ? 'Matches the reference (n2words).' : `The reference (n2words) is “${reference}”.`);
    notes.push(...outputNotes(t!));
    for (const note of notes) console.log(`note: ${note}`);
    return 0;
  } finally {
    translator.dispose();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  const usage = error instanceof UsageError;
  console.error(`translate: ${(error as Error).message}${usage ? `\n${USAGE}` : ''}`);
  process.exitCode = usage ? 2 : 1;
}
