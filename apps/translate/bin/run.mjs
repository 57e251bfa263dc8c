#!/usr/bin/env node
// Runs one of the app's commands (`node bin/run.mjs translate …`) from dist/, building first when a
// fresh clone has not been built yet: `turbo run build --filter=@attnkit/translate` from the
// repository root builds the app and the packages it imports, once. Plain JavaScript, so it runs
// before anything is compiled.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const app = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(app, '..', '..');
const [command, ...rest] = process.argv.slice(2);
const entry = join(app, 'dist', 'cli', `${command}.js`);
const packages = ['masking', 'core', 'positional', 'multi-head', 'cross-attention', 'transformer', 'kernels'];
const missing = [entry, ...packages.map((p) => join(root, 'packages', p, 'dist', 'index.js'))].filter((f) => !existsSync(f));
const BUILD = 'npx pnpm build   (from the repository root, after npx --yes pnpm@10.34.8 install --frozen-lockfile)';

if (!command || !/^[a-z-]+$/.test(command) || !existsSync(join(app, 'src', 'cli', `${command}.ts`))) {
  console.error(`run.mjs: no such command '${command ?? ''}'`);
  process.exit(2);
}
if (missing.length > 0) {
  const turbo = join(root, 'node_modules', '.bin', 'turbo');
  if (!existsSync(turbo)) {
    console.error(
      `${command}: the app is not built and its dependencies are not installed. Run:\n  npx --yes pnpm@10.34.8 install --frozen-lockfile && ${BUILD}`,
    );
    process.exit(1);
  }
  console.error(`${command}: building the app and its packages first (once; missing ${missing.length} build output${missing.length > 1 ? 's' : ''})…`);
  // turbo looks for the package manager on PATH: the workspace's own pnpm is in node_modules/.bin
  const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}` };
  const built = spawnSync(turbo, ['run', 'build', '--filter=@attnkit/translate', '--output-logs=errors-only'], {
    cwd: root,
    env,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (built.status !== 0 || !existsSync(entry)) {
    console.error(`${command}: the build failed; fix it, or run it yourself and read its errors:\n  ${BUILD}`);
    process.exit(1);
  }
}
process.argv = [process.argv[0], entry, ...rest];
await import(pathToFileURL(entry).href);
