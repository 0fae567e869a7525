import { InputError } from '../core/errors.js';
import { formatBytes, type DecodeLimits } from '../io/limits.js';
import type { ObjectStore } from '../storage/object-store.js';

/**
 * What the service (functions, worker, audits, S3-event checks) decodes is bounded more tightly than the library's
 * defaults (src/io/limits.ts, sized for a workstation CLI): the functions run with 1–2 GB of memory
 * (serverless.yml), and one request must not be able to take it all. The bytes of a dataset are held once, raw, and
 * once decoded as float32, so 256 MiB of file + 512 MiB decoded fits a 2 GB function with room for the model.
 * Every service call to a decoder passes these; the README's "Security and limits" table lists them.
 */
const MiB = 1024 * 1024;

export const SERVICE_DECODE_LIMITS: Partial<DecodeLimits> = Object.freeze({
  maxFileBytes: 256 * MiB,
  maxInflatedBytes: 256 * MiB,
  maxDecodedBytes: 512 * MiB,
  maxElements: 128 * MiB, // float32 elements = 512 MiB
  maxSamples: 1_000_000,
  maxImagePixels: 4096 * 4096,
});

/** Largest request body (MAX_BODY_BYTES default): the Lambda request payload limit. Inline uploads are bounded by it. */
export const DEFAULT_MAX_BODY_BYTES = 6 * MiB;

/**
 * Reads an object the service is about to decode, refusing it on its size (from a listing, or a HEAD) before any
 * byte is read: a 400 MiB object used to be read whole, then refused by the decoder. undefined: the object is gone.
 */
export async function getWithinLimit(store: ObjectStore, key: string, knownSize?: number): Promise<Uint8Array | undefined> {
  const limit = SERVICE_DECODE_LIMITS.maxFileBytes!;
  const size = knownSize ?? (await store.head(key))?.size;
  if (size === undefined) return undefined;
  if (size > limit) throw new InputError('size', `${key} is ${formatBytes(size)}, more than maxFileBytes ${formatBytes(limit)}; not read`);
  const bytes = await store.get(key);
  if (bytes && bytes.length > limit) throw new InputError('size', `${key} is ${formatBytes(bytes.length)}, more than maxFileBytes ${formatBytes(limit)}`);
  return bytes;
}
