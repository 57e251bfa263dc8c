import { describe, expect, it } from 'vitest';
import { heatmapSpec, htmlReport, renderHeatmapSvg } from './heatmap.js';

const source = ['▁twenty', '-', 'nine', '<eos>'];
const target = ['neun', 'und', 'zwanzig', '<eos>', 'und'];
const weights = target.map((_, t) => source.map((_, s) => (t * source.length + s + 1) / 21));

/** The `<path>` elements inside the SVG group of the rect mark: one per drawn cell. */
function cellPaths(svg: string): string[] {
  const start = svg.indexOf('mark-rect role-mark');
  expect(start, 'the SVG has a rect mark group').toBeGreaterThan(0);
  const group = svg.slice(start, svg.indexOf('</g>', start));
  return group.match(/<path[^>]*>/g) ?? [];
}

describe('attention heatmap', () => {
  it('draws one cell per (target, source) pair, coloured by weight', async () => {
    const svg = await renderHeatmapSvg({ weights, sourceTokens: source, targetTokens: target, title: 'cross-attention' });
    expect(svg.startsWith('<svg')).toBe(true);
    const cells = cellPaths(svg);
    expect(cells).toHaveLength(target.length * source.length);
    // 20 different weights → 20 different fills on a continuous scale
    expect(new Set(cells.map((c) => /fill="([^"]+)"/.exec(c)?.[1])).size).toBe(20);
  });

  it('labels both axes with the tokens (escaped), repeated tokens keeping their own rows', async () => {
    const svg = await renderHeatmapSvg({ weights, sourceTokens: source, targetTokens: target, sourceTitle: 'English', targetTitle: 'German' });
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    for (const token of ['▁twenty', '-', 'nine', 'neun', 'zwanzig', 'English', 'German']) expect(texts).toContain(token);
    expect(texts.filter((t) => t === '&lt;eos&gt;')).toHaveLength(2); // one per axis
    expect(texts.filter((t) => t === 'und')).toHaveLength(2); // two rows, both labelled
  });

  it('can print the weights in the cells', async () => {
    const svg = await renderHeatmapSvg({ weights, sourceTokens: source, targetTokens: target, showValues: true });
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    expect(texts).toContain((1 / 21).toFixed(2));
    expect(texts).toContain((20 / 21).toFixed(2));
  });

  it('refuses weights whose shape does not match the tokens, before rendering', () => {
    expect(() => heatmapSpec({ weights: weights.slice(1), sourceTokens: source, targetTokens: target })).toThrow(
      /heatmapSpec: weights must be \[targetTokens.length, sourceTokens.length\], but got weights \[4,4\], targetTokens \[5\] and sourceTokens \[4\]/,
    );
    expect(() => heatmapSpec({ weights: [[0.5, Number.NaN]], sourceTokens: ['a', 'b'], targetTokens: ['x'] })).toThrow(
      /heatmapSpec: weights must be finite, but got NaN/,
    );
  });

  it('assembles a self-contained HTML report with escaped titles', async () => {
    const svg = await renderHeatmapSvg({ weights, sourceTokens: source, targetTokens: target });
    const html = htmlReport('Numbers <demo>', [
      { title: 'layer 1 & 2', svg, caption: 'mean over heads' },
      { title: 'layer 3', svg },
    ]);
    expect(html).toContain('<title>Numbers &lt;demo&gt;</title>');
    expect(html).toContain('<h2>layer 1 &amp; 2</h2>');
    expect(html.match(/<svg /g)).toHaveLength(2);
    expect(html).not.toMatch(/<script|src=|href=/);
  });

  it('puts the score tables first and lays grouped sections out in one grid', async () => {
    const svg = await renderHeatmapSvg({ weights, sourceTokens: source, targetTokens: target });
    const html = htmlReport(
      'Report',
      [
        { title: 'head 1', svg, group: 'layer 1 <cross>' },
        { title: 'head 2', svg, group: 'layer 1 <cross>' },
        { title: 'alone', svg },
      ],
      {
        tables: [
          {
            caption: 'Scores',
            header: ['decoding', 'BLEU'],
            rows: [
              ['greedy', '12.34'],
              ['beam 4', '13.00'],
            ],
          },
        ],
        notes: ['a & b'],
      },
    );
    const table = html.indexOf('<table>');
    expect(table).toBeGreaterThan(0);
    expect(table).toBeLessThan(html.indexOf('<svg'));
    expect(html).toContain('<tr><td>beam 4</td><td>13.00</td></tr>');
    expect(html).toContain('<p>a &amp; b</p>');
    const grids = html.split('<div class="grid">');
    expect(grids).toHaveLength(2);
    expect(grids[1]!.split('</div>')[0]!.match(/<figure>/g)).toHaveLength(2);
    expect(html).toContain('<h2>layer 1 &lt;cross&gt;</h2>');
    expect(html.match(/<svg /g)).toHaveLength(3);
  });
});
