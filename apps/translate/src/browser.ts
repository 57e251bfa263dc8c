/**
 * What the web page needs beyond `Translator`, free of Node APIs: a translator from the bytes of
 * a checkpoint (fetched from the page's own static files), the encoder's self-attention of one
 * input, and the input check that refuses over-long text before any tensor is made.
 */
import { AttentionError } from '@attnkit/masking';
import * as tf from '@tensorflow/tfjs';
import { type CheckpointMetadata, parseCheckpoint } from './checkpoint-format.js';
import { normalizeText } from './text.js';
import { Translator } from './translator.js';

/**
 * A translator from checkpoint bytes: parsed and verified (SHA-256 of header and weights) by the
 * same `parseCheckpoint` as `loadCheckpoint` uses; weights the model does not use (e.g. optimizer
 * state `optimizer/<i>`) are disposed. `origin` (a URL or file name) names the checkpoint in errors.
 */
export function translatorFromBytes(bytes: Uint8Array, origin: string): { translator: Translator; metadata: CheckpointMetadata } {
  const { translator, metadata, extra } = Translator.fromCheckpoint(parseCheckpoint(bytes, origin, 'translatorFromBytes'), origin);
  tf.dispose(Object.values(extra));
  return { translator, metadata };
}

/** Why an input is refused, or `null` when it may be translated. */
export interface InputCheck {
  /** Source tokens the input encodes to, `<eos>` included. */
  tokens: number;
  /** A sentence for the user when the input is refused; `null` when it is accepted. */
  refusal: string | null;
}

/**
 * Checks an input before translating: empty text, text of more than `maxSourceTokens` tokens
 * (the translator would cut it) and text of more than 8 x `maxSourceTokens` characters (not
 * even tokenised, so a pasted book cannot freeze the page) are refused with a sentence saying
 * why and what the limits are.
 */
export function checkInput(translator: Translator, text: string): InputCheck {
  const limit = translator.config.maxSourceTokens;
  const limits = `the model reads at most ${limit} tokens (${limit * 8} characters)`;
  const tooLong = (size: string) => `This input is too long: ${size}, but ${limits}. Shorten it and try again.`;
  // 1) characters, before normalising or tokenising anything long
  if (text.length > limit * 64) return { tokens: Number.NaN, refusal: tooLong(`${text.length} characters`) };
  const normal = normalizeText(text);
  if (normal.length === 0)
    return { tokens: 0, refusal: translator.config.task === 'numbers' ? 'Type a number or English number words first.' : 'Type an English sentence first.' };
  if (normal.length > limit * 8) return { tokens: Number.NaN, refusal: tooLong(`${normal.length} characters`) };
  // 2) tokens
  const tokens = translator.tokenizer.encode(normal, { eos: true }).ids.length;
  if (tokens > limit) return { tokens, refusal: tooLong(`${tokens} tokens`) };
  return { tokens, refusal: null };
}

/**
 * The encoder's self-attention for one input: `[layer][head][query][key]` over the source tokens
 * (`<eos>` included), as `translate` sees them. Reads asynchronously (webgpu cannot read synchronously).
 */
export async function encoderAttention(translator: Translator, text: string): Promise<{ sourceTokens: string[]; weights: number[][][][] }> {
  const enc = translator.encodeSource(text);
  if (enc.ids.length === 0) throw AttentionError.value('encoderAttention', 'the input encodes to no token', text);
  const source = tf.tensor2d([enc.ids], [1, enc.ids.length], 'int32');
  const { memory, memoryMask, attention = [] } = translator.model.encode(source, { returnAttention: true });
  try {
    const weights = (await Promise.all(attention.map((w) => w.array()))).map((w) => w[0]!); // [H, Ts, Ts] per layer
    return { sourceTokens: translator.tokenizer.idsToTokens(enc.ids), weights };
  } finally {
    tf.dispose([source, memory, memoryMask, ...attention]);
  }
}
