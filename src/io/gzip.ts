/**
 * Bounded gzip inflation.
 *
 * A gzip stream says nothing trustworthy about its inflated size (the trailer's ISIZE is mod 2^32 and forgeable), and
 * 2 MB of gzip can inflate to 2 GiB. So inflation is always capped: by `maxInflatedBytes`, and — when the content is a
 * format that declares its own length in a header (.npy, IDX) — by that declared length. {@link gunzipDeclared}
 * inflates only the first few KiB, lets the format validate its header and the declared size against the limits, and
 * then inflates at most the declared number of bytes: a gzip bomb is rejected after inflating a few KiB, or at most
 * what its header declared (which has passed the limits).
 */
import { constants as bufferConstants } from 'node:buffer';
import { gunzipSync } from 'node:zlib';
import { Gunzip } from 'fflate';
import { InputError } from '../core/errors.js';
import { formatBytes, resolveLimits, type DecodeLimits } from './limits.js';

/** True when `bytes` starts with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** An upper bound on the inflated size tighter than `maxInflatedBytes`, with the error to throw past it. */
export interface InflateBound {
  readonly maxBytes: number;
  readonly tooLarge: () => InputError;
}

function isTooLarge(e: unknown): boolean {
  return e instanceof RangeError && (e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
}

/**
 * Decompresses a gzip stream, turning decompression failures into an InputError on `field`. Inflates at most
 * `limits.maxInflatedBytes` (and at most `bound.maxBytes` when given); more is an InputError, raised as soon as the
 * output passes the bound, so memory stays bounded.
 */
function gunzip(bytes: Uint8Array, field: string, limits?: Partial<DecodeLimits>, bound?: InflateBound): Uint8Array {
  const lim = resolveLimits(limits);
  let max = lim.maxInflatedBytes;
  let tooLarge = (): InputError => new InputError(field, `gzip data inflates to more than maxInflatedBytes ${formatBytes(lim.maxInflatedBytes)}; refusing to inflate further`);
  if (bound && bound.maxBytes <= max) {
    max = bound.maxBytes;
    tooLarge = bound.tooLarge;
  }
  try {
    // node:zlib (native) rather than fflate: ~2-4× faster on MNIST-sized files (BENCHMARKS.md). A plain Uint8Array
    // view, so that `.slice` copies (Buffer#slice would alias). maxOutputLength stops inflating as soon as it is passed.
    const out = gunzipSync(bytes, max < bufferConstants.MAX_LENGTH ? { maxOutputLength: Math.max(1, max) } : {});
    if (out.length > max) throw tooLarge(); // max = 0: zlib needs maxOutputLength >= 1
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (e) {
    if (e instanceof InputError) throw e;
    if (isTooLarge(e)) throw tooLarge();
    throw new InputError(field, `corrupt or truncated gzip data (${bytes.length} compressed bytes): ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** Compressed bytes fed per step when reading the head of a stream: at most ~4 MiB of output per step (deflate ≤ 1032:1). */
const HEAD_STEP = 4096;

/**
 * At least the first `n` inflated bytes of a gzip stream, inflating little more than that (streaming, in small
 * steps). Returns undefined when the stream holds fewer than `n` bytes or cannot be read this way; callers then
 * inflate the whole (short or broken) stream with {@link gunzip}, whose errors and limits apply.
 */
export function gunzipHead(bytes: Uint8Array, n: number): Uint8Array | undefined {
  const chunks: Uint8Array[] = [];
  let have = 0;
  try {
    const g = new Gunzip((chunk) => {
      chunks.push(chunk);
      have += chunk.length;
    });
    for (let at = 0; at < bytes.length && have < n; at += HEAD_STEP) {
      g.push(bytes.subarray(at, at + HEAD_STEP), at + HEAD_STEP >= bytes.length);
    }
  } catch {
    // fall through: enough bytes may have arrived before the error; otherwise the caller inflates with zlib
  }
  if (have < n) return undefined;
  const head = new Uint8Array(have);
  let at = 0;
  for (const c of chunks) { head.set(c, at); at += c.length; }
  return head;
}

/**
 * Inflates a gzip stream whose content declares its own length in a header of at most `headBytes` bytes.
 * `declare(head)` validates the header (throwing InputError on a bad or over-limit header) and returns the bound;
 * a declared length above `maxInflatedBytes` is rejected before inflating the rest.
 */
export function gunzipDeclared(bytes: Uint8Array, field: string, limits: DecodeLimits, headBytes: number, declare: (head: Uint8Array) => InflateBound): Uint8Array {
  const head = gunzipHead(bytes, headBytes);
  // A stream shorter than the head: small, so inflating it whole is bounded; the decoder reports on the whole output.
  if (head === undefined) return gunzip(bytes, field, limits);
  const bound = declare(head);
  if (bound.maxBytes > limits.maxInflatedBytes) {
    throw new InputError(field, `the gunzipped header declares ${formatBytes(bound.maxBytes)}, more than maxInflatedBytes ${formatBytes(limits.maxInflatedBytes)}`);
  }
  return gunzip(bytes, field, limits, bound);
}
