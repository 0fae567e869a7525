/**
 * Widening of raw element bytes to Float32Array, shared by the `.npy` and IDX decoders.
 * Native-endian data goes through typed-array views (aligned, or copied once when misaligned);
 * foreign-endian data goes through a DataView loop.
 */

export type ElementKind =
  | 'float16' | 'float32' | 'float64'
  | 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'uint64' | 'int64'
  | 'bool';

export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const ITEMSIZE: Readonly<Record<ElementKind, number>> = {
  float16: 2, float32: 4, float64: 8, uint8: 1, int8: 1, uint16: 2, int16: 2,
  uint32: 4, int32: 4, uint64: 8, int64: 8, bool: 1,
};

export function itemSize(kind: ElementKind): number {
  return ITEMSIZE[kind];
}

let halfTable: Float32Array | undefined;

/** Lookup table of all 65536 IEEE half-precision values. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTable = t;
  return t;
}

/** An ArrayBuffer-backed view of `count` items at `offset`, copying only when the offset is misaligned. */
function aligned(bytes: Uint8Array, offset: number, byteLength: number, align: number): { buffer: ArrayBufferLike; byteOffset: number } {
  const start = bytes.byteOffset + offset;
  if (start % align === 0) return { buffer: bytes.buffer, byteOffset: start };
  const copy = bytes.slice(offset, offset + byteLength);
  return { buffer: copy.buffer, byteOffset: 0 };
}

/**
 * Reads `count` elements of `kind` starting at `bytes[offset]` and widens them to float32.
 * The caller has checked that the bytes are there. With `adopt` (the caller hands the bytes over and makes no other use
 * of them), native-endian aligned float32 elements are returned as a view of the bytes instead of a copy.
 */
export function widen(bytes: Uint8Array, offset: number, count: number, kind: ElementKind, littleEndian: boolean, adopt = false): Float32Array {
  const size = ITEMSIZE[kind];
  const byteLength = count * size;
  if (kind === 'uint8') return new Float32Array(bytes.subarray(offset, offset + count));
  if (kind === 'int8') return new Float32Array(new Int8Array(bytes.buffer, bytes.byteOffset + offset, count));
  if (kind === 'bool') {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = bytes[offset + i] ? 1 : 0;
    return out;
  }
  if (adopt && kind === 'float32' && littleEndian === HOST_LITTLE_ENDIAN && (bytes.byteOffset + offset) % 4 === 0) {
    return new Float32Array(bytes.buffer, bytes.byteOffset + offset, count);
  }
  const out = new Float32Array(count);
  if (littleEndian === HOST_LITTLE_ENDIAN) {
    const { buffer, byteOffset } = aligned(bytes, offset, byteLength, size);
    switch (kind) {
      case 'float32': out.set(new Float32Array(buffer, byteOffset, count)); return out;
      case 'float64': out.set(new Float64Array(buffer, byteOffset, count)); return out;
      case 'uint16': out.set(new Uint16Array(buffer, byteOffset, count)); return out;
      case 'int16': out.set(new Int16Array(buffer, byteOffset, count)); return out;
      case 'uint32': out.set(new Uint32Array(buffer, byteOffset, count)); return out;
      case 'int32': out.set(new Int32Array(buffer, byteOffset, count)); return out;
      case 'float16': {
        const t = halfToFloatTable();
        const src = new Uint16Array(buffer, byteOffset, count);
        for (let i = 0; i < count; i++) out[i] = t[src[i]!]!;
        return out;
      }
      case 'uint64':
      case 'int64': {
        // Two 32-bit words per element; the high word is signed for int64.
        const w = new Uint32Array(buffer, byteOffset, count * 2);
        const lo = HOST_LITTLE_ENDIAN ? 0 : 1;
        const hi = 1 - lo;
        if (kind === 'int64') for (let i = 0; i < count; i++) out[i] = (w[2 * i + hi]! | 0) * 4294967296 + w[2 * i + lo]!;
        else for (let i = 0; i < count; i++) out[i] = w[2 * i + hi]! * 4294967296 + w[2 * i + lo]!;
        return out;
      }
    }
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, byteLength);
  const le = littleEndian;
  switch (kind) {
    case 'float32': for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, le); break;
    case 'float64': for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, le); break;
    case 'uint16': for (let i = 0; i < count; i++) out[i] = dv.getUint16(2 * i, le); break;
    case 'int16': for (let i = 0; i < count; i++) out[i] = dv.getInt16(2 * i, le); break;
    case 'uint32': for (let i = 0; i < count; i++) out[i] = dv.getUint32(4 * i, le); break;
    case 'int32': for (let i = 0; i < count; i++) out[i] = dv.getInt32(4 * i, le); break;
    case 'float16': {
      const t = halfToFloatTable();
      for (let i = 0; i < count; i++) out[i] = t[dv.getUint16(2 * i, le)]!;
      break;
    }
    case 'uint64':
    case 'int64': {
      const hiOff = le ? 4 : 0;
      const loOff = le ? 0 : 4;
      if (kind === 'int64') for (let i = 0; i < count; i++) out[i] = dv.getInt32(8 * i + hiOff, le) * 4294967296 + dv.getUint32(8 * i + loOff, le);
      else for (let i = 0; i < count; i++) out[i] = dv.getUint32(8 * i + hiOff, le) * 4294967296 + dv.getUint32(8 * i + loOff, le);
      break;
    }
  }
  return out;
}
