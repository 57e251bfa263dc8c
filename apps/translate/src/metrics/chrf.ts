/**
 * Corpus chrF with sacreBLEU 2.x's defaults (chrF2): character n-grams of order 1..6, no word
 * n-grams, beta = 2, whitespace removed, mixed case, and no epsilon smoothing: precision and
 * recall are averaged over the orders where both the hypothesis and the reference have
 * n-grams ("effective order"), then combined into F-beta. Statistics are summed over the
 * corpus; with several references, each segment uses the reference with the best sentence
 * F-score (the first on ties). Signature: `nrefs:N|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.x`.
 * Characters are Unicode code points, as in Python.
 */

import { checkStreams, referencesOf } from './bleu.js';
import { pySplit } from './python-text.js';

export interface ChrFOptions {
  /** Character n-gram order. Default `6`. */
  charOrder?: number;
  /** Recall weight. Default `2`. */
  beta?: number;
  /** Keep whitespace inside n-grams. Default `false`. */
  whitespace?: boolean;
  /** Lower-case first. Default `false`. */
  lowercase?: boolean;
  /** chrF++.py-style epsilon smoothing instead of effective order. Default `false`. */
  epsSmoothing?: boolean;
}

export interface ChrFResult {
  /** Corpus chrF in [0, 100]. */
  score: number;
  /** Per order n = 1..charOrder: [hypothesis n-grams, reference n-grams, matches], summed over segments. */
  stats: [number, number, number][];
}

function charNgrams(text: string, order: number, whitespace: boolean): Map<string, number>[] {
  const chars = Array.from(whitespace ? text : pySplit(text).join(''));
  const out: Map<string, number>[] = [];
  for (let n = 1; n <= order; n++) {
    const m = new Map<string, number>();
    for (let i = 0; i + n <= chars.length; i++) {
      const g = chars.slice(i, i + n).join('');
      m.set(g, (m.get(g) ?? 0) + 1);
    }
    out.push(m);
  }
  return out;
}

function matchStats(hyp: Map<string, number>, ref: Map<string, number>): [number, number, number] {
  let hypCount = 0;
  let match = 0;
  for (const [g, c] of hyp) {
    hypCount += c;
    const r = ref.get(g);
    if (r !== undefined) match += Math.min(c, r);
  }
  let refCount = 0;
  for (const c of ref.values()) refCount += c;
  // Hypothesis n-grams count only where the reference has n-grams of that order.
  return [ref.size > 0 ? hypCount : 0, refCount, match];
}

function fScore(stats: readonly (readonly [number, number, number])[], beta: number, epsSmoothing: boolean): number {
  const eps = 1e-16;
  const factor = beta ** 2;
  let sum = 0;
  let avgP = 0;
  let avgR = 0;
  let effective = 0;
  for (const [nHyp, nRef, nMatch] of stats) {
    const p = nHyp > 0 ? nMatch / nHyp : eps;
    const r = nRef > 0 ? nMatch / nRef : eps;
    const denom = factor * p + r;
    sum += denom > 0 ? ((1 + factor) * p * r) / denom : eps;
    if (nHyp > 0 && nRef > 0) {
      avgP += p;
      avgR += r;
      effective++;
    }
  }
  if (epsSmoothing) return (100 * sum) / stats.length;
  if (effective === 0) return 0;
  avgP /= effective;
  avgR /= effective;
  if (avgP + avgR === 0) return 0;
  return (100 * (1 + factor) * avgP * avgR) / (factor * avgP + avgR);
}

/** Corpus chrF; `references` in sacreBLEU's stream layout (see `corpusBleu`). */
export function corpusChrf(hypotheses: readonly string[], references: readonly (readonly (string | null)[])[], options: ChrFOptions = {}): ChrFResult {
  checkStreams('corpusChrf', hypotheses, references);
  const { charOrder = 6, beta = 2, whitespace = false, lowercase = false, epsSmoothing = false } = options;
  const prep = (s: string) => (lowercase ? s.toLowerCase() : s);
  const total: [number, number, number][] = Array.from({ length: charOrder }, () => [0, 0, 0]);
  hypotheses.forEach((hyp, i) => {
    const h = charNgrams(prep(hyp), charOrder, whitespace);
    let best: [number, number, number][] = [];
    let bestF = -1;
    for (const ref of referencesOf(references, i)) {
      const r = charNgrams(prep(ref), charOrder, whitespace);
      const stats = h.map((hn, n) => matchStats(hn, r[n]!));
      const f = fScore(stats, beta, epsSmoothing);
      if (f > bestF) {
        bestF = f;
        best = stats;
      }
    }
    best.forEach((s, n) => {
      for (let k = 0; k < 3; k++) total[n]![k]! += s[k]!;
    });
  });
  return { score: fScore(total, beta, epsSmoothing), stats: total };
}

/** sacreBLEU's summary: `chrF2 = 59.73`. */
export function formatChrf(r: ChrFResult, beta = 2): string {
  return `chrF${beta} = ${r.score.toFixed(2)}`;
}
