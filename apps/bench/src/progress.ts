/** A progress bar on stderr while configurations run (one line per configuration when not a TTY). */
import type { PlannedConfig } from './matrix.js';
import type { BenchResult } from './types.js';

export function label({ config: c }: PlannedConfig): string {
  return c.mode === 'matmul' ? `${c.impl} ${c.backend} N=${c.matmulN}` : `${c.impl} ${c.backend} ${c.mode} T=${c.T}`;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** `[#####-----] 12/40 0m31s  attnkit:auto cpu forward T=512`, padded/cut to `columns`. */
export function progressLine(done: number, total: number, elapsedMs: number, text: string, columns = 100): string {
  const width = 20;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${duration(elapsedMs)}  ${text}`;
  return bar.length > columns ? bar.slice(0, columns) : bar.padEnd(columns);
}

export class Progress {
  private readonly started = Date.now();
  private readonly tty = process.stderr.isTTY === true;

  constructor(
    private readonly total: number,
    private readonly enabled: boolean,
  ) {}

  start(index: number, planned: PlannedConfig): void {
    if (!this.enabled || !this.tty) return;
    const columns = Math.max(40, (process.stderr.columns ?? 100) - 1);
    process.stderr.write(`\r${progressLine(index, this.total, Date.now() - this.started, label(planned), columns)}`);
  }

  done(index: number, planned: PlannedConfig, result: BenchResult): void {
    if (!this.enabled) return;
    const status = result.status === 'ok' ? 'ok' : `not run: ${result.reason}`;
    if (this.tty) {
      const columns = Math.max(40, (process.stderr.columns ?? 100) - 1);
      process.stderr.write(`\r${progressLine(index + 1, this.total, Date.now() - this.started, label(planned), columns)}`);
      if (index + 1 === this.total) process.stderr.write('\n');
    } else {
      process.stderr.write(`[${index + 1}/${this.total}] ${label(planned)}: ${status}\n`);
    }
  }
}
