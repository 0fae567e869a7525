import { z } from 'zod';
import { InputError, isImagedriftError, issueField, isTransientError, type ImagedriftError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { DEFAULT_MAX_BODY_BYTES } from '../service/limits.js';
import type { HttpEvent, HttpResult } from './events.js';
import type { ErrorBody, JobError } from '../schemas.js';
import { isTransientRedisReply } from '../storage/redis-coordinator.js';

/**
 * HTTP plumbing shared by the handlers: body parsing, zod validation with the failing field named, and one error
 * mapping to `{error:{code,message,field?}}`:
 *
 *   INVALID_INPUT 400 · UNAUTHORIZED 401 (with WWW-Authenticate) · PAYLOAD_TOO_LARGE 413 · NOT_FOUND 404 · CONFLICT 409 · NOT_FITTED 409 (the detector exists but
 *   has no threshold yet: a state conflict the caller fixes by calibrating) · MODEL_ERROR 422 (the stored model cannot
 *   be loaded or run) · TOO_MANY_JOBS 429 with Retry-After (the tenant's jobs in flight are at MAX_JOBS_PER_TENANT) ·
 *   transient storage/Redis 503 with Retry-After · other STORAGE_ERROR and unexpected errors 500.
 */

/** The request body is larger than a handler accepts inline (the Lambda request limit is 6 MB). */
export class PayloadTooLargeError extends InputError {}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

/** An error response: `{error:{code,message,field?}}` (errorBodySchema). */
export function errorJson(statusCode: number, error: ErrorBody['error'], headers: Record<string, string> = {}): HttpResult {
  return json(statusCode, { error } satisfies ErrorBody, headers);
}

/**
 * What a client reads for a server-side failure: the code and a fixed sentence. The detail (bucket, full keys, the
 * endpoint, the SDK's error) goes to the log only; a 503 can come before authentication (the keyring's own read).
 */
const UNAVAILABLE = { code: 'UNAVAILABLE', message: 'a backing service (storage or the job queue) is unavailable; retry later' } as const;
const STORAGE_FAILED = { code: 'STORAGE_ERROR', message: 'stored state could not be read or written; the details are in the service log' } as const;

/** A job attempt that failed on an error no input fixes (the message is BullMQ's failedReason: a transient error's). */
const JOB_FAILED = { code: 'JOB_FAILED', message: 'the job failed on a server-side error (storage or the job queue unavailable, or an internal error); the details are in the worker log' } as const;

/**
 * A job's recorded error as GET /jobs/{id} shows it: the same rule as errorResponse. The worker records the error whole
 * (failedReason, and the worker log, keep the bucket, keys, endpoint and cause for the operator); a client reads the
 * code and a fixed sentence for a server-side failure, and the message of an input error, conflict or missing object.
 */
export function publicJobError(e: JobError): JobError {
  if (e.code === 'STORAGE_ERROR') return { ...STORAGE_FAILED };
  if (e.code === 'JOB_FAILED') return { ...JOB_FAILED };
  return e;
}

export function errorResponse(e: unknown, logger?: Logger): HttpResult {
  if (isImagedriftError(e)) {
    const error = e.toJSON();
    if (e instanceof PayloadTooLargeError) return errorJson(413, { ...error, code: 'PAYLOAD_TOO_LARGE' });
    if (isTransientError(e)) {
      logger?.warn({ err: e }, 'transient storage error');
      return errorJson(503, UNAVAILABLE, { 'retry-after': '5' });
    }
    const status = STATUS[e.code];
    if (status >= 500) {
      logger?.error({ err: e }, 'request failed');
      return errorJson(status, STORAGE_FAILED);
    }
    if (status === 401) return errorJson(status, error, { 'www-authenticate': 'Bearer realm="imagedrift"' });
    if (status === 429) return errorJson(status, error, { 'retry-after': String(TOO_MANY_JOBS_RETRY_AFTER_S) });
    return errorJson(status, error);
  }
  if (isRedisUnavailable(e)) {
    logger?.warn({ err: e }, 'redis unavailable');
    return errorJson(503, UNAVAILABLE, { 'retry-after': '5' });
  }
  logger?.error({ err: e }, 'unexpected error');
  return errorJson(500, { code: 'INTERNAL', message: 'internal error' });
}

/**
 * Retry-After of a 429 (seconds): the tenant waits for one of its own jobs to finish, which takes seconds (a predict)
 * to minutes (a fit); a client retrying sooner would only be refused again.
 */
const TOO_MANY_JOBS_RETRY_AFTER_S = 30;

const STATUS: Record<ImagedriftError['code'], number> = {
  INVALID_INPUT: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  CONFLICT: 409,
  NOT_FITTED: 409,
  MODEL_ERROR: 422,
  STORAGE_ERROR: 500,
  TOO_MANY_JOBS: 429,
};

/**
 * ioredis connection failures (refused, closed, retries exhausted, a command past `commandTimeout`) surface as plain
 * Errors; a Redis failing over or loading answers with an error reply a retry outlives (READONLY, LOADING, …).
 */
export function isRedisUnavailable(e: unknown): boolean {
  const err = e as { name?: string; code?: string; message?: string } | undefined;
  if (!err) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    isTransientRedisReply(err) ||
    err.code === 'ECONNREFUSED' ||
    err.code === 'ECONNRESET' ||
    err.code === 'ETIMEDOUT' ||
    /^(Connection is closed|Stream isn't writeable|connect ECONNREFUSED|Command timed out$)/.test(err.message ?? '')
  );
}

/**
 * The body's size as it travels in the Lambda event, without decoding it: a base64 body counts its base64 characters,
 * because Lambda's 6 MB request limit applies to the event (a 6 MB binary body is 8 MB there and never arrives).
 */
function bodySize(event: HttpEvent): number {
  const raw = event.body ?? '';
  return event.isBase64Encoded ? raw.length : Buffer.byteLength(raw, 'utf8');
}

/** Rejects a body over `limit` bytes (MAX_BODY_BYTES) before anything decodes it. */
export function checkBodySize(event: HttpEvent, limit: number): void {
  const n = bodySize(event);
  if (n > limit) throw new PayloadTooLargeError('body', `is ${n} bytes; requests are limited to ${limit} bytes (use {"presign":true} uploads for larger files)`);
}

/** The request body as bytes (API Gateway base64-encodes binary bodies). */
export function bodyBytes(event: HttpEvent, limit: number): Uint8Array {
  const raw = event.body ?? '';
  // Check the size before decoding, so an oversized body is rejected without allocating it.
  const approx = bodySize(event);
  if (approx > limit) throw new PayloadTooLargeError('body', `is ${approx} bytes${event.isBase64Encoded ? ' as sent (base64)' : ''}; inline uploads are limited to ${limit} bytes (use {"presign":true} for larger files)`);
  const b = event.isBase64Encoded ? Buffer.from(raw, 'base64') : Buffer.from(raw, 'utf8');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function header(event: HttpEvent, name: string): string | undefined {
  const h = event.headers ?? {};
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(h)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

export function isJsonRequest(event: HttpEvent): boolean {
  return /^application\/(.+\+)?json\b/i.test(header(event, 'content-type') ?? '');
}

/** Parses the body as a JSON object; an empty body is `{}`. */
export function jsonBody(event: HttpEvent, limit = DEFAULT_MAX_BODY_BYTES): Record<string, unknown> {
  const bytes = bodyBytes(event, limit);
  if (bytes.byteLength === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new InputError('body', `is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new InputError('body', 'must be a JSON object');
  return v as Record<string, unknown>;
}

/** Validates with a shared message schema; the InputError's field is the first failing path. */
export function parseWith<T extends z.ZodTypeAny>(schema: T, input: unknown): z.infer<T> {
  const r = schema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const message = issue.code === 'unrecognized_keys' ? 'is not a known field' : issue.message;
    throw new InputError(issueField(issue, '', 'body'), message);
  }
  return r.data;
}

/**
 * A path parameter. Some gateways pass it still percent-encoded, others (serverless-offline, REST APIs) decoded; ids
 * are [A-Za-z0-9_-] either way, so a value that is not valid percent-encoding (`%`, `%zz`, an already-decoded `%`) is
 * returned as it is and fails the id schema with a 400 naming the parameter, never a URIError and a 500.
 */
export function pathParam(event: HttpEvent, name: string): string | undefined {
  const v = event.pathParameters?.[name];
  if (v === undefined) return undefined;
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
}
