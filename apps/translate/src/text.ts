/**
 * Text normalisation shared by the data loaders, the tokenizer and the metrics' callers.
 *
 * `normalizeText` is the one definition of "normalised input" in this app: Unicode NFC, every run
 * of whitespace (including no-break and zero-width spaces) collapsed to one ASCII space, and the
 * ends trimmed. Control characters other than whitespace are removed.
 */

import { AttentionError } from '@attnkit/masking';

// Whitespace per Unicode plus the zero-width characters that editors leave in copied text.
const WHITESPACE = /[\s\u00a0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff]+/gu;
// C0/C1 controls that are not whitespace (tab, newline and friends are caught above first).
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing control characters is the point.
const CONTROL = /[\u0000-\u0008\u000e-\u001f\u007f-\u009f]/gu;

/** NFC, whitespace runs → one space, control characters removed, trimmed. Idempotent. */
export function normalizeText(text: string): string {
  return text.normalize('NFC').replace(WHITESPACE, ' ').replace(CONTROL, '').replace(WHITESPACE, ' ').trim();
}

export interface TruncateOptions {
  /** Largest number of Unicode code points kept. Required. */
  maxChars: number;
  /** Appended when the text was cut (counts towards `maxChars`). Default `''`. */
  ellipsis?: string;
}

/**
 * Cuts normalised text to at most `maxChars` code points without splitting a surrogate pair,
 * preferring the last space before the limit when there is one in the last quarter. Returns
 * the text unchanged when it fits.
 */
export function truncateText(text: string, options: TruncateOptions): { text: string; truncated: boolean } {
  const { maxChars, ellipsis = '' } = options;
  if (!Number.isInteger(maxChars) || maxChars < 1) {
    throw AttentionError.value('truncateText', 'maxChars must be a positive integer', maxChars);
  }
  const chars = Array.from(text);
  if (chars.length <= maxChars) return { text, truncated: false };
  const room = Math.max(0, maxChars - Array.from(ellipsis).length);
  let cut = chars.slice(0, room).join('');
  const space = cut.lastIndexOf(' ');
  if (space > 0 && space >= cut.length * 0.75) cut = cut.slice(0, space);
  return { text: cut.trimEnd() + ellipsis, truncated: true };
}
