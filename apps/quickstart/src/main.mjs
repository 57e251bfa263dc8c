// The smallest attnkit program: causal self-attention over a short sentence, printing the
// weight matrix (rows: queries, columns: keys; each row sums to 1).
import { attentionWithWeights } from '@attnkit/core';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

const backend = process.argv[2] ?? 'wasm';
// Production mode: tfjs then prints no warnings, among them its Node banner (advice to install
// tfjs-node, which attnkit does not use).
tf.enableProdMode();
await tf.setBackend(backend);

const tokens = ['the', 'cat', 'sat', 'on', 'the', 'mat'];
// One 4-dim embedding per distinct word, so that both "the" tokens look alike.
const vocab = { the: [1, 0, 0, 1], cat: [0, 1, 1, 0], sat: [0, 1, 0, 1], on: [1, 1, 0, 0], mat: [0, 1, 1, 1] };
const x = tf.tensor(
  tokens.flatMap((t) => vocab[t]),
  [1, 1, tokens.length, 4],
); // [B, H, T, D]

const { output, weights } = attentionWithWeights(x, x, x, { causal: true, scale: 2 });
const rows = weights.arraySync()[0][0];

const cell = (s) => s.padStart(6);
console.log(`causal self-attention weights on the ${tf.getBackend()} backend (query rows, key columns)\n`);
console.log(`${''.padEnd(5)}${tokens.map(cell).join('')}`);
for (const [i, row] of rows.entries()) console.log(`${tokens[i].padEnd(5)}${row.map((w) => cell(w.toFixed(3))).join('')}`);
console.log(`\noutput shape [B, H, T, D] = [${output.shape}]; the second "the" attends most to itself and the first "the".`);
tf.dispose([x, output, weights]);
