#!/usr/bin/env node
// Fails (exit 1) when the relative imports of any workspace package's TypeScript sources form
// a cycle. Type-only imports count too: a cycle of types is still a tangle to read. Usage:
// node scripts/check-cycles.mjs [root ...] (default: packages/*/src, packages/*/web/src, apps/*/src).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sourceRoots() {
  const roots = [];
  for (const group of ['packages', 'apps']) {
    const dir = join(repo, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      for (const sub of ['src', 'web/src', 'scripts']) {
        const root = join(dir, name, sub);
        if (existsSync(root) && statSync(root).isDirectory()) roots.push(root);
      }
    }
  }
  return roots;
}

function filesUnder(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'dist') out.push(...filesUnder(path));
    } else if (/\.(ts|mts|tsx)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The files a source imports or re-exports by relative path ('./x.js' -> x.ts), resolved. */
function importsOf(file) {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const specs = [
    ...text.matchAll(
      /(?:import|export)\s[^'";]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\s*\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|import\s*['"](\.{1,2}\/[^'"]+)['"]/g,
    ),
  ].map((m) => m[1] ?? m[2] ?? m[3]);
  const out = [];
  for (const spec of specs) {
    const base = resolve(dirname(file), spec);
    const candidates = [base, base.replace(/\.(m?js|jsx)$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts')];
    const hit = candidates.find((c) => /\.(ts|mts|tsx)$/.test(c) && existsSync(c) && statSync(c).isFile());
    if (hit) out.push(hit);
  }
  return out;
}

/** Every elementary cycle found by a depth-first search, each reported once (by its smallest rotation). */
function cyclesOf(graph) {
  const cycles = new Map();
  const state = new Map(); // 1: on the stack, 2: done
  const stack = [];
  const visit = (node) => {
    state.set(node, 1);
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 1) {
        const cycle = stack.slice(stack.indexOf(next));
        const start = cycle.indexOf([...cycle].sort()[0]);
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        cycles.set(rotated.join(' -> '), rotated);
      } else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 2);
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return [...cycles.values()];
}

const roots = process.argv.length > 2 ? process.argv.slice(2).map((r) => resolve(r)) : sourceRoots();
const graph = new Map();
for (const root of roots) for (const file of filesUnder(root)) graph.set(file, importsOf(file));
const cycles = cyclesOf(graph);
if (cycles.length === 0) {
  console.log(`check-cycles: no import cycles in ${graph.size} files`);
} else {
  console.error(`check-cycles: ${cycles.length} import cycle(s):`);
  for (const c of cycles) console.error(`  ${[...c, c[0]].map((f) => relative(repo, f)).join(' -> ')}`);
  process.exit(1);
}
