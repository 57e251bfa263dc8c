/**
 * Runs planned configurations, each in its own child process under a wall-clock limit, and
 * collects their results. Larger T of a series is skipped (with the reason recorded) when the
 * previous T timed out or predicts a run past the limit, so a run always finishes.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type PlannedConfig, seriesKey } from './matrix.js';
import { summarize } from './stats.js';
import { type BenchConfig, type BenchResult, RESULT_MARKER, UNAVAILABLE } from './types.js';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
/** Seconds a child spends starting (node, tsx, engine load) before its first run. */
const STARTUP_S = 4;

/** Finds the result line a child printed; null if there is none. */
export function parseChildOutput(stdout: string): BenchResult | null {
  const line = stdout.split('\n').find((l) => l.startsWith(RESULT_MARKER));
  return line ? (JSON.parse(line.slice(RESULT_MARKER.length)) as BenchResult) : null;
}

export interface SeriesHistory {
  T: number;
  medianMs: number | null;
  /** Set when this T timed out or was itself skipped: every larger T is skipped too. */
  blocked: 'timed out' | 'skipped' | null;
}

/**
 * Why `config` is not worth starting given the previous T of its series, or null. A run costs
 * its warm-up runs plus at least one sample (just one when a single run exceeds the budget);
 * time grows as T² (T for decoding with a cache).
 */
export function predictSkip(config: BenchConfig, prev: SeriesHistory | undefined, timeoutS: number): string | null {
  if (!prev) return null;
  if (prev.blocked) return `skipped: T=${prev.T} ${prev.blocked === 'timed out' ? 'timed out' : 'was skipped'}`;
  if (prev.medianMs === null) return null;
  const exponent = config.mode === 'decode-kv-cache' ? 1 : 2;
  const runMs = prev.medianMs * (config.T / prev.T) ** exponent;
  const runs = runMs > config.budgetMs ? Math.max(config.warmup, 1) : config.warmup + 1;
  const predictedS = STARTUP_S + (runs * runMs) / 1000;
  return predictedS > timeoutS
    ? `skipped: predicted ~${Math.round(predictedS)}s from T=${prev.T} (${Math.round(prev.medianMs)} ms), over the ${timeoutS}s limit`
    : null;
}

/**
 * The Node flags every child gets: with `relaxedSimd`, V8's relaxed SIMD where this Node has it
 * only behind a flag (before 22).
 */
export function childNodeFlags(relaxedSimd: boolean, nodeVersion = process.versions.node): string[] {
  const major = Number(nodeVersion.split('.')[0]);
  return relaxedSimd && major < 22 ? ['--experimental-wasm-relaxed-simd'] : [];
}

function runChild(config: BenchConfig, timeoutS: number, nodeFlags: readonly string[]): Promise<BenchResult> {
  const tsx = import.meta.resolve('tsx');
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [...nodeFlags, '--import', tsx, CHILD, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallMs = Date.now() - started;
      const parsed = parseChildOutput(stdout);
      if (parsed) return resolve({ ...parsed, config, wallMs });
      const lastLine = stderr.trim().split('\n').at(-1) ?? '';
      const reason = timedOut ? `timed out after ${timeoutS}s` : `crashed (${signal ?? `exit code ${code}`})${lastLine ? `: ${lastLine}` : ''}`;
      resolve({ config, status: 'not-run', reason, wallMs });
    });
  });
}

export interface RunEvents {
  onStart?(index: number, planned: PlannedConfig): void;
  onDone?(index: number, result: BenchResult): void;
}

export async function runPlan(
  plan: readonly PlannedConfig[],
  timeoutS: number,
  events: RunEvents = {},
  nodeFlags: readonly string[] = [],
): Promise<BenchResult[]> {
  const history = new Map<string, SeriesHistory>();
  const unavailable = new Map<string, string>(); // backend → why it cannot start
  const results: BenchResult[] = [];
  for (const [index, planned] of plan.entries()) {
    events.onStart?.(index, planned);
    const { config } = planned;
    const key = seriesKey(config);
    const reason = planned.reason ?? unavailable.get(config.backend) ?? predictSkip(config, history.get(key), timeoutS);
    const result: BenchResult = reason ? { config, status: 'not-run', reason } : await runChild(config, timeoutS, nodeFlags);
    if (result.reason?.startsWith(UNAVAILABLE)) unavailable.set(config.backend, result.reason);
    if (!planned.reason) {
      const blocked = result.reason?.startsWith('timed out') ? 'timed out' : result.reason?.startsWith('skipped') ? 'skipped' : null;
      const medianMs = result.measurement ? summarize(result.measurement.samplesMs).median : null;
      history.set(key, { T: config.T, medianMs, blocked });
    }
    results.push(result);
    events.onDone?.(index, result);
  }
  return results;
}
