/**
 * IDX files (MNIST, EMNIST, Fashion-MNIST), plain or gzip-compressed.
 *
 * Layout: two zero bytes, a type code, the number of dimensions, then one big-endian uint32 per dimension, then the
 * data, big-endian. Image files are rank 3 (N×H×W), label files rank 1 (N).
 */
import { InputError } from '../core/errors.js';
import { sizeOf, type DecodedArray, type DType } from '../core/tensor.js';
import { gunzip, isGzip } from './gzip.js';
import { itemSize, widen, type ElementKind } from './widen.js';

/** IDX type codes and the element type each stands for. */
export const IDX_TYPES: Readonly<Record<number, DType & ElementKind>> = {
  0x08: 'uint8',
  0x09: 'int8',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

const hex = (b: number): string => `0x${b.toString(16).padStart(2, '0')}`;

/** True when `bytes` (uncompressed) starts like an IDX file: 00 00, a known type code and a rank of 1 to 4. */
export function isIdx(bytes: Uint8Array): boolean {
  if (bytes.length < 8 || bytes[0] !== 0 || bytes[1] !== 0) return false;
  const ndim = bytes[3]!;
  return IDX_TYPES[bytes[2]!] !== undefined && ndim >= 1 && ndim <= 4 && bytes.length >= 4 + 4 * ndim;
}

/**
 * Decodes an IDX file, gunzipping it first when it starts with the gzip magic (byte offsets in errors then refer to
 * the decompressed data). Values are widened to Float32Array; `dtype` is the stored type.
 */
export function decodeIdx(bytes: Uint8Array, field = 'idx'): DecodedArray {
  let raw = bytes;
  let where = '';
  if (isGzip(bytes)) {
    raw = gunzip(bytes, field);
    where = ' of the gunzipped data';
  }
  if (raw.length < 4) throw new InputError(`${field}.magic`, `truncated: ${raw.length} bytes${where}, the magic number needs 4`);
  if (raw[0] !== 0 || raw[1] !== 0) {
    throw new InputError(`${field}.magic`, `not an IDX file: bytes 0-1${where} are ${hex(raw[0]!)} ${hex(raw[1]!)}, expected 0x00 0x00`);
  }
  const code = raw[2]!;
  const dtype = IDX_TYPES[code];
  if (dtype === undefined) {
    const known = Object.entries(IDX_TYPES).map(([c, t]) => `${hex(Number(c))} ${t}`).join(', ');
    throw new InputError(`${field}.type`, `unknown type code ${hex(code)} at byte 2${where}; known: ${known}`);
  }
  const ndim = raw[3]!;
  if (ndim === 0) throw new InputError(`${field}.ndim`, `rank 0 at byte 3${where}; an IDX file needs at least one dimension`);
  const dataOffset = 4 + 4 * ndim;
  if (raw.length < dataOffset) {
    throw new InputError(`${field}.dims`, `truncated: ${ndim} dimensions need a header of ${dataOffset} bytes, the data${where} has ${raw.length}`);
  }
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(dv.getUint32(4 + 4 * i, false));
  const count = sizeOf(shape);
  const expected = count * itemSize(dtype);
  const actual = raw.length - dataOffset;
  if (actual !== expected) {
    throw new InputError(
      `${field}.data`,
      `dims [${shape.join(', ')}] of ${dtype} need ${expected} data bytes from byte ${dataOffset}${where}, but there are ${actual} (${actual < expected ? 'truncated' : `${actual - expected} extra bytes`})`,
    );
  }
  return { data: widen(raw, dataOffset, count, dtype, false), shape, dtype };
}
