import { InputError } from './errors.js';

/** Source element types the decoders understand. Data is always widened to Float32Array. */
export type DType = 'float16' | 'float32' | 'float64' | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'uint64' | 'int64' | 'bool';

/** Memory layout of a rank-4 image batch. Rank-3 arrays are always N×H×W (single channel). */
export type Layout = 'NCHW' | 'NHWC';

/** A dense row-major tensor. */
export interface Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

/** What a decoder returns: the values (widened to float32), their shape, and the dtype they were stored in. */
export interface DecodedArray extends Tensor {
  /** Element type in the source file; integer dtypes are treated as 0..255 pixels by preprocessing. */
  readonly dtype: DType;
  /** Set when the format itself fixes the layout (CIFAR binary: NCHW, images: NHWC). */
  readonly layout?: Layout;
  /** Class labels when the format carries them (CIFAR binary). */
  readonly labels?: Int32Array;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A matrix view of an N×D feature table (rows are samples). */
export interface Matrix {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

export function matrix(data: Float32Array, rows: number, cols: number, field = 'features'): Matrix {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 1) {
    throw new InputError(field, `invalid matrix size ${rows}×${cols}`);
  }
  if (data.length !== rows * cols) throw new InputError(field, `data length ${data.length} is not ${rows}×${cols}`);
  return { data, rows, cols };
}

/**
 * A feature table to score: as wide as the `dim` columns `fitted` was fitted on, and well formed (an integer row count,
 * rows × cols values), so a hand-built `{ data, rows, cols }` is never read past its end or scored in part.
 */
export function assertScoreInput(f: Matrix, dim: number, fitted = 'the detector'): void {
  if (f.cols !== dim) throw new InputError('features', `have ${f.cols} columns; ${fitted} was fitted on ${dim}`);
  matrix(f.data, f.rows, f.cols, 'features');
}

/** Throws an InputError naming the first sample that holds a NaN or infinite value. */
export function assertFinite(data: Float32Array | Float64Array, rowLength: number, field: string, what = 'value'): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v - v !== 0) {
      const row = Math.floor(i / rowLength);
      throw new InputError(`${field}[${row}]`, `sample ${row} contains ${Number.isNaN(v) ? 'a NaN' : 'an infinite'} ${what}`);
    }
  }
}

/** Column-wise concatenation of row-aligned matrices, with each part's column range under its name. */
export function concatColumns(parts: readonly Matrix[], names: readonly string[]): { matrix: Matrix; columns: Record<string, [number, number]> } {
  if (parts.length !== names.length || parts.length === 0) throw new InputError('parts', 'need one name per part and at least one part');
  const rows = parts[0]!.rows;
  for (const [i, p] of parts.entries()) if (p.rows !== rows) throw new InputError(`parts[${i}]`, `has ${p.rows} rows, expected ${rows}`);
  const columns: Record<string, [number, number]> = {};
  if (parts.length === 1) return { matrix: parts[0]!, columns: { [names[0]!]: [0, parts[0]!.cols] } };
  const cols = parts.reduce((a, p) => a + p.cols, 0);
  const data = new Float32Array(rows * cols);
  let from = 0;
  parts.forEach((p, i) => {
    for (let r = 0; r < rows; r++) data.set(p.data.subarray(r * p.cols, (r + 1) * p.cols), r * cols + from);
    columns[names[i]!] = [from, from + p.cols];
    from += p.cols;
  });
  return { matrix: { data, rows, cols }, columns };
}

/** The rows `idx` of `m`, in the order given (a copy). */
export function selectRows(m: Matrix, idx: ArrayLike<number>): Matrix {
  const out = new Float32Array(idx.length * m.cols);
  for (let i = 0; i < idx.length; i++) {
    const r = idx[i]!;
    if (!Number.isInteger(r) || r < 0 || r >= m.rows) throw new InputError('rows', `row ${r} is outside 0..${m.rows - 1}`);
    out.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols);
  }
  return { data: out, rows: idx.length, cols: m.cols };
}
