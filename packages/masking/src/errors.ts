/** Formats a shape the way messages show it: `[2,4,8,16]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

function listShapes(shapes: Record<string, readonly number[]>): string {
  const parts = Object.entries(shapes).map(([name, shape]) => `${name} ${formatShape(shape)}`);
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/**
 * The one error class of attnkit. `op` names the public function or layer that refused the
 * input and `shapes` holds the shapes it was given, so callers can inspect them as well as
 * read them in the message:
 * `scaledDotProductAttention: key and value lengths must match, but got key [2,4,8,16] and value [2,4,9,16]`.
 */
export class AttentionError extends Error {
  override name = 'AttentionError';
  readonly op: string;
  readonly shapes: Readonly<Record<string, readonly number[]>>;

  constructor(op: string, message: string, shapes: Record<string, readonly number[]> = {}) {
    super(`${op}: ${message}`);
    this.op = op;
    this.shapes = shapes;
  }

  /** An error whose message ends in `, but got <name> <shape> and <name> <shape>`. */
  static shapes(op: string, problem: string, shapes: Record<string, readonly number[]>): AttentionError {
    return new AttentionError(op, `${problem}, but got ${listShapes(shapes)}`, shapes);
  }

  /** An error whose message ends in `, but got <value>`. */
  static value(op: string, problem: string, got: unknown): AttentionError {
    const shown = typeof got === 'string' ? `'${got}'` : Array.isArray(got) ? formatShape(got) : String(got);
    return new AttentionError(op, `${problem}, but got ${shown}`);
  }
}

/** Throws an AttentionError built lazily, only when `condition` is false. */
export function check(condition: boolean, error: () => AttentionError): asserts condition {
  if (!condition) throw error();
}
