// Node module hooks that let plain Node load ONE file of tfjs-layers' ESM build,
// dist/layers/nlp/multihead_attention.js (tfjs-layers' internal MultiHeadAttention, not exported
// by the package). Those files use `import` syntax in a package without "type": "module" and
// extensionless relative specifiers, so Node refuses them as they are. Used by bench.mjs only.
const DIST = '/@tensorflow/tfjs-layers/dist/';

export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  if (parent.includes(DIST) && specifier.startsWith('.') && !specifier.endsWith('.js')) {
    return next(`${specifier}.js`, context);
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (url.includes(DIST) && !url.endsWith('tf-layers.node.js')) {
    return next(url, { ...context, format: 'module' });
  }
  return next(url, context);
}
