/**
 * NumPy `.npy` decoding and encoding (format versions 1.0, 2.0 and 3.0).
 *
 * Layout: magic `\x93NUMPY`, major and minor version bytes, a little-endian header length (2 bytes in 1.0, 4 bytes in
 * 2.0/3.0), then the header: a Python dict literal such as
 * `{'descr': '<f4', 'fortran_order': False, 'shape': (1000, 1, 32, 32), }`, latin1 in 1.0/2.0 and utf8 in 3.0.
 * The raw array data follows. The header is parsed by a small literal parser, never evaluated.
 */
import { InputError } from '../core/errors.js';
import { sizeOf, type DecodedArray, type DType } from '../core/tensor.js';
import type { InflateBound } from './gzip.js';
import { checkArraySize, resolveLimits, type DecodeLimits } from './limits.js';
import { HOST_LITTLE_ENDIAN, widen, type ElementKind } from './widen.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** True when `bytes` starts with the `.npy` magic string. */
export function isNpy(bytes: Uint8Array): boolean {
  if (bytes.length < MAGIC.length) return false;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
// dtype descriptors

interface NpyDType {
  readonly dtype: DType;
  readonly kind: ElementKind;
  readonly itemsize: number;
  readonly littleEndian: boolean;
}

/** Type codes (kind letter + item size) this decoder understands, with their DType. */
const TYPE_CODES: Readonly<Record<string, { dtype: DType; kind: ElementKind }>> = {
  f2: { dtype: 'float16', kind: 'float16' },
  f4: { dtype: 'float32', kind: 'float32' },
  f8: { dtype: 'float64', kind: 'float64' },
  u1: { dtype: 'uint8', kind: 'uint8' },
  i1: { dtype: 'int8', kind: 'int8' },
  u2: { dtype: 'uint16', kind: 'uint16' },
  i2: { dtype: 'int16', kind: 'int16' },
  u4: { dtype: 'uint32', kind: 'uint32' },
  i4: { dtype: 'int32', kind: 'int32' },
  u8: { dtype: 'uint64', kind: 'uint64' },
  i8: { dtype: 'int64', kind: 'int64' },
  b1: { dtype: 'bool', kind: 'bool' },
};

/** The descriptors accepted in the `descr` header field (byte order `<`, `>`, `|` or `=`). */
const NPY_SUPPORTED_DESCRS: readonly string[] = [
  '<f2', '>f2', '<f4', '>f4', '<f8', '>f8', '|u1', '|i1', '|b1',
  '<u2', '>u2', '<i2', '>i2', '<u4', '>u4', '<i4', '>i4', '<u8', '>u8', '<i8', '>i8',
];

const KIND_NAMES: Readonly<Record<string, string>> = {
  O: 'object arrays (pickled Python objects) are not supported',
  U: 'unicode string arrays are not supported',
  S: 'byte string arrays are not supported',
  a: 'byte string arrays are not supported',
  V: 'void/structured arrays are not supported',
  c: 'complex arrays are not supported',
  M: 'datetime arrays are not supported',
  m: 'timedelta arrays are not supported',
};

function parseDescr(descr: string, field: string): NpyDType {
  const m = /^([<>|=]?)([a-zA-Z])(\d*)$/.exec(descr);
  const fieldName = `${field}.header.descr`;
  if (m) {
    const [, order, kind, size] = m as unknown as [string, string, string, string];
    const known = KIND_NAMES[kind];
    if (known) throw new InputError(fieldName, `dtype '${descr}': ${known}; supported: ${NPY_SUPPORTED_DESCRS.join(' ')}`);
    // '?' is not matched by the regex; handle the single-letter aliases numpy may write.
    const code = kind + size;
    const t = TYPE_CODES[code];
    if (t) {
      const itemsize = Number(size);
      if (itemsize > 1 && order === '|') {
        throw new InputError(fieldName, `dtype '${descr}' has no byte order ('|' is only valid for 1-byte types)`);
      }
      const littleEndian = order === '<' || order === '|' || order === '' || (order === '=' && HOST_LITTLE_ENDIAN);
      return { dtype: t.dtype, kind: t.kind, itemsize, littleEndian };
    }
  }
  if (descr === '?' || descr === '|?') return { dtype: 'bool', kind: 'bool', itemsize: 1, littleEndian: true };
  throw new InputError(fieldName, `unsupported dtype '${descr}'; supported: ${NPY_SUPPORTED_DESCRS.join(' ')}`);
}

// ---------------------------------------------------------------------------------------------------------------
// header literal parser

type PyValue = string | number | boolean | null | PyValue[] | { [key: string]: PyValue };

/**
 * How deeply dicts/tuples/lists may nest in a header. numpy writes depth 2 (a dict holding the shape tuple); the bound
 * keeps a header of 10000 '(' from overflowing the stack of this recursive parser (found by the fuzzer).
 */
const MAX_NESTING = 32;

class LiteralParser {
  private pos = 0;
  private depth = 0;
  constructor(
    private readonly text: string,
    /** Byte offset of the header text in the file, for error messages (exact for ASCII headers). */
    private readonly baseOffset: number,
    private readonly field: string,
  ) {}

  parseDocument(): PyValue {
    const v = this.value();
    this.ws();
    if (this.pos < this.text.length) this.fail(`unexpected '${this.text[this.pos]}' after the header dict`);
    return v;
  }

  private fail(detail: string): never {
    const text = this.text.trimEnd();
    const shown = text.length > 200 ? `${JSON.stringify(text.slice(0, 200))}… (${text.length} characters)` : JSON.stringify(text);
    throw new InputError(`${this.field}.header`, `${detail} at byte ${this.baseOffset + this.pos} (header: ${shown})`);
  }

  private ws(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private value(): PyValue {
    this.ws();
    const c = this.text[this.pos];
    if (c === undefined) this.fail('header ends early');
    if (c === '{' || c === '(' || c === '[') {
      if (this.depth >= MAX_NESTING) this.fail(`nesting deeper than ${MAX_NESTING} levels`);
      this.depth++;
      const v = c === '{' ? this.dict() : c === '(' ? this.sequence('(', ')') : this.sequence('[', ']');
      this.depth--;
      return v;
    }
    if (c === "'" || c === '"') return this.string();
    if (/[-+0-9]/.test(c)) return this.number();
    const word = /^[A-Za-z_]\w*/.exec(this.text.slice(this.pos))?.[0];
    if (word === 'True' || word === 'False' || word === 'None') {
      this.pos += word.length;
      return word === 'None' ? null : word === 'True';
    }
    return this.fail(`unexpected '${c}'`);
  }

  private dict(): { [key: string]: PyValue } {
    // No prototype: a key '__proto__' is a key like any other, never the object's prototype.
    const out = Object.create(null) as { [key: string]: PyValue };
    this.pos++; // {
    for (;;) {
      this.ws();
      if (this.pos >= this.text.length) this.fail('header ends inside the dict');
      if (this.text[this.pos] === '}') { this.pos++; return out; }
      const key = this.value();
      if (typeof key !== 'string') this.fail('dict keys must be strings');
      this.ws();
      if (this.text[this.pos] !== ':') this.fail(`expected ':' after key '${key}'`);
      this.pos++;
      out[key] = this.value();
      this.ws();
      const sep = this.text[this.pos];
      if (sep === ',') { this.pos++; continue; }
      if (sep === '}') { this.pos++; return out; }
      this.fail(sep === undefined ? 'header ends inside the dict' : `expected ',' or '}' but found '${sep}'`);
    }
  }

  private sequence(open: string, close: string): PyValue[] {
    const out: PyValue[] = [];
    this.pos++; // open
    for (;;) {
      this.ws();
      if (this.pos >= this.text.length) this.fail(`header ends inside '${open}…${close}'`);
      if (this.text[this.pos] === close) { this.pos++; return out; }
      out.push(this.value());
      this.ws();
      const sep = this.text[this.pos];
      if (sep === ',') { this.pos++; continue; }
      if (sep === close) { this.pos++; return out; }
      this.fail(sep === undefined ? `header ends inside '${open}…${close}'` : `expected ',' or '${close}' but found '${sep}'`);
    }
  }

  private string(): string {
    const quote = this.text[this.pos]!;
    let out = '';
    this.pos++;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      if (c === quote) { this.pos++; return out; }
      if (c === '\\') {
        const n = this.text[this.pos + 1];
        if (n === undefined) break;
        out += n === 'n' ? '\n' : n === 't' ? '\t' : n;
        this.pos += 2;
        continue;
      }
      out += c;
      this.pos++;
    }
    return this.fail('unterminated string');
  }

  private number(): number {
    const m = /^[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?L?/.exec(this.text.slice(this.pos));
    if (!m) this.fail('malformed number');
    this.pos += m[0].length;
    return Number(m[0].replace(/L$/, ''));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// decoding

interface NpyHeader {
  readonly descr: NpyDType;
  readonly fortranOrder: boolean;
  readonly shape: number[];
  /** Byte offset of the array data. */
  readonly dataOffset: number;
  /** Number of elements (checked against the limits). */
  readonly count: number;
}

/**
 * Parses and validates the header of `bytes` (which may hold only the header): magic, version, header length
 * (against `maxHeaderBytes`), the dict, the dtype, and the shape (against `maxRank`, `maxElements`, `maxDecodedBytes`
 * and `maxSamples`). Nothing is allocated in proportion to the declared shape.
 */
function parseHeader(bytes: Uint8Array, field: string, lim: DecodeLimits): NpyHeader {
  if (!isNpy(bytes)) {
    const got = Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new InputError(`${field}.magic`, `not a .npy file: bytes 0-5 are [${got}], expected [93 4e 55 4d 50 59] ("\\x93NUMPY")`);
  }
  if (bytes.length < 10) throw new InputError(`${field}.header`, `truncated: file is ${bytes.length} bytes, the version and header length need 10`);
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3) throw new InputError(`${field}.version`, `unsupported format version ${major}.${minor} at byte 6; supported: 1.0, 2.0, 3.0`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let headerStart: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    headerStart = 10;
  } else {
    if (bytes.length < 12) throw new InputError(`${field}.header`, `truncated: file is ${bytes.length} bytes, a version ${major}.0 header length needs 12`);
    headerLen = dv.getUint32(8, true);
    headerStart = 12;
  }
  if (headerLen > lim.maxHeaderBytes) {
    throw new InputError(`${field}.header`, `header length ${headerLen} at byte 8 is more than maxHeaderBytes ${lim.maxHeaderBytes}`);
  }
  const dataOffset = headerStart + headerLen;
  if (dataOffset > bytes.length) {
    throw new InputError(`${field}.header`, `truncated: header declares ${headerLen} bytes from byte ${headerStart} (to byte ${dataOffset}) but the file has only ${bytes.length} bytes`);
  }
  const raw = bytes.subarray(headerStart, dataOffset);
  let text: string;
  try {
    text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1', { fatal: true }).decode(raw);
  } catch (e) {
    throw new InputError(`${field}.header`, `header at byte ${headerStart} is not valid ${major === 3 ? 'UTF-8' : 'latin1'}`, { cause: e });
  }
  const dict = new LiteralParser(text, headerStart, field).parseDocument();
  if (dict === null || typeof dict !== 'object' || Array.isArray(dict)) {
    throw new InputError(`${field}.header`, `header at byte ${headerStart} is not a dict literal`);
  }
  for (const key of ['descr', 'fortran_order', 'shape']) {
    if (!Object.hasOwn(dict, key)) throw new InputError(`${field}.header.${key}`, `missing from the header dict at byte ${headerStart}`);
  }
  // As numpy: the dict holds exactly these three keys.
  const extra = Object.keys(dict).find((k) => k !== 'descr' && k !== 'fortran_order' && k !== 'shape');
  if (extra !== undefined) throw new InputError(`${field}.header`, `unexpected key ${JSON.stringify(extra)} in the header dict at byte ${headerStart} (only descr, fortran_order and shape)`);
  const { descr, fortran_order: fortranOrder, shape } = dict;
  if (Array.isArray(descr)) throw new InputError(`${field}.header.descr`, `structured (record) dtypes are not supported: ${JSON.stringify(descr)}`);
  if (typeof descr !== 'string') throw new InputError(`${field}.header.descr`, `must be a dtype string, got ${JSON.stringify(descr)}`);
  if (typeof fortranOrder !== 'boolean') throw new InputError(`${field}.header.fortran_order`, `must be True or False, got ${JSON.stringify(fortranOrder)}`);
  if (!Array.isArray(shape)) throw new InputError(`${field}.header.shape`, `must be a tuple of integers, got ${JSON.stringify(shape)}`);
  if (shape.length > lim.maxRank) {
    throw new InputError(`${field}.header.shape`, `has ${shape.length} dimensions, more than maxRank ${lim.maxRank}`);
  }
  const dims: number[] = [];
  for (const [i, d] of shape.entries()) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new InputError(`${field}.header.shape[${i}]`, `must be a non-negative integer, got ${JSON.stringify(d)}`);
    }
    dims.push(d);
  }
  const dtype = parseDescr(descr, field);
  const count = checkArraySize(dims, lim, `${field}.header.shape`, `shape (${dims.join(', ')})`);
  return { descr: dtype, fortranOrder, shape: dims, dataOffset, count };
}

/**
 * The inflation bound of a gzipped `.npy` from its first bytes (`head` must hold the whole header, i.e. up to
 * 12 + `maxHeaderBytes` bytes): header plus declared data. Throws InputError when the header is malformed or over the
 * limits.
 */
export function npyInflateBound(head: Uint8Array, field: string, limits?: Partial<DecodeLimits>): InflateBound {
  const h = parseHeader(head, field, resolveLimits(limits));
  const expected = h.dataOffset + h.count * h.descr.itemsize;
  return {
    maxBytes: expected,
    tooLarge: () => new InputError(`${field}.data`, `shape (${h.shape.join(', ')}) of '${h.descr.dtype}' needs ${expected - h.dataOffset} data bytes from byte ${h.dataOffset}, but there are more (extra bytes)`),
  };
}

/**
 * Decodes a `.npy` file. Every supported dtype is widened to Float32Array (int64/uint64/float64 values lose precision
 * beyond float32). Fortran-ordered arrays are transposed to C (row-major) order. `field` prefixes error fields.
 * The declared shape is checked against `limits` (defaults in `limits.ts`) before any allocation.
 */
export function decodeNpy(bytes: Uint8Array, field = 'npy', limits?: Partial<DecodeLimits>): DecodedArray {
  return decodeNpyBytes(bytes, field, limits, false);
}

/**
 * `decodeNpy` for bytes the caller hands over (a file just read, used for nothing else): native-endian float32 data
 * comes back as a view of them, not a copy (loadData: a CLI process no longer pays for a fresh copy of the file's data,
 * mostly page faults). `decodeNpy` keeps copying, since its callers may reuse or keep their bytes.
 */
export function adoptNpy(bytes: Uint8Array, field = 'npy', limits?: Partial<DecodeLimits>): DecodedArray {
  return decodeNpyBytes(bytes, field, limits, true);
}

function decodeNpyBytes(bytes: Uint8Array, field: string, limits: Partial<DecodeLimits> | undefined, adopt: boolean): DecodedArray {
  const header = parseHeader(bytes, field, resolveLimits(limits));
  const { descr, shape, dataOffset, count } = header;
  const expected = count * descr.itemsize;
  const actual = bytes.length - dataOffset;
  if (actual !== expected) {
    throw new InputError(
      `${field}.data`,
      `shape (${shape.join(', ')}) of '${descr.dtype}' needs ${expected} data bytes from byte ${dataOffset}, but the file has ${actual} (${actual < expected ? 'truncated' : `${actual - expected} extra bytes`})`,
    );
  }
  let data = widen(bytes, dataOffset, count, descr.kind, descr.littleEndian, adopt);
  if (header.fortranOrder && shape.length > 1) data = fortranToC(data, shape);
  return { data, shape, dtype: descr.dtype };
}

/** Reorders a column-major (Fortran) buffer of the given shape into row-major (C) order. */
function fortranToC(src: Float32Array, shape: readonly number[]): Float32Array {
  const rank = shape.length;
  const out = new Float32Array(src.length);
  if (src.length === 0) return out;
  const cStride = new Array<number>(rank);
  let s = 1;
  for (let k = rank - 1; k >= 0; k--) { cStride[k] = s; s *= shape[k]!; }
  // Walk the source in its own (Fortran) order: axis 0 fastest. Keep the C offset with an odometer.
  const idx = new Array<number>(rank).fill(0);
  const d0 = shape[0]!;
  const st0 = cStride[0]!;
  let j = 0;
  let base = 0; // C offset of idx with idx[0] = 0
  for (;;) {
    for (let i = 0, o = base; i < d0; i++, o += st0) out[o] = src[j++]!;
    let k = 1;
    for (; k < rank; k++) {
      idx[k]!++;
      base += cStride[k]!;
      if (idx[k]! < shape[k]!) break;
      base -= idx[k]! * cStride[k]!;
      idx[k] = 0;
    }
    if (k === rank) return out;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// encoding

/**
 * Encodes a C-ordered array as a `.npy` (format 1.0, or 2.0 when the header needs more than 65535 bytes).
 * `dtype: 'uint8'` requires integer values in 0..255.
 */
export function encodeNpy(data: Float32Array | Uint8Array, shape: readonly number[], dtype: 'float32' | 'uint8'): Uint8Array {
  for (const [i, d] of shape.entries()) {
    if (!Number.isSafeInteger(d) || d < 0) throw new InputError(`shape[${i}]`, `must be a non-negative integer, got ${d}`);
  }
  const n = sizeOf(shape);
  if (data.length !== n) throw new InputError('data', `length ${data.length} does not match shape [${shape.join(',')}] (${n} elements)`);
  if (dtype !== 'float32' && dtype !== 'uint8') throw new InputError('dtype', `must be 'float32' or 'uint8', got ${JSON.stringify(dtype)}`);

  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${dtype === 'float32' ? '<f4' : '|u1'}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad with spaces so that magic + version + length + header (ending in '\n') is a multiple of 64 bytes.
  let prefix = 10;
  let total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  if (total - prefix > 0xffff) {
    prefix = 12;
    total = Math.ceil((prefix + dict.length + 1) / 64) * 64;
  }
  const headerLen = total - prefix;
  const itemsize = dtype === 'float32' ? 4 : 1;
  const out = new Uint8Array(total + n * itemsize);
  out.set(MAGIC, 0);
  out[6] = prefix === 10 ? 1 : 2;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (prefix === 10) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  const header = dict.padEnd(headerLen - 1, ' ') + '\n';
  for (let i = 0; i < header.length; i++) out[prefix + i] = header.charCodeAt(i);

  if (dtype === 'uint8') {
    if (data instanceof Uint8Array) {
      out.set(data, total);
    } else {
      for (let i = 0; i < n; i++) {
        const v = data[i]!;
        if (!(Number.isInteger(v) && v >= 0 && v <= 255)) throw new InputError(`data[${i}]`, `value ${v} is not an integer in 0..255, cannot encode as uint8`);
        out[total + i] = v;
      }
    }
  } else {
    const f = data instanceof Float32Array ? data : Float32Array.from(data);
    if (HOST_LITTLE_ENDIAN) out.set(new Uint8Array(f.buffer, f.byteOffset, f.byteLength), total);
    else for (let i = 0; i < n; i++) dv.setFloat32(total + 4 * i, f[i]!, true);
  }
  return out;
}
