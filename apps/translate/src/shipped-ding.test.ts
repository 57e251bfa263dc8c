/**
 * The shipped sentence model, `checkpoints/ding/model.ckpt`, against the bar on the Ding
 * test split committed beside it: BLEU >= 15 and chrF2 >= 40 greedy and with beam 4, each above
 * the copy-the-source baseline, beam >= greedy. Until the checkpoint is committed, these tests
 * are skipped and their title says so; the folder's licence and test split are checked always.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useBackend } from '@attnkit/test-utils';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { licenceOf } from './data/sources.js';
import { copyBaseline, evaluate } from './evaluate.js';
import { DING_CHECKPOINT, DING_DIR, DING_TEST_FILE, readPairs } from './tasks.js';
import { Translator } from './translator.js';

describe('checkpoints/ding/', () => {
  it('holds the GPL-2 text (Debian common-licenses/GPL-2), a README and the 1063-pair test split', () => {
    const licence = readFileSync(join(DING_DIR, 'LICENSE'), 'utf8');
    expect(licence.startsWith('                    GNU GENERAL PUBLIC LICENSE\n                       Version 2, June 1991')).toBe(true);
    expect(readFileSync(join(DING_DIR, 'README.md'), 'utf8')).toContain('GPL-2.0-or-later');
    expect(readPairs(DING_TEST_FILE)).toHaveLength(1063);
  });
});

const shipped = existsSync(DING_CHECKPOINT);
describe.skipIf(!shipped)(shipped ? 'the shipped sentence model' : `the shipped sentence model: SKIPPED, no checkpoint at ${DING_CHECKPOINT} yet`, () => {
  it('was trained on the Ding data, ships under the GPL, and reaches BLEU >= 15 / chrF2 >= 40 greedy and beam 4 on the test split', async () => {
    await useBackend('wasm');
    const { translator, metadata, extra } = Translator.load(DING_CHECKPOINT);
    tf.dispose(Object.values(extra));
    try {
      expect(metadata.trainingData).toEqual(['ding']);
      expect(licenceOf(metadata.trainingData)).toBe('GPL-2.0-or-later');
      const test = readPairs(DING_TEST_FILE);
      const greedy = evaluate(translator, test, { task: 'ding' });
      const beam = evaluate(translator, test, { task: 'ding', beamSize: 4, batchSize: 16 });
      const copy = copyBaseline(test);
      expect(greedy.bleu.score).toBeGreaterThanOrEqual(15);
      expect(greedy.chrf.score).toBeGreaterThanOrEqual(40);
      expect(beam.bleu.score).toBeGreaterThanOrEqual(greedy.bleu.score);
      expect(beam.chrf.score).toBeGreaterThanOrEqual(40);
      expect(greedy.bleu.score).toBeGreaterThan(copy.bleu.score);
      expect(greedy.chrf.score).toBeGreaterThan(copy.chrf.score);
    } finally {
      translator.dispose();
    }
  }, 900_000);
});
