/**
 * The error hierarchy. Every error the library throws on purpose is one of these, with the offending
 * `field` (argument, option, byte offset or sample index) and a human-readable `detail`.
 * The hierarchy lives here whole; adapters map it: CLI -> one line, exit 1 for a StorageError (damaged or unreachable state), exit 2 for the rest;
 * HTTP -> 4xx/5xx with `{error:{code,message,field}}` (src/http/respond.ts).
 */
import type { z } from 'zod';

export type ErrorCode = 'INVALID_INPUT' | 'NOT_FITTED' | 'MODEL_ERROR' | 'STORAGE_ERROR' | 'NOT_FOUND' | 'CONFLICT' | 'UNAUTHORIZED' | 'TOO_MANY_JOBS';

export abstract class ImagedriftError extends Error {
  abstract readonly code: ErrorCode;
  /** The argument, option, field or position that is wrong, e.g. `nCluster`, `labels[3]`, `byte 10`. */
  readonly field: string | undefined;
  /** What is wrong with it, without the field name. */
  readonly detail: string;

  constructor(field: string | undefined, detail: string, options?: { cause?: unknown }) {
    super(field ? `${field}: ${detail}` : detail, options);
    this.field = field;
    this.detail = detail;
    this.name = new.target.name;
  }

  toJSON(): { code: ErrorCode; message: string; field?: string } {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

/** The caller gave something malformed: wrong shape, bad value, truncated file, unknown name. */
export class InputError extends ImagedriftError {
  readonly code = 'INVALID_INPUT' as const;
}

/** A scoring/prediction call on a detector that has not been fitted (or has no threshold yet). */
export class NotFittedError extends ImagedriftError {
  readonly code = 'NOT_FITTED' as const;
}

/** The model could not be loaded, converted or run. */
export class ModelError extends ImagedriftError {
  readonly code = 'MODEL_ERROR' as const;
}

/** Persistent state could not be read or written (transient or corrupt). */
export class StorageError extends ImagedriftError {
  readonly code = 'STORAGE_ERROR' as const;
}

/**
 * State that could not be reached now (S3 or Redis refused, reset or timed out): worth retrying. The worker retries
 * the job, HTTP answers 503 with Retry-After, an S3-event check is rethrown for Lambda's retry.
 */
export class TransientStorageError extends StorageError {
  readonly transient = true as const;
}

/** True for errors worth retrying (TransientStorageError and its kinds). */
export function isTransientError(e: unknown): e is TransientStorageError {
  return e instanceof TransientStorageError;
}

/** A named object (dataset, model, detector, job) does not exist. */
export class NotFoundError extends ImagedriftError {
  readonly code = 'NOT_FOUND' as const;
}

/** A concurrent writer won a compare-and-swap. */
export class ConflictError extends ImagedriftError {
  readonly code = 'CONFLICT' as const;
}

/** The caller presented no API key, or one that is not in the keyring (HTTP 401). Never carries the key itself. */
export class UnauthorizedError extends ImagedriftError {
  readonly code = 'UNAUTHORIZED' as const;
}

/**
 * The tenant already has as many jobs in flight (waiting, delayed for a retry, or running) as it may have
 * (MAX_JOBS_PER_TENANT; src/queue/quota.ts): nothing was enqueued or stored. HTTP 429 with Retry-After; retry once one
 * of its jobs has finished. No `field`: nothing in the request is wrong, only how many jobs the tenant has in flight.
 */
export class TooManyJobsError extends ImagedriftError {
  readonly code = 'TOO_MANY_JOBS' as const;
  constructor(
    readonly tenant: string,
    /** The most jobs one tenant may have in flight. */
    readonly limit: number,
    /** How many the tenant had in flight when it was refused (at least `limit`; more if the limit was lowered since). */
    readonly inFlight: number,
  ) {
    super(undefined, `too many jobs: tenant ${tenant} has ${inFlight} jobs in flight (waiting, delayed for a retry, or running) and the limit is ${limit} per tenant (MAX_JOBS_PER_TENANT); nothing was enqueued: retry once one of them has finished`);
  }
}

export function isImagedriftError(e: unknown): e is ImagedriftError {
  return e instanceof ImagedriftError;
}

/**
 * The field a zod issue names, the one spelling every adapter uses: `base.a.b[3].c` (array indices in brackets, keys
 * dotted). For an `unrecognized_keys` issue the (first) unknown key is appended, so the field is the key itself, as for
 * any other bad field. With nothing to name (an empty path and no base, e.g. the body itself is not an object) it is
 * `root`.
 */
export function issueField(issue: z.core.$ZodIssue, base = '', root = '(root)'): string {
  const path = issue.code === 'unrecognized_keys' && issue.keys.length > 0 ? [...issue.path, issue.keys[0]!] : issue.path;
  const field = path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), base);
  return field || root;
}
