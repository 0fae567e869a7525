import type { DecodeLimits } from '../io/limits.js';

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
