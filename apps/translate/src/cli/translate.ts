/**
 * `pnpm --filter @attnkit/translate translate "twenty-nine"` (or text on stdin): translates with
 * the shipped numbers model (or `--checkpoint PATH`) and prints an alignment view: each output
 * token with the source token it attends to most (mean over the last layer's heads), plus a
 * shaded grid.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { type Translation, Translator, averageHeads } from '../translator.js';
import { numberArg, parseArgs } from './args.js';
import { startBackend } from './backend.js';

const argv = process.argv.slice(2);
const text = argv.filter((a, i) => !a.startsWith('--') && !(argv[i - 1]?.startsWith('--') && argv[i - 1] !== '--')).join(' ') || readFileSync(0, 'utf8');
const args = parseArgs(argv.filter((a, i) => a.startsWith('--') || argv[i - 1]?.startsWith('--')));
const checkpoint = typeof args.checkpoint === 'string' ? args.checkpoint : join(fileURLToPath(new URL('../../checkpoints/', import.meta.url)), 'numbers.ckpt');
await startBackend();

const { translator, extra } = Translator.load(checkpoint);
tf.dispose(Object.values(extra));
const [t] = translator.translate([text], { returnAttention: true, beamSize: numberArg(args, 'beam') ?? 1 });
console.log(alignmentView(t!));
translator.dispose();

/** The translation, each output token's strongest source token, and a shaded attention grid. */
export function alignmentView(t: Translation): string {
  const weights = averageHeads(t.cross![t.cross!.length - 1]!);
  const shades = ' ░▒▓█';
  const width = Math.max(...t.targetTokens.map((s) => s.length));
  const lines = [`${t.source}  →  ${t.output}${t.truncated ? '   (input was cut to the model\'s maximum length)' : ''}`, ''];
  for (const [i, row] of weights.entries()) {
    const best = row.indexOf(Math.max(...row));
    const grid = row.map((w) => shades[Math.min(4, Math.floor(w * 5))]!.repeat(2)).join('');
    lines.push(`${t.targetTokens[i]!.padStart(width)} │${grid}│ ${t.sourceTokens[best]} (${row[best]!.toFixed(2)})`);
  }
  lines.push(`${' '.repeat(width)}  ${t.sourceTokens.map((_, j) => String(j % 10).padEnd(2)).join('')}`);
  lines.push(`source tokens: ${t.sourceTokens.map((s, j) => `${j}:${s}`).join(' ')}`);
  return lines.join('\n');
}
