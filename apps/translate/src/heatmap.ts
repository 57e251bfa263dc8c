/**
 * Attention heatmaps drawn with Vega-Lite (compiled to Vega, rendered to SVG headless in Node:
 * `new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG()`), and an HTML report that
 * assembles several of them.
 *
 * One cell per (target token, source token): rows are target tokens top to bottom, columns
 * source tokens left to right, colour = weight. Tokens are keyed by position, so repeated
 * tokens ("the … the") keep their own rows/columns; the axes show the token text.
 */

import { AttentionError } from '@attnkit/masking';
import * as vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import { compile } from 'vega-lite';

export interface HeatmapInput {
  /** Attention weights `[Tt][Ts]`: row `t` is target token `t`'s attention over the source. */
  weights: readonly (readonly number[])[];
  /** `Ts` labels for the columns (x axis). */
  sourceTokens: readonly string[];
  /** `Tt` labels for the rows (y axis). */
  targetTokens: readonly string[];
  /** Chart title. Default: none. */
  title?: string;
  /** Side of one cell in pixels. Default `22`. */
  cellSize?: number;
  /** Colour domain. Default `[0, 1]` (attention weights). */
  domain?: [number, number];
  /** Axis titles. Default `'source'` / `'target'`. */
  sourceTitle?: string;
  targetTitle?: string;
  /** Print each weight in its cell. Default `false`. */
  showValues?: boolean;
}

function checkInput(input: HeatmapInput): void {
  const { weights, sourceTokens, targetTokens } = input;
  const op = 'heatmapSpec';
  if (weights.length !== targetTokens.length || weights.some((row) => row.length !== sourceTokens.length)) {
    const bad = weights.find((row) => row.length !== sourceTokens.length);
    throw AttentionError.shapes(op, 'weights must be [targetTokens.length, sourceTokens.length]', {
      weights: [weights.length, (bad ?? weights[0])?.length ?? 0],
      targetTokens: [targetTokens.length],
      sourceTokens: [sourceTokens.length],
    });
  }
  if (weights.length === 0 || sourceTokens.length === 0) {
    throw AttentionError.shapes(op, 'need at least one target and one source token', { weights: [weights.length, sourceTokens.length] });
  }
  for (const row of weights) for (const w of row) if (!Number.isFinite(w)) throw AttentionError.value(op, 'weights must be finite', w);
}

/** A Vega expression that maps an axis value (a token index) to its label. */
const labelLookup = (labels: readonly string[]) => `${JSON.stringify(labels)}[datum.value]`;

/** The Vega-Lite spec of one heatmap. */
export function heatmapSpec(input: HeatmapInput): TopLevelSpec {
  checkInput(input);
  const {
    weights,
    sourceTokens,
    targetTokens,
    title,
    cellSize = 22,
    domain = [0, 1],
    sourceTitle = 'source',
    targetTitle = 'target',
    showValues = false,
  } = input;
  const values = weights.flatMap((row, t) => row.map((w, s) => ({ t, s, w })));
  const x = {
    field: 's',
    type: 'ordinal' as const,
    sort: null,
    title: sourceTitle,
    axis: { labelExpr: labelLookup(sourceTokens), labelAngle: -45, orient: 'top' as const },
  };
  const y = { field: 't', type: 'ordinal' as const, sort: null, title: targetTitle, axis: { labelExpr: labelLookup(targetTokens) } };
  const cells = {
    mark: { type: 'rect' as const },
    encoding: { x, y, color: { field: 'w', type: 'quantitative' as const, title: 'weight', scale: { domain, scheme: 'blues' } } },
  };
  const labels = {
    mark: { type: 'text' as const, fontSize: 8 },
    encoding: {
      x,
      y,
      text: { field: 'w', type: 'quantitative' as const, format: '.2f' },
      color: { condition: { test: `datum.w > ${(domain[0] + domain[1]) / 2}`, value: 'white' }, value: 'black' },
    },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(title ? { title } : {}),
    data: { values },
    width: { step: cellSize },
    height: { step: cellSize },
    layer: showValues ? [cells, labels] : [cells],
  } as TopLevelSpec;
}

/** Renders a heatmap to a standalone SVG string. */
export async function renderHeatmapSvg(input: HeatmapInput): Promise<string> {
  const spec = compile(heatmapSpec(input)).spec;
  const view = new vega.View(vega.parse(spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface ReportSection {
  title: string;
  /** An SVG string, e.g. from `renderHeatmapSvg`. */
  svg: string;
  /** Optional text under the title (plain text, escaped). */
  caption?: string;
  /**
   * Consecutive sections with the same group are laid out in one grid under the group's heading
   * (e.g. every head of one layer side by side). Default: none (one section per row).
   */
  group?: string;
}

/** A table of the report (plain text cells, escaped). */
export interface ReportTable {
  caption: string;
  header: string[];
  rows: string[][];
}

export interface ReportOptions {
  /** Tables shown first, under the title (e.g. the scores). Default none. */
  tables?: ReportTable[];
  /** Paragraphs after the tables (plain text, escaped). Default none. */
  notes?: string[];
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function tableHtml(t: ReportTable): string {
  const row = (cells: string[], tag: 'th' | 'td') => `<tr>${cells.map((c) => `<${tag}>${escapeHtml(c)}</${tag}>`).join('')}</tr>`;
  return `<table>\n<caption>${escapeHtml(t.caption)}</caption>\n<thead>${row(t.header, 'th')}</thead>\n<tbody>\n${t.rows.map((r) => row(r, 'td')).join('\n')}\n</tbody>\n</table>`;
}

/**
 * A self-contained HTML page (no scripts, no external files): the tables (scores) first, then
 * one titled figure per section; sections of one `group` share a grid under the group heading.
 */
export function htmlReport(title: string, sections: readonly ReportSection[], options: ReportOptions = {}): string {
  const { tables = [], notes = [] } = options;
  const blocks: string[] = [];
  for (let i = 0; i < sections.length; ) {
    const group = sections[i]!.group;
    if (group === undefined) {
      const s = sections[i++]!;
      blocks.push(`<section>\n<h2>${escapeHtml(s.title)}</h2>\n${s.caption ? `<p>${escapeHtml(s.caption)}</p>\n` : ''}<figure>${s.svg}</figure>\n</section>`);
      continue;
    }
    const members: ReportSection[] = [];
    while (i < sections.length && sections[i]!.group === group) members.push(sections[i++]!);
    const cells = members.map(
      (s) => `<figure>\n<figcaption>${escapeHtml(s.title)}${s.caption ? `<br><small>${escapeHtml(s.caption)}</small>` : ''}</figcaption>\n${s.svg}\n</figure>`,
    );
    blocks.push(`<section>\n<h2>${escapeHtml(group)}</h2>\n<div class="grid">\n${cells.join('\n')}\n</div>\n</section>`);
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em}figure{margin:0;overflow-x:auto}section{margin-bottom:2em}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(22em,1fr));gap:1em;align-items:start}figcaption{font-weight:600;margin-bottom:.3em}table{border-collapse:collapse;margin-bottom:1.5em}caption{text-align:left;font-weight:600;padding-bottom:.3em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${tables.map(tableHtml).join('\n')}
${notes.map((n) => `<p>${escapeHtml(n)}</p>`).join('\n')}
${blocks.join('\n')}
</body>
</html>
`;
}
