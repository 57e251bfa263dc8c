#!/usr/bin/env bash
# The release as a user meets it: packs every published package (pnpm pack, which rewrites
# workspace: ranges to versions), installs the tarballs with npm into a fresh project outside
# the workspace, and runs each package README's first complete example there in Node. Fails on the
# first example that fails; before that publint --strict on each package, after it a tf.model of
# every layer (fit, save, reload), tsc over the published types and a Vite page in Chromium (dev
# server and production build). Called by .ci/run; needs the packages built (it runs the build,
# which turbo serves from its cache when nothing changed) and the npm registry for tfjs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pnpm=(npx --yes pnpm@10.34.8)
packages=(masking core positional kernels multi-head cross-attention transformer keras)
work=$(mktemp -d "${TMPDIR:-/tmp}/attnkit-consumer.XXXXXX")
[ -n "${PACK_INSTALL_KEEP:-}" ] && echo "pack-install: keeping $work" || trap 'rm -rf "$work"' EXIT

cd "$root"
# turbo straight from node_modules/.bin, with that folder on PATH as an absolute path: under
# `pnpm exec` PATH starts with a relative ./node_modules/.bin, and turbo cannot spawn a task's
# pnpm from a package's folder through it.
PATH="$root/node_modules/.bin:$PATH" "$root/node_modules/.bin/turbo" run build --filter='./packages/*' --output-logs=errors-only >/dev/null

mkdir -p "$work/tarballs" "$work/app"
for p in "${packages[@]}"; do
  (cd "packages/$p" && "${pnpm[@]}" pack --pack-destination "$work/tarballs" >/dev/null)
  # every published tarball carries its LICENSE and README
  tgz=$(ls "$work"/tarballs/attnkit-"$p"-*.tgz)
  listing=$(tar -tzf "$tgz")
  for f in LICENSE README.md package.json; do
    grep -qx "package/$f" <<<"$listing" || { echo "pack-install: $tgz has no $f" >&2; exit 1; }
  done
  if grep -q '"workspace:' <<<"$(tar -xOzf "$tgz" package/package.json)"; then
    echo "pack-install: $tgz still has a workspace: range" >&2; exit 1
  fi
done

# publint (strict: warnings fail too) on every published package, as a user's tooling would check it
for p in "${packages[@]}"; do
  if ! out=$(cd "packages/$p" && timeout 300 npx --yes publint@0.3.25 --strict 2>&1); then
    echo "$out" >&2
    echo "pack-install: publint finds problems in packages/$p" >&2
    exit 1
  fi
done
echo "pack-install: publint --strict: all good for ${#packages[@]} packages"

cd "$work/app"
printf '{ "name": "attnkit-consumer", "private": true, "type": "module" }\n' > package.json
npm install --no-audit --no-fund --loglevel=error "$work"/tarballs/*.tgz \
  @tensorflow/tfjs@4.22.0 @tensorflow/tfjs-backend-wasm@4.22.0 vite@7.3.8 playwright-core@1.65.1 typescript@5.9.3 >/dev/null

# Each README's first complete js example (the first js block that imports @tensorflow/tfjs;
# side-by-side fragments, e.g. a PyTorch call and its attnkit equivalent, are skipped), run as
# the user would paste it.
for p in "${packages[@]}"; do
  node -e '
    const text = require("node:fs").readFileSync(process.argv[1], "utf8");
    const blocks = [...text.matchAll(/^```(?:js|javascript)\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
    process.stdout.write(blocks.find((b) => /from .@tensorflow\/tfjs./.test(b)) ?? "");
  ' "$root/packages/$p/README.md" > "example-$p.mjs"
  if [ ! -s "example-$p.mjs" ]; then echo "pack-install: packages/$p/README.md has no js example" >&2; exit 1; fi
  echo "pack-install: packages/$p/README.md example"
  if ! out=$(timeout 300 node "example-$p.mjs" 2>&1); then
    echo "$out" >&2
    echo "pack-install: the example of packages/$p/README.md failed in a fresh npm project" >&2
    exit 1
  fi
  grep -v -e 'looks like you are running TensorFlow.js in Node.js' -e 'tfjs-node' -e '^=\+$' -e '^$' <<<"$out" | sed 's/^/  /' | head -20
done
# A tf.model of every layer: fit (every weight changes), save to files, reload in a new process,
# same outputs (scripts/consumer/layers-model.mjs).
mkdir -p saved
cp "$root/scripts/consumer/layers-model.mjs" .
first=$(timeout 300 node layers-model.mjs save saved 2>/dev/null | tail -n 1)
second=$(timeout 300 node layers-model.mjs load saved 2>/dev/null | tail -n 1)
node -e '
  const [a, b] = process.argv.slice(1).map((s) => JSON.parse(s));
  const diff = Math.max(...a.output.map((v, i) => Math.abs(v - b.output[i])));
  if (a.weights !== b.weights || a.output.length !== b.output.length || !(diff <= 1e-6)) {
    console.error(`pack-install: the reloaded model differs (weights ${a.weights} vs ${b.weights}, max |diff| ${diff})`);
    process.exit(1);
  }
  console.log(`pack-install: a tf.model of every layer (${a.weights} weights) fit, saved, reloaded in a new process: same outputs (max |diff| ${diff})`);
' "$first" "$second"
# The published types as a TypeScript user compiles them: a file over every package, with
# skipLibCheck false, under moduleResolution bundler and node16 (scripts/consumer/types/). Any
# error in attnkit's .d.ts files or the consumer file fails; tfjs's own .d.ts files have errors
# under strict + skipLibCheck false (tfjs-layers' keras_format index signatures, LayersModel vs
# InferenceModel), which are counted and named, not ours to fix.
mkdir -p types
cp "$root"/scripts/consumer/types/* types/
for resolution in bundler node16; do
  out=$(cd types && npx --no-install tsc -p "tsconfig.$resolution.json" 2>&1) || true
  node -e '
    const [out, resolution] = process.argv.slice(1);
    const errors = out.split("\n").filter((l) => /error TS\d+/.test(l) && !/^\s/.test(l));
    const theirs = errors.filter((l) => l.startsWith("../node_modules/@tensorflow/"));
    const ours = errors.filter((l) => !theirs.includes(l));
    const files = [...new Set(theirs.map((l) => l.replace(/\(.*/, "").replace("../node_modules/", "")))];
    if (ours.length > 0) {
      console.error(ours.join("\n"));
      console.error(`pack-install: tsc finds ${ours.length} errors in attnkit types or the consumer file (skipLibCheck false, moduleResolution ${resolution})`);
      process.exit(1);
    }
    console.log(`pack-install: tsc on a consumer file over every package, skipLibCheck false, moduleResolution ${resolution}: no errors in attnkit types ` +
      `(${theirs.length} in the tfjs files ${files.join(", ")})`);
  ' "$out" "$resolution"
done
# The bundler half: a page using core, kernels and positional, through Vite's dev server and
# through `vite build` + preview, run in Debian's Chromium (scripts/consumer/vite/run.mjs).
mkdir -p page
cp "$root"/scripts/consumer/vite/* page/
(cd page && timeout 300 node run.mjs 2>&1) | grep -v -e 'looks like you are running TensorFlow.js in Node.js' -e '^=\+$' -e '^$'
echo "pack-install: ${#packages[@]} packages packed, installed with npm and their README examples run"
