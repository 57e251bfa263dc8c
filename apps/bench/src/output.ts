/**
 * Turns a run into files: raw JSON (machine, versions, every sample), a markdown table, and
 * log-log charts of time and memory against T, rendered to SVG by vega-lite → vega in Node.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import { isDecode, sectionKey, sectionSlug, sectionTitle } from './matrix.js';
import { gflops, summarize } from './stats.js';
import type { BenchReport, BenchResult, Ceiling } from './types.js';

const MB = 1024 * 1024;

/** The figures of one result that tables and charts show. */
export interface Row {
  impl: string;
  backend: string;
  T: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Timed runs behind the statistics. */
  runs: number;
  gflops: number;
  /** Percent of the same engine's matmul GFLOP/s on the same backend; null without a ceiling. */
  pctCeiling: number | null;
  tokensPerS: number | null;
  tfPeakMB: number | null;
  peakRssMB: number;
  /** Peak RSS above the RSS after setup: what the runs themselves added. */
  rssGrowthMB: number;
  maxError: number | null;
  errorT: number | null;
}

export function ceilingsOf(results: readonly BenchResult[]): Ceiling[] {
  return results
    .filter((r) => r.config.mode === 'matmul')
    .map((r) => {
      const { backend, engine, matmulN: N } = r.config;
      if (r.status !== 'ok' || !r.measurement) return { backend, engine, N, gflops: null, reason: r.reason ?? 'no result' };
      // The ceiling is what the engine can reach: its fastest run, not its median.
      return { backend, engine, N, gflops: gflops(r.measurement.flops, summarize(r.measurement.samplesMs).min) };
    });
}

export function rowOf(r: BenchResult, ceilings: readonly Ceiling[]): Row | null {
  if (r.status !== 'ok' || !r.measurement) return null;
  const m = r.measurement;
  const s = summarize(m.samplesMs);
  const rate = gflops(m.flops, s.median);
  const ceiling = ceilings.find((c) => c.backend === r.config.backend && c.engine === r.config.engine)?.gflops ?? null;
  return {
    impl: r.config.impl,
    backend: r.config.backend,
    T: r.config.T,
    medianMs: s.median,
    minMs: s.min,
    maxMs: s.max,
    runs: s.n,
    gflops: rate,
    pctCeiling: ceiling ? (100 * rate) / ceiling : null,
    tokensPerS: isDecode(r.config.mode) ? (r.config.decodeSteps * r.config.B) / (s.median / 1000) : null,
    tfPeakMB: m.tfPeakBytes === null ? null : m.tfPeakBytes / MB,
    peakRssMB: m.peakRssBytes / MB,
    rssGrowthMB: Math.max(0, m.peakRssBytes - m.baselineRssBytes) / MB,
    maxError: m.maxError,
    errorT: m.errorT,
  };
}

/** Three significant digits, no exponent for ordinary sizes; '—' for null. */
export function fmt(x: number | null, digits = 3): string {
  if (x === null || !Number.isFinite(x)) return x === null ? '—' : String(x);
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e6)) return x.toExponential(1);
  return Number(x.toPrecision(digits)).toString();
}

/** Results grouped by section (mode and shape), attention results only, in first-seen order. */
export function sections(results: readonly BenchResult[]): BenchResult[][] {
  const groups = new Map<string, BenchResult[]>();
  for (const r of results) {
    if (r.config.mode === 'matmul') continue;
    const key = sectionKey(r.config);
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()];
}

/** Median ms of `impl` on `backend` at T in the forward section of the given shape, or null. */
function medianOf(results: readonly BenchResult[], impl: string, backend: string, T: number): number | null {
  const r = results.find((x) => x.config.impl === impl && x.config.backend === backend && x.config.T === T);
  return r?.status === 'ok' && r.measurement ? summarize(r.measurement.samplesMs).median : null;
}

/**
 * Headline ratios per T in each forward section: how many times faster attnkit's default path
 * is than plain tfjs (same backend) and than onnxruntime-node (native); < 1 means slower.
 */
