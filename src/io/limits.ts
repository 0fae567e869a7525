/**
 * Resource limits for every decoder, in one place.
 *
 * Input files come from users and from the upload API, so a decoder must never trust the sizes a file declares: a
 * 200-byte `.npy` can declare a (100000, 100000, 1000) array, a 2 MB gzip can inflate to 2 GiB, a zip entry can declare
 * a 4 GiB member, a PNG header can say 50000×50000. Each decoder therefore reads the declared sizes, checks them
 * against these limits and only then allocates. Exceeding a limit is an `InputError` naming the field (e.g.
 * `train.npy.header.shape`) and the limit (e.g. `maxElements`), never an out-of-memory crash.
 *
 * Every decoding function takes an optional `Partial<DecodeLimits>`; missing fields fall back to
 * {@link DEFAULT_DECODE_LIMITS}. The defaults admit every dataset in `../shared` (MNIST train is 47 MB of uint8,
 * 188 MB as float32) with a wide margin.
 */
import { InputError } from '../core/errors.js';

export interface DecodeLimits {
  /** Largest input read in one call: one file, all images of a folder together, or one label file. */
  readonly maxFileBytes: number;
  /** Largest output of one gzip stream or one zip member, and of all members of one archive together. */
  readonly maxInflatedBytes: number;
  /**
   * Largest memory one decoding call allocates for its result: the float32 array (4 bytes per element), and for images
   * the decoded pixel buffers; for a checkpoint, all tensors together.
   */
  readonly maxDecodedBytes: number;
  /** Most elements in one decoded array (product of the shape). */
  readonly maxElements: number;
  /** Most samples: the first dimension of an array, CIFAR records, images in one batch, labels. */
  readonly maxSamples: number;
  /** Most dimensions in a `.npy`/IDX shape or a checkpoint tensor. */
  readonly maxRank: number;
  /** Longest `.npy` header (the dict literal after the length field). numpy itself refuses more than 10000 by default. */
  readonly maxHeaderBytes: number;
  /** Most pixels (width × height) in one PNG/JPEG, checked on the header before decoding (sharp's `limitInputPixels`). */
  readonly maxImagePixels: number;
  /**
   * Longest side (width or height) of one PNG/JPEG, also checked on the header. Decoding time grows with the rows:
   * a 1 × 16,777,216 PNG within maxImagePixels took about 20 s of CPU, 4096 × 4096 half a second.
   */
  readonly maxImageSide: number;
}

const GiB = 1024 ** 3;

/** The defaults, listed in the README's "Security and limits" section. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = Object.freeze({
  maxFileBytes: GiB,
  maxInflatedBytes: GiB,
  maxDecodedBytes: GiB,
  maxElements: 2 ** 28, // 268,435,456 float32 values = 1 GiB
  maxSamples: 1_000_000,
  maxRank: 32,
  maxHeaderBytes: 65_536,
  maxImagePixels: 4096 * 4096, // 16,777,216
  maxImageSide: 16_384,
});

/**
 * Resolves a partial set of limits against the defaults, checking each given value is a positive integer (or
 * `Infinity`, which switches that limit off).
 */
export function resolveLimits(limits: Partial<DecodeLimits> | undefined): DecodeLimits {
  if (limits === undefined) return DEFAULT_DECODE_LIMITS;
  if (limits === null || typeof limits !== 'object') throw new InputError('limits', `must be an object of limits, got ${String(limits)}`);
  const out: Record<string, number> = { ...DEFAULT_DECODE_LIMITS };
  for (const [key, value] of Object.entries(limits)) {
    if (!(key in DEFAULT_DECODE_LIMITS)) {
      throw new InputError(`limits.${key}`, `unknown limit; known: ${Object.keys(DEFAULT_DECODE_LIMITS).join(', ')}`);
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !(value === Infinity || (Number.isSafeInteger(value) && value >= 1))) {
      throw new InputError(`limits.${key}`, `must be a positive integer or Infinity, got ${String(value)}`);
    }
    out[key] = value;
  }
  return out as unknown as DecodeLimits;
}

/**
 * Product of `dims`, or `Infinity` once it passes 2^53 (so that a forged shape can never wrap around or lose
 * precision into a small number). A zero dimension gives 0.
 */
export function checkedProduct(dims: readonly number[]): number {
  if (dims.includes(0)) return 0;
  let n = 1;
  for (const d of dims) {
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) return Infinity;
  }
  return n;
}

/** Formats a byte count for messages: `1073741824 bytes (1 GiB)`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return 'more than 2^53 bytes';
  const units: [number, string][] = [[GiB, 'GiB'], [1024 ** 2, 'MiB'], [1024, 'KiB']];
  for (const [size, unit] of units) {
    if (n >= size) return `${n} bytes (${+(n / size).toFixed(2)} ${unit})`;
  }
  return `${n} bytes`;
}

/**
 * Checks the size of an array a decoder is about to allocate: element count against `maxElements`, the float32 result
 * against `maxDecodedBytes`, the first dimension against `maxSamples` and the rank against `maxRank`. `what` describes
 * the shape for the message, e.g. `shape (100000, 100000, 1000)`.
 */
export function checkArraySize(shape: readonly number[], limits: DecodeLimits, field: string, what: string): number {
  if (shape.length > limits.maxRank) {
    throw new InputError(field, `${what} has ${shape.length} dimensions, more than maxRank ${limits.maxRank}`);
  }
  const count = checkedProduct(shape);
  if (count > limits.maxElements) {
    throw new InputError(field, `${what} declares ${Number.isFinite(count) ? count : 'more than 2^53'} elements, more than maxElements ${limits.maxElements}`);
  }
  if (count * 4 > limits.maxDecodedBytes) {
    throw new InputError(field, `${what} would decode to ${formatBytes(count * 4)} of float32, more than maxDecodedBytes ${formatBytes(limits.maxDecodedBytes)}`);
  }
  if (shape.length > 0 && shape[0]! > limits.maxSamples) {
    throw new InputError(field, `${what} declares ${shape[0]} samples (first dimension), more than maxSamples ${limits.maxSamples}`);
  }
  return count;
}
