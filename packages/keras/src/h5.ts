/**
 * Reading a Keras weights file (HDF5) into plain arrays, with h5wasm (HDF5's C library
 * compiled to WebAssembly, shipped inside its npm package: nothing is downloaded at install or
 * run time). h5wasm is imported on first use, so importing this package stays cheap.
 */
import { AttentionError } from '@attnkit/masking';

/** One dataset of the file: its HDF5 path (`layers/dense/vars/0`), shape and values as float32. */
export interface H5Array {
  path: string;
  shape: number[];
  values: Float32Array;
}

/** Every dataset of a weights file by path, plus the groups (for error messages). */
export interface H5Weights {
  arrays: Map<string, H5Array>;
  groups: Set<string>;
}

type H5Module = typeof import('h5wasm');
let h5: Promise<{ module: H5Module['default']; FS: NonNullable<Awaited<H5Module['default']['ready']>['FS']> }> | null = null;

async function h5wasm() {
  h5 ??= import('h5wasm').then(async ({ default: module }) => {
    const { FS } = await module.ready;
    return { module, FS: FS! };
  });
  return h5;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
let fileCount = 0;

/**
 * Reads every dataset of an HDF5 file. `op` and `entry` name the caller and the file in
 * errors. Float32/64 datasets are read as float32; other types (and bfloat16, which Keras
 * marks with a `dtype` attribute) are rejected, as are links to other files.
 */
export async function readH5(bytes: Uint8Array, op: string, entry: string): Promise<H5Weights> {
  const signed = HDF5_SIGNATURE.every((b, i) => bytes[i] === b);
  if (!signed) throw new AttentionError(op, `${entry} is not an HDF5 file (no HDF5 signature in its first bytes; ${bytes.length} bytes)`);
  const { module, FS } = await h5wasm();
  const name = `/attnkit-keras-${fileCount++}.h5`;
  FS.writeFile(name, bytes);
  let file: InstanceType<H5Module['default']['File']> | null = null;
  try {
    try {
      file = new module.File(name, 'r');
    } catch (e) {
      throw new AttentionError(op, `${entry} could not be opened as HDF5 (${(e as Error).message})`);
    }
    // h5wasm reports a file HDF5 cannot open (e.g. truncated) with a negative id, not an exception
    if (Number(file.file_id) < 0) {
      file = null;
      throw new AttentionError(op, `${entry} could not be opened as HDF5 (truncated or corrupted; ${bytes.length} bytes)`);
    }
    const out: H5Weights = { arrays: new Map(), groups: new Set() };
    try {
      walk(file, '', out, op, entry);
    } catch (e) {
      if (e instanceof AttentionError) throw e;
      throw new AttentionError(op, `${entry} could not be read as HDF5 (${(e as Error).message})`);
    }
    return out;
  } finally {
    file?.close();
    FS.unlink(name);
  }
}

type H5Group = { keys(): string[]; get(path: string): unknown };

function walk(group: H5Group, prefix: string, out: H5Weights, op: string, entry: string) {
  for (const key of group.keys()) {
    const path = prefix ? `${prefix}/${key}` : key;
    const child = group.get(key) as {
      type?: string;
      dtype?: unknown;
      shape?: number[] | null;
      value?: unknown;
      attrs?: Record<string, { value: unknown }>;
    } | null;
    if (child === null || child === undefined)
      throw new AttentionError(op, `${entry}: ${path} is a link to another file or a broken link, which Keras never writes`);
    if (child.type === 'Group') {
      out.groups.add(path);
      walk(child as unknown as H5Group, path, out, op, entry);
    } else if (child.type === 'Dataset') {
      out.arrays.set(path, readDataset(child, path, op, entry));
    }
  }
}

function readDataset(
  d: { dtype?: unknown; shape?: number[] | null; value?: unknown; attrs?: Record<string, { value: unknown }> },
  path: string,
  op: string,
  entry: string,
): H5Array {
  const marked = d.attrs?.dtype?.value;
  if (marked === 'bfloat16') throw new AttentionError(op, `${entry}: ${path} is bfloat16; only float32/64 weights can be read`);
  const dtype = String(d.dtype);
  if (!/^[<>=|]?(f|d|f4|f8)$/.test(dtype)) throw new AttentionError(op, `${entry}: ${path} has dtype ${dtype}; only float32/64 weights can be read`);
  const shape = d.shape ?? [];
  const value = d.value;
  const values = value instanceof Float32Array ? value : typeof value === 'number' ? Float32Array.of(value) : Float32Array.from(value as ArrayLike<number>);
  return { path, shape: [...shape], values };
}