export function headlineTable(results: readonly BenchResult[]): string {
  const lines: string[] = [];
  for (const section of sections(results)) {
    const c = section[0]!.config;
    if (c.mode !== 'forward') continue;
    const Ts = [...new Set(section.map((r) => r.config.T))].sort((a, b) => a - b);
    const backends = ['cpu', 'wasm', 'webgpu'].filter((b) => section.some((r) => r.config.backend === b && r.config.impl === 'attnkit:auto'));
    if (backends.length === 0) continue;
    lines.push(`### ${sectionTitle(c)}`, '');
    const head = ['T', ...backends.flatMap((b) => [`plain tfjs ÷ attnkit (${b})`, `onnxruntime-node ÷ attnkit (${b})`])];
    lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
    for (const T of Ts) {
      const ort = medianOf(section, 'onnxruntime-node', 'native', T);
      const cells = backends.flatMap((b) => {
        const ours = medianOf(section, 'attnkit:auto', b, T);
        const plain = medianOf(section, 'plain-tfjs', b, T);
        return [ours && plain ? `${fmt(plain / ours)}×` : '—', ours && ort ? `${fmt(ort / ours)}×` : '—'];
      });
      lines.push(`| ${T} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

export function markdownReport(report: BenchReport, descriptions: Record<string, string> = {}): string {
  const { machine } = report;
  const out: string[] = [
    `# attnkit bench — preset \`${report.preset}\``,
    '',
    `Command: \`${report.command}\`  `,
    `Run: ${report.startedAt} → ${report.finishedAt}  `,
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${fmt(machine.totalMemoryBytes / 1024 ** 3)} GiB, ${machine.platform}/${machine.arch}, Node ${machine.node}${machine.nodeFlags?.length ? ` ${machine.nodeFlags.join(' ')}` : ''}  `,
    `Versions: ${Object.entries(machine.versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}`,
    '',
    'Times are per call, after warm-up: median (min–max). GFLOP/s counts dense matmul FLOPs (masks not discounted;',
    'forward+backward = 3× forward; layers add their projections). "% ceiling" compares with the same engine\'s',
    '[N, N]·[N, N] matmul (fastest run) on the same backend. Memory: tfjs peak bytes during one run (tf.profile) and the',
    "process's peak RSS (its growth over the RSS after setup in brackets). Max error: against the float64 oracle at",
    'the sequence length shown. Each configuration ran in its own process.',
    '',
    '## Ceilings: matmul GFLOP/s per backend',
    '',
    '| backend | engine | N | GFLOP/s |',
    '|---|---|---|---|',
    ...report.ceilings.map((c) => `| ${c.backend} | ${c.engine} | ${c.N} | ${c.gflops === null ? `not run: ${c.reason}` : fmt(c.gflops)} |`),
    '',
    '## Headline: attnkit default path vs peers (ratio of median times)',
    '',
    headlineTable(report.results),
  ];
  for (const section of sections(report.results)) {
    const c = section[0]!.config;
    const decode = isDecode(c.mode);
    out.push(`## ${sectionTitle(c)}`, '');
    if (decode) {
      out.push(
        `${c.decodeSteps} tokens generated at the end of a length-T sequence; time is for all of them. Model-level rows`,
        '(attnkit-decoder): T is the source length and the tokens are a whole greedyDecode target (see Implementations).',
        '',
      );
    }
    const head = [
      'T',
      'backend',
      'implementation',
      'median ms',
      'min–max ms (runs)',
      'GFLOP/s',
      '% ceiling',
      ...(decode ? ['tokens/s'] : []),
      'tfjs peak MB',
      'peak RSS MB',
      'max error',
    ];
    out.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
    const sorted = [...section].sort((a, b) => a.config.T - b.config.T || a.config.backend.localeCompare(b.config.backend));
    for (const r of sorted) {
      const row = rowOf(r, report.ceilings);
      const first = [String(r.config.T), r.config.backend, r.config.impl];
      if (!row) {
        out.push(`| ${[...first, `not run: ${r.reason ?? 'unknown'}`, ...head.slice(4).map(() => '')].join(' | ')} |`);
        continue;
      }
      out.push(
        `| ${[
          ...first,
          fmt(row.medianMs),
          `${fmt(row.minMs)}–${fmt(row.maxMs)} (${row.runs})`,
          fmt(row.gflops),
          row.pctCeiling === null ? '—' : `${fmt(row.pctCeiling, 2)}%`,
          ...(decode ? [fmt(row.tokensPerS)] : []),
          fmt(row.tfPeakMB),
          `${fmt(row.peakRssMB)} (+${fmt(row.rssGrowthMB)})`,
          row.maxError === null ? '—' : `${fmt(row.maxError, 2)} (T=${row.errorT})`,
        ].join(' | ')} |`,
      );
    }
    out.push('', `Charts: [time](charts/${sectionSlug(c)}-time.svg), [memory](charts/${sectionSlug(c)}-memory.svg)`, '');
  }
  const used = [...new Set(report.results.map((r) => r.config.impl))];
  out.push('## Implementations', '', ...used.map((name) => `- \`${name}\`: ${descriptions[name] ?? ''}`), '');
  const notes = [...new Set(report.results.flatMap((r) => (r.measurement?.notes ?? []).map((n) => `${r.config.backend}: ${n}`)))];
  if (notes.length > 0) out.push('## Engine notes', '', ...notes.map((n) => `- ${n}`), '');
  return out.join('\n');
}

export interface ChartSpec {
  file: string;
  spec: vl.TopLevelSpec;
}

/** Two log-log charts per section: median time vs T and peak RSS growth vs T, one line per (implementation, backend). */
export function chartSpecs(report: BenchReport): ChartSpec[] {
  const charts: ChartSpec[] = [];
  for (const section of sections(report.results)) {
    const c = section[0]!.config;
    const values = section.flatMap((r) => {
      const row = rowOf(r, report.ceilings);
      return row ? [{ T: row.T, series: `${row.impl} (${row.backend})`, ms: row.medianMs, mb: Math.max(row.rssGrowthMB, 0.1) }] : [];
    });
    if (values.length === 0) continue;
    const chart = (y: 'ms' | 'mb', title: string): vl.TopLevelSpec => ({
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: title, subtitle: sectionTitle(c) },
      width: 520,
      height: 340,
      background: 'white',
      data: { values },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'T',
          type: 'quantitative',
          scale: { type: 'log', base: 2 },
          axis: { title: 'T (sequence length)', values: [...new Set(values.map((v) => v.T))] },
        },
        y: { field: y, type: 'quantitative', scale: { type: 'log' }, axis: { title: y === 'ms' ? 'median ms per call' : 'peak RSS growth (MB)' } },
        color: { field: 'series', type: 'nominal', legend: { title: 'implementation (backend)', labelLimit: 400 } },
      },
    });
    const slug = sectionSlug(c);
    charts.push({ file: `${slug}-time.svg`, spec: chart('ms', 'Time vs T (log-log)') });
    charts.push({ file: `${slug}-memory.svg`, spec: chart('mb', 'Memory vs T (log-log)') });
  }
  return charts;
}

/** vega-lite → vega → SVG, headless (renderer 'none': no canvas, no DOM). */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Writes results.json, results.md and charts/*.svg into `dir`; returns the paths written. */
export async function writeOutputs(dir: string, report: BenchReport, descriptions: Record<string, string> = {}): Promise<string[]> {
  await mkdir(join(dir, 'charts'), { recursive: true });
  const files: [string, string][] = [
    [join(dir, 'results.json'), `${JSON.stringify(report, null, 2)}\n`],
    [join(dir, 'results.md'), markdownReport(report, descriptions)],
  ];
  for (const { file, spec } of chartSpecs(report)) files.push([join(dir, 'charts', file), await renderSvg(spec)]);
  for (const [path, text] of files) await writeFile(path, text);
  return files.map(([path]) => path);
}
