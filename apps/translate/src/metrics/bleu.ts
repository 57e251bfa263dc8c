/**
 * Corpus BLEU with sacreBLEU 2.x's defaults: `13a` tokenisation, mixed case, n-grams up to 4,
 * `exp` smoothing (mteval-v13a's: the k-th order with no match counts as `1 / (2^k * total)`),
 * closest reference length (ties → shorter), brevity penalty `exp(1 - r/c)` when `c < r`.
 * Signature it reproduces: `nrefs:N|case:mixed|eff:no|tok:13a|smooth:exp|version:2.x`.
 *
 * Written from the algorithm's description; the tests check it against the numbers sacreBLEU
 * publishes in its README and test-suite.
 */

import { AttentionError } from '@attnkit/masking';
import { pyRstrip, pySplit } from './python-text.js';

const MAX_ORDER = 4;

/**
 * The `13a` tokenizer of mteval-v13a.pl as sacreBLEU applies it: unescape a few SGML entities,
 * split off punctuation and symbols, split `.` and `,` except between digits, split `-` after a
 * digit, collapse whitespace.
 */
export function tokenize13a(line: string): string {
  let s = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  if (s.includes('&')) {
    s = s.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  }
  s = ` ${s} `;
  // 1) symbols and punctuation: { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ /
  s = s.replace(/([{-~[-`\u0020-&(-+:-@/])/g, ' $1 ');
  // 2) period and comma not preceded by a digit
  s = s.replace(/([^0-9])([.,])/g, '$1 $2 ');
  // 3) period and comma not followed by a digit
  s = s.replace(/([.,])([^0-9])/g, ' $1 $2');
  // 4) dash preceded by a digit
  s = s.replace(/([0-9])(-)/g, '$1 $2 ');
  return pySplit(s).join(' ');
}

export interface BLEUOptions {
  /** Lower-case hypotheses and references first. Default `false`. */
  lowercase?: boolean;
  /** Tokenizer: `'13a'` or `'none'` (split on whitespace only). Default `'13a'`. */
  tokenize?: '13a' | 'none';
}

export interface BLEUResult {
  /** Corpus BLEU in [0, 100]. */
  score: number;
  /** Matched n-grams per order 1..4 (clipped by the largest count in any one reference). */
  counts: number[];
  /** Hypothesis n-grams per order. */
  totals: number[];
  /** Smoothed precisions per order, in percent. */
  precisions: number[];
  /** Brevity penalty. */
  bp: number;
  /** `sysLen / refLen` (0 when `refLen` is 0). */
  ratio: number;
  sysLen: number;
  refLen: number;
}

function ngramCounts(tokens: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (let n = 1; n <= MAX_ORDER; n++) {
    for (let i = 0; i + n <= tokens.length; i++) {
      const key = `${n}\u0000${tokens.slice(i, i + n).join('\u0001')}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return counts;
}

/** Checks the sacreBLEU layout: `references[k][i]` is reference stream k's line for hypothesis i. */
export function checkStreams(op: string, hypotheses: readonly string[], references: readonly (readonly (string | null)[])[]): void {
  if (references.length === 0) throw AttentionError.value(op, 'need at least one reference stream', 0);
  references.forEach((stream, k) => {
    if (stream.length !== hypotheses.length) {
      throw AttentionError.shapes(op, `reference stream ${k} must have one line per hypothesis`, {
        hypotheses: [hypotheses.length],
        [`references[${k}]`]: [stream.length],
      });
    }
  });
}

/** The references of hypothesis `i`, `null` entries (no reference in that stream) dropped. */
export function referencesOf(references: readonly (readonly (string | null)[])[], i: number): string[] {
  return references.map((stream) => stream[i]).filter((r): r is string => r !== null && r !== undefined);
}

/**
 * Corpus BLEU. `references` follows sacreBLEU: a list of reference *streams*, each with one line
 * per hypothesis; a `null` line means that stream has no reference for that segment.
 */
export function corpusBleu(hypotheses: readonly string[], references: readonly (readonly (string | null)[])[], options: BLEUOptions = {}): BLEUResult {
  checkStreams('corpusBleu', hypotheses, references);
  const { lowercase = false, tokenize = '13a' } = options;
  const prep = (s: string) => {
    const t = pyRstrip(lowercase ? s.toLowerCase() : s);
    return pySplit(tokenize === '13a' ? tokenize13a(t) : t);
  };
  const counts = new Array<number>(MAX_ORDER).fill(0);
  const totals = new Array<number>(MAX_ORDER).fill(0);
  let sysLen = 0;
  let refLen = 0;
  hypotheses.forEach((hyp, i) => {
    // 1) reference n-grams: the largest count of each n-gram over this segment's references
    const refMax = new Map<string, number>();
    const refLens: number[] = [];
    for (const ref of referencesOf(references, i)) {
      const tokens = prep(ref);
      refLens.push(tokens.length);
      for (const [k, c] of ngramCounts(tokens)) refMax.set(k, Math.max(refMax.get(k) ?? 0, c));
    }
    // 2) clipped matches of the hypothesis
    const tokens = prep(hyp);
    for (const [k, c] of ngramCounts(tokens)) {
      const n = Number(k.slice(0, k.indexOf('\u0000'))) - 1;
      totals[n]! += c;
      counts[n]! += Math.min(c, refMax.get(k) ?? 0);
    }
    // 3) closest reference length, ties to the shorter
    sysLen += tokens.length;
    let best = -1;
    for (const len of refLens) {
      const d = Math.abs(tokens.length - len);
      const bd = Math.abs(tokens.length - best);
      if (best < 0 || d < bd || (d === bd && len < best)) best = len;
    }
    refLen += Math.max(best, 0);
  });
  return bleuFromStats(counts, totals, sysLen, refLen);
}

/** BLEU from sufficient statistics with `exp` smoothing (sacreBLEU's `compute_bleu`). */
export function bleuFromStats(counts: readonly number[], totals: readonly number[], sysLen: number, refLen: number): BLEUResult {
  const bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0) : 1;
  const ratio = refLen > 0 ? sysLen / refLen : 0;
  const precisions = new Array<number>(MAX_ORDER).fill(0);
  const base = { counts: [...counts], totals: [...totals], bp, ratio, sysLen, refLen };
  if (!counts.some((c) => c > 0)) return { score: 0, precisions, ...base };
  let smooth = 1;
  for (let n = 0; n < MAX_ORDER; n++) {
    if (totals[n] === 0) break; // later orders keep precision 0
    if (counts[n] === 0) {
      smooth *= 2;
      precisions[n] = 100 / (smooth * totals[n]!);
    } else precisions[n] = (100 * counts[n]!) / totals[n]!;
  }
  // A zero precision contributes log = -9999999999, as sacreBLEU's floored log does.
  const logSum = precisions.reduce((s, p) => s + (p > 0 ? Math.log(p) : -9999999999), 0);
  return { score: bp * Math.exp(logSum / MAX_ORDER), precisions, ...base };
}

/** sacreBLEU's one-line summary: `BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)`. */
export function formatBleu(r: BLEUResult): string {
  const p = r.precisions.map((x) => x.toFixed(1)).join('/');
  return `BLEU = ${r.score.toFixed(2)} ${p} (BP = ${r.bp.toFixed(3)} ratio = ${r.ratio.toFixed(3)} hyp_len = ${r.sysLen} ref_len = ${r.refLen})`;
}
