/**
 * Python's notion of whitespace, which sacreBLEU's `str.split()` / `str.rstrip()` use: it differs
 * from JavaScript's `\s` (Python adds the separators U+001C–U+001F and U+0085; JavaScript adds
 * U+FEFF). Metrics must split exactly as sacreBLEU does to reproduce its scores.
 */
const PY_WHITESPACE = '\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const RUNS = new RegExp(`[${PY_WHITESPACE}]+`, 'g');
const TRAILING = new RegExp(`[${PY_WHITESPACE}]+$`);

/** Python's `s.split()`: split on whitespace runs, dropping empty strings. */
export function pySplit(s: string): string[] {
  return s.split(RUNS).filter((w) => w.length > 0);
}

/** Python's `s.rstrip()`. */
export function pyRstrip(s: string): string {
  return s.replace(TRAILING, '');
}
