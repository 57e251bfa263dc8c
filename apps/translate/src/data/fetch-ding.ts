/**
 * Fetches the Ding dictionary (`trans-de-en`, GPL-2+) with Debian's own tools into a cache
 * directory outside git: `apt-get download trans-de-en`, then `dpkg-deb -x`. Nothing here is
 * committed or shipped. Where apt is unavailable, `fetchDing` throws an `AttentionError` whose
 * message says so and what still works; callers go on without the corpus.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AttentionError } from '@attnkit/masking';

/** Where the package installs the dictionary, relative to the extraction root. */
export const DING_FILE_IN_PACKAGE = 'usr/share/trans/de-en';
/** Where the dictionary lives when `trans-de-en` is installed system-wide. */
export const DING_SYSTEM_FILE = `/${DING_FILE_IN_PACKAGE}`;

export interface FetchDingOptions {
  /** Cache directory (created if missing). Required; the app uses `apps/translate/.data/ding`. */
  cacheDir: string;
  /** An existing `de-en` file to use instead of fetching. Default: `process.env.DING_DE_EN`. */
  file?: string;
  /** Also accept the system-wide file `/usr/share/trans/de-en`. Default `true`. */
  useSystemFile?: boolean;
}

export interface DingSource {
  /** Absolute path of the `de-en` dictionary file. */
  path: string;
  /** How it was found. */
  origin: 'file' | 'system' | 'cache' | 'apt';
  /** The `.deb` it came from, when fetched or cached. */
  deb?: string;
}

const UNAVAILABLE =
  'the Ding corpus (Debian package trans-de-en) could not be fetched, so the ding task is unavailable here; ' +
  'everything else (numbers task, tokenizer, metrics, checkpoints, heatmaps) works without it. ' +
  "To get it, run this on a Debian/Ubuntu machine that reaches Debian's archive (after apt-get update), " +
  'or point DING_DE_EN at an existing de-en file';

function run(command: string, args: string[], cwd: string): void {
  try {
    execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    const detail = e.code === 'ENOENT' ? `${command} is not installed` : (e.stderr?.toString().trim().split('\n').slice(-3).join(' ') ?? e.message);
    throw AttentionError.value('fetchDing', UNAVAILABLE, `${command} ${args.join(' ')} failed: ${detail}`);
  }
}

function cachedDeb(cacheDir: string): string | undefined {
  return readdirSync(cacheDir)
    .filter((f) => /^trans-de-en_.*\.deb$/.test(f))
    .sort()
    .pop();
}

/** Finds or fetches the Ding `de-en` file. Throws `AttentionError` (op `fetchDing`) when it cannot. */
export function fetchDing(options: FetchDingOptions): DingSource {
  const { cacheDir, file = process.env.DING_DE_EN, useSystemFile = true } = options;
  if (file) {
    if (!existsSync(file)) throw AttentionError.value('fetchDing', 'DING_DE_EN / file names no existing file', file);
    return { path: resolve(file), origin: 'file' };
  }
  if (useSystemFile && existsSync(DING_SYSTEM_FILE)) return { path: DING_SYSTEM_FILE, origin: 'system' };
  const dir = resolve(cacheDir);
  mkdirSync(dir, { recursive: true });
  const extracted = join(dir, 'extracted');
  const target = join(extracted, DING_FILE_IN_PACKAGE);
  let deb = cachedDeb(dir);
  const origin = deb ? 'cache' : 'apt';
  if (!deb) {
    // 1) download the .deb with apt (no root needed for `download`)
    run('apt-get', ['download', 'trans-de-en'], dir);
    deb = cachedDeb(dir);
    if (!deb) throw AttentionError.value('fetchDing', UNAVAILABLE, `apt-get download left no trans-de-en_*.deb in ${dir}`);
  }
  if (!existsSync(target)) {
    // 2) unpack it without installing
    run('dpkg-deb', ['-x', deb, extracted], dir);
    if (!existsSync(target)) throw AttentionError.value('fetchDing', UNAVAILABLE, `${deb} holds no ${DING_FILE_IN_PACKAGE}`);
  }
  return { path: target, origin, deb: join(dir, deb) };
}
