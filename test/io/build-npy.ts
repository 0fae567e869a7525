/** Hand-built `.npy` bytes for tests, independent of `encodeNpy`. */

/**
 * Builds a `.npy` of the given format version from a header dict literal and raw data bytes. The header is padded
 * with spaces and a newline so that the data starts at a multiple of 64, as numpy does.
 */
export function npyFile(version: 1 | 2 | 3, header: string, data: Uint8Array, encoding: 'latin1' | 'utf8' = version === 3 ? 'utf8' : 'latin1'): Uint8Array {
  const prefix = version === 1 ? 10 : 12;
  const raw = Buffer.from(header, encoding);
  const total = Math.ceil((prefix + raw.length + 1) / 64) * 64;
  const headerLen = total - prefix;
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
  const dv = new DataView(out.buffer);
  if (version === 1) dv.setUint16(8, headerLen, true);
  else dv.setUint32(8, headerLen, true);
  out.fill(0x20, prefix, total);
  out.set(raw, prefix);
  out[total - 1] = 0x0a;
  out.set(data, total);
  return out;
}

export function dict(descr: string, shape: readonly number[], fortran = false): string {
  const s = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  return `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${s}, }`;
}

/** Raw bytes of `values` stored as `kind` in the given byte order. */
export function rawBytes(kind: string, values: readonly number[], little: boolean): Uint8Array {
  const size = Number(kind.slice(1));
  const dv = new DataView(new ArrayBuffer(values.length * size));
  values.forEach((v, i) => {
    const o = i * size;
    switch (kind) {
      case 'f2': dv.setUint16(o, v, little); break; // v is the raw half-precision bit pattern
      case 'f4': dv.setFloat32(o, v, little); break;
      case 'f8': dv.setFloat64(o, v, little); break;
      case 'u1': case 'b1': dv.setUint8(o, v); break;
      case 'i1': dv.setInt8(o, v); break;
      case 'u2': dv.setUint16(o, v, little); break;
      case 'i2': dv.setInt16(o, v, little); break;
      case 'u4': dv.setUint32(o, v, little); break;
      case 'i4': dv.setInt32(o, v, little); break;
      case 'u8': dv.setBigUint64(o, BigInt(v), little); break;
      case 'i8': dv.setBigInt64(o, BigInt(v), little); break;
      default: throw new Error(`test helper: unknown kind ${kind}`);
    }
  });
  return new Uint8Array(dv.buffer);
}
