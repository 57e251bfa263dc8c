/**
 * Options → the list of configurations to run, in run order: each backend's matmul ceiling
 * first, then every (mode, shape, backend, implementation) with T ascending, so that the
 * runner can predict a larger T from a smaller one. Combinations an implementation cannot
 * run keep their reason, to be reported as "not run: <reason>" rather than dropped.
 */
import type { BenchOptions } from './args.js';
import type { BenchImplementation } from './registry.js';
import type { BenchConfig, Mode } from './types.js';

export interface PlannedConfig {
  config: BenchConfig;
  /** Why it will not run, decided before spawning anything; null = run it. */
  reason: string | null;
}

/** Whether `impl` is picked by a selector: its exact name or its family (`attnkit` ⊃ `attnkit:auto`). */
export function selects(selector: string, impl: BenchImplementation): boolean {
  return impl.name === selector || impl.name.split(':')[0] === selector;
}

export function selectImplementations(o: BenchOptions, all: readonly BenchImplementation[]): BenchImplementation[] {
  const unknown = o.impls.filter((s) => !all.some((impl) => selects(s, impl)));
  if (unknown.length > 0) {
    throw new Error(`unknown implementation(s) ${unknown.join(', ')}; known: ${all.map((i) => i.name).join(', ')}`);
  }
  return all.filter((impl) => !impl.modes.includes('matmul') && o.impls.some((s) => selects(s, impl)));
}

function reasonFor(impl: BenchImplementation, c: BenchConfig): string | null {
  if (c.H % c.Hkv !== 0) return `H=${c.H} is not a multiple of Hkv=${c.Hkv}`;
  if (!impl.modes.includes(c.mode)) return `${impl.name} has no ${c.mode} mode`;
  if (c.mode.startsWith('decode') && impl.level !== 'model' && c.T <= c.decodeSteps) return `T=${c.T} must exceed the ${c.decodeSteps} decode steps`;
  return impl.unsupported?.(c) ?? null;
}

export function expandMatrix(o: BenchOptions, all: readonly BenchImplementation[]): PlannedConfig[] {
  const impls = selectImplementations(o, all);
  const common = {
    warmup: o.warmup,
    samples: o.samples,
    budgetMs: o.budgetMs,
    errorT: o.errorT,
    decodeSteps: o.decodeSteps,
    matmulN: o.matmulN,
    ortThreads: o.ortThreads,
  };
  const planned: PlannedConfig[] = [];

  // 1) ceilings: one matmul per (backend, engine) that a selected implementation runs on
  for (const backend of o.backends) {
    const engines = new Set(impls.filter((i) => i.backends.includes(backend)).map((i) => i.engine));
    for (const ceiling of all.filter((i) => i.modes.includes('matmul') && i.backends.includes(backend))) {
      if (!engines.has(ceiling.engine)) continue;
      const config: BenchConfig = {
        ...common,
        impl: ceiling.name,
        engine: ceiling.engine,
        backend,
        mode: 'matmul',
        B: 1,
        H: 1,
        Hkv: 1,
        T: o.matmulN,
        d: o.matmulN,
        causal: false,
        window: null,
      };
      planned.push({ config, reason: null });
    }
  }

  // 2) attention: mode × shape × backend × implementation × T
  const seen = new Set<string>();
  for (const mode of o.modes)
    for (const B of o.B)
      for (const H of o.H)
        for (const Hkv of o.Hkv.length > 0 ? o.Hkv : [H])
          for (const d of o.d)
            for (const causalOption of o.causal)
              for (const window of o.window)
                for (const backend of o.backends)
                  for (const impl of impls) {
                    if (!impl.backends.includes(backend)) continue;
                    for (const T of [...o.T].sort((a, b) => a - b)) {
                      // Decoding is autoregressive: always causal.
                      const causal = isDecode(mode) ? true : causalOption;
                      const config: BenchConfig = { ...common, impl: impl.name, engine: impl.engine, backend, mode, B, H, Hkv, T, d, causal, window };
                      const key = JSON.stringify(config);
                      if (seen.has(key)) continue;
                      seen.add(key);
                      planned.push({ config, reason: reasonFor(impl, config) });
                    }
                  }
  return planned;
}

export function isDecode(mode: Mode): boolean {
  return mode === 'decode-kv-cache' || mode === 'decode-no-cache';
}

/** Configurations that differ only in T share a series (a line on the charts). */
export function seriesKey(c: BenchConfig): string {
  const { impl, backend, mode, B, H, Hkv, d, causal, window } = c;
  return JSON.stringify({ impl, backend, mode, B, H, Hkv, d, causal, window });
}

/** Configurations that differ only in implementation, backend and T share a table section and charts. */
export function sectionKey(c: BenchConfig): string {
  const { mode, B, H, Hkv, d, causal, window } = c;
  return JSON.stringify({ mode, B, H, Hkv, d, causal, window });
}

export function sectionTitle(c: BenchConfig): string {
  return `${c.mode} — B=${c.B}, H=${c.H}, Hkv=${c.Hkv}, d=${c.d}, causal=${c.causal}, window=${c.window ?? 'none'}`;
}

export function sectionSlug(c: BenchConfig): string {
  return `${c.mode.replace('+', '-')}-B${c.B}-H${c.H}-Hkv${c.Hkv}-d${c.d}${c.causal ? '-causal' : ''}${c.window !== null ? `-w${c.window}` : ''}`;
}
