/**
 * IDX files (MNIST, EMNIST, Fashion-MNIST), plain or gzip-compressed.
 *
 * Layout: two zero bytes, a type code, the number of dimensions, then one big-endian uint32 per dimension, then the
 * data, big-endian. Image files are rank 3 (N×H×W), label files rank 1 (N).
 */
import { InputError } from '../core/errors.js';
import type { DecodedArray, DType } from '../core/tensor.js';
import { gunzipDeclared, isGzip, type InflateBound } from './gzip.js';
import { checkArraySize, resolveLimits, type DecodeLimits } from './limits.js';
import { itemSize, widen, type ElementKind } from './widen.js';

/** IDX type codes and the element type each stands for. */
const IDX_TYPES: Readonly<Record<number, DType & ElementKind>> = {
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

interface IdxHeader {
  readonly dtype: DType & ElementKind;
  readonly shape: number[];
  readonly count: number;
  readonly dataOffset: number;
}

/** Validates the magic, type code and dims (against the limits) of `raw`, which may hold only the header. */
function parseIdxHeader(raw: Uint8Array, field: string, where: string, lim: DecodeLimits): IdxHeader {
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
  if (ndim > lim.maxRank) throw new InputError(`${field}.ndim`, `rank ${ndim} at byte 3${where} is more than maxRank ${lim.maxRank}`);
  const dataOffset = 4 + 4 * ndim;
  if (raw.length < dataOffset) {
    throw new InputError(`${field}.dims`, `truncated: ${ndim} dimensions need a header of ${dataOffset} bytes, the data${where} has ${raw.length}`);
  }
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(dv.getUint32(4 + 4 * i, false));
  const count = checkArraySize(shape, lim, `${field}.dims`, `dims [${shape.join(', ')}] at byte 4${where}`);
  return { dtype, shape, count, dataOffset };
}

/** The longest IDX header: magic plus 255 dimensions. */
const IDX_MAX_HEADER = 4 + 4 * 255;

function extraBytes(field: string, h: IdxHeader, expected: number, where: string): InputError {
  return new InputError(
    `${field}.data`,
    `dims [${h.shape.join(', ')}] of ${h.dtype} need ${expected - h.dataOffset} data bytes from byte ${h.dataOffset}${where}, but there are more (extra bytes)`,
  );
}

/**
 * The inflation bound of a gzipped IDX file from its header (first bytes of the gunzipped data): the header's own
 * length plus its data. Throws InputError when the header is malformed or over the limits.
 */
export function idxInflateBound(head: Uint8Array, field: string, limits?: Partial<DecodeLimits>): InflateBound {
  const where = ' of the gunzipped data';
  const h = parseIdxHeader(head, field, where, resolveLimits(limits));
  const expected = h.dataOffset + h.count * itemSize(h.dtype);
  return { maxBytes: expected, tooLarge: () => extraBytes(field, h, expected, where) };
}

/**
 * Decodes an IDX file, gunzipping it first when it starts with the gzip magic (byte offsets in errors then refer to
 * the decompressed data). Values are widened to Float32Array; `dtype` is the stored type. The header's dims are
 * checked against `limits` before anything is allocated, and a gzipped file is inflated only up to the length its
 * header declares.
 */
export function decodeIdx(bytes: Uint8Array, field = 'idx', limits?: Partial<DecodeLimits>): DecodedArray {
  const lim = resolveLimits(limits);
  let raw = bytes;
  let where = '';
  if (isGzip(bytes)) {
    raw = gunzipDeclared(bytes, field, lim, IDX_MAX_HEADER, (head) => idxInflateBound(head, field, lim));
    where = ' of the gunzipped data';
  }
  const h = parseIdxHeader(raw, field, where, lim);
  const { dtype, shape, count, dataOffset } = h;
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
