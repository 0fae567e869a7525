/**
 * The CIFAR-10 "binary version": fixed records of 1 label byte (0-9) followed by 3072 pixel bytes, the red, green and
 * blue 32×32 planes in row-major order.
 */
import { InputError } from '../core/errors.js';
import type { DecodedArray } from '../core/tensor.js';
import { checkArraySize, resolveLimits, type DecodeLimits } from './limits.js';

const CIFAR_RECORD_BYTES = 3073;
const PIXELS = 3 * 32 * 32;

/**
 * Decodes CIFAR-10 binary records to shape [N,3,32,32] (layout NCHW, dtype uint8) with their labels. The record count
 * is checked against `limits` (samples, elements, float32 bytes) before the output is allocated.
 */
export function decodeCifarBin(bytes: Uint8Array, field = 'cifar', limits?: Partial<DecodeLimits>): DecodedArray {
  const lim = resolveLimits(limits);
  if (bytes.length === 0) throw new InputError(field, 'empty file: no CIFAR records');
  const trailing = bytes.length % CIFAR_RECORD_BYTES;
  const n = (bytes.length - trailing) / CIFAR_RECORD_BYTES;
  if (trailing !== 0) {
    throw new InputError(
      `${field}.length`,
      `${bytes.length} bytes is not a multiple of the ${CIFAR_RECORD_BYTES}-byte record: ${n} whole records and ${trailing} trailing bytes from byte ${n * CIFAR_RECORD_BYTES}`,
    );
  }
  checkArraySize([n, 3, 32, 32], lim, `${field}.length`, `${n} records (shape [${n}, 3, 32, 32])`);
  const labels = new Int32Array(n);
  const data = new Float32Array(n * PIXELS);
  for (let i = 0, off = 0; i < n; i++, off += CIFAR_RECORD_BYTES) {
    const label = bytes[off]!;
    if (label > 9) throw new InputError(`${field}.labels[${i}]`, `label ${label} at byte ${off} (record ${i}) is not a CIFAR-10 class 0-9`);
    labels[i] = label;
    data.set(bytes.subarray(off + 1, off + CIFAR_RECORD_BYTES), i * PIXELS);
  }
  return { data, shape: [n, 3, 32, 32], dtype: 'uint8', layout: 'NCHW', labels };
}
