import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandInput,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ConflictError, InputError, StorageError, TransientStorageError } from '../core/errors.js';
import { checkFolderListing, isSafeKey, type FolderLister, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';

/**
 * The ObjectStore over an S3 bucket (AWS S3, or any S3 API such as the local s3rver in infra/s3-local.ts).
 *
 * Error mapping: a missing object is `undefined` (get/head), a failed `If-None-Match` or `If-Match` is a ConflictError, a transient
 * failure (HTTP 5xx, throttling, connection refused/reset, timeouts) is a {@link TransientStorageError}, and anything
 * else (access denied, missing bucket, bad request) is a plain StorageError. The worker retries only transient ones.
 * The SDK's own retries (`maxAttempts`, default 3, standard mode: it retries 5xx, throttling, ECONNREFUSED/ECONNRESET/
 * EPIPE/ETIMEDOUT and TimeoutError) run first; a body that fails mid-read is not retried by the SDK (the response had
 * arrived), so its error (ECONNRESET "aborted") must be classified here. test/faults/s3-outage.test.ts checks both.
 */


export interface S3ClientOptions {
  /** e.g. `http://127.0.0.1:4569` for s3rver; omitted = AWS. */
  readonly endpoint?: string;
  readonly region?: string;
  /** Path-style URLs (`http://host/bucket/key`); needed for s3rver and most S3-compatible servers. */
  readonly forcePathStyle?: boolean;
  /** Omitted = the SDK's default provider chain (environment, profile, instance role). */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string; readonly sessionToken?: string };
  /** SDK attempts per request, including the first (SDK default 3). */
  readonly maxAttempts?: number;
  /** Give up on a TCP connect after this long (default 5 000 ms). */
  readonly connectionTimeoutMs?: number;
  /**
   * Give up on a request whose socket has been idle this long, waiting for the response or in the middle of its body
   * (default 30 000 ms; data flowing resets it, so large transfers are not cut short).
   */
  readonly socketTimeoutMs?: number;
}

/**
 * Without timeouts the SDK waits forever on an endpoint that accepts connections but never answers (a hung or
 * black-holed S3: measured here against a stopped s3rver, a GET was still pending after 40 s), and a worker job would
 * hang with it while its BullMQ lock kept being renewed. With them the request fails with a TimeoutError, which the
 * SDK retries and which then surfaces as a TransientStorageError that BullMQ retries with backoff.
 */
const DEFAULT_CONNECTION_TIMEOUT_MS = 5_000;
const DEFAULT_SOCKET_TIMEOUT_MS = 30_000;

export function createS3Client(opts: S3ClientOptions = {}): S3Client {
  const config: S3ClientConfig = {
    region: opts.region ?? 'us-east-1',
    // Only compute/validate flexible checksums when an operation requires them: with the SDK's newer default
    // ("when supported") presigned PUT URLs carry a checksum of an empty body and uploads through them fail.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: opts.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS, socketTimeout: opts.socketTimeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS },
  };
  if (opts.endpoint !== undefined) config.endpoint = opts.endpoint;
  if (opts.forcePathStyle !== undefined) config.forcePathStyle = opts.forcePathStyle;
  if (opts.credentials) config.credentials = { ...opts.credentials };
  if (opts.maxAttempts !== undefined) config.maxAttempts = opts.maxAttempts;
  return new S3Client(config);
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
  cause?: unknown;
}

const THROTTLING = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'ThrottledException', 'RequestThrottled', 'TooManyRequestsException', 'RequestLimitExceeded', 'RequestThrottledException', 'ProvisionedThroughputExceededException', 'BandwidthLimitExceeded', 'EC2ThrottledException', 'PriorRequestNotComplete']);
const TRANSIENT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'InternalError', 'ServiceUnavailable', 'AbortError']);
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

function statusOf(e: unknown): number | undefined {
  return (e as SdkErrorShape | undefined)?.$metadata?.httpStatusCode;
}

function isNotFound(e: unknown): boolean {
  const name = (e as SdkErrorShape | undefined)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || (statusOf(e) === 404 && name !== 'NoSuchBucket');
}

/** Whether an SDK/network error is worth retrying. Walks `cause` chains (Node wraps socket errors). */
export function isTransientS3Error(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && depth < 5; cur = (cur as SdkErrorShape).cause, depth++) {
    const x = cur as SdkErrorShape;
    const status = x.$metadata?.httpStatusCode;
    if (status !== undefined && (status >= 500 || status === 429)) return true;
    if (x.name && (THROTTLING.has(x.name) || TRANSIENT_NAMES.has(x.name))) return true;
    if (x.code && (NETWORK_CODES.has(x.code) || THROTTLING.has(x.code))) return true;
    if (x.$retryable) return true;
    if (cur instanceof AggregateError && cur.errors.some((inner) => isTransientS3Error(inner))) return true;
  }
  return false;
}

function describe(e: unknown): string {
  const x = e as SdkErrorShape;
  const status = statusOf(e);
  const code = x.code ?? (x.cause as SdkErrorShape | undefined)?.code;
  const parts = [x.name && x.name !== 'Error' ? x.name : undefined, status !== undefined ? `HTTP ${status}` : undefined, code].filter(Boolean);
  const msg = x.message && x.message !== x.name ? x.message : '';
  return `${parts.join(' ')}${msg ? `${parts.length ? ': ' : ''}${msg}` : ''}` || String(e);
}

export class S3Store implements ObjectStore, FolderLister {
  readonly client: S3Client;
  readonly bucket: string;

  constructor(opts: { client: S3Client; bucket: string }) {
    this.client = opts.client;
    this.bucket = opts.bucket;
  }

  get location(): string {
    return `s3://${this.bucket}`;
  }

  private key(key: string): string {
    if (!isSafeKey(key)) throw new InputError('key', `'${key}' is not a safe relative key`);
    return key;
  }

  private fail(op: string, key: string, e: unknown): StorageError {
    const what = `cannot ${op} ${this.location}/${key}: ${describe(e)}`;
    return isTransientS3Error(e) ? new TransientStorageError(key, what, { cause: e }) : new StorageError(key, what, { cause: e });
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const Key = this.key(key);
    try {
      const res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }));
      if (!res.Body) return new Uint8Array(0);
      return await res.Body.transformToByteArray();
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw this.fail('read', key, e);
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const Key = this.key(key);
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return { key, size: res.ContentLength ?? 0, ...(res.ETag ? { etag: unquote(res.ETag) } : {}) };
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw this.fail('head', key, e);
    }
  }

  /**
   * `ifNoneMatch` sends `If-None-Match: *` and `ifMatch` sends `If-Match: "<etag>"`, which AWS S3 enforces atomically
   * (412 → ConflictError). Servers that ignore the headers (s3rver) are covered only by the HEAD check before the
   * write, which is not atomic.
   */
  async put(key: string, bytes: Uint8Array, opts: PutOptions = {}): Promise<void> {
    const Key = this.key(key);
    if (opts.ifNoneMatch && (await this.head(key))) throw new ConflictError(key, 'already exists');
    if (opts.ifMatch !== undefined && (await this.head(key))?.etag !== opts.ifMatch) throw new ConflictError(key, 'changed since it was read');
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key,
          Body: bytes,
          ContentLength: bytes.byteLength,
          ...(opts.contentType ? { ContentType: opts.contentType } : {}),
          ...(opts.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
          ...(opts.ifMatch !== undefined ? { IfMatch: `"${opts.ifMatch}"` } : {}),
        }),
      );
    } catch (e) {
      const status = statusOf(e);
      if (status === 412 || (e as SdkErrorShape).name === 'PreconditionFailed') throw new ConflictError(key, opts.ifMatch !== undefined ? 'changed since it was read' : 'already exists', { cause: e });
      if (status === 409 && (e as SdkErrorShape).name === 'ConditionalRequestConflict') throw new ConflictError(key, 'a concurrent conditional write won', { cause: e });
      throw this.fail('write', key, e);
    }
  }

  async delete(key: string): Promise<void> {
    const Key = this.key(key);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (e) {
      if (isNotFound(e)) return;
      throw this.fail('delete', key, e);
    }
  }

  async list(prefix: string, opts: { after?: string; limit?: number } = {}): Promise<ObjectInfo[]> {
    if (prefix !== '' && !isSafeKey(prefix.replace(/\/$/, ''))) throw new InputError('prefix', `'${prefix}' is not a safe relative key prefix`);
    if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 0)) throw new InputError('limit', `must be a non-negative integer, got ${opts.limit}`);
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const want = opts.limit === undefined ? 1000 : Math.min(1000, opts.limit - out.length);
      if (want <= 0) break;
      const res = await this.listPage({ Prefix: prefix, MaxKeys: want, ...(token ? { ContinuationToken: token } : opts.after !== undefined ? { StartAfter: opts.after } : {}) });
      for (const o of res.Contents ?? []) {
        if (o.Key === undefined) continue;
        out.push({ key: o.Key, size: o.Size ?? 0, ...(o.ETag ? { etag: unquote(o.ETag) } : {}), ...(o.LastModified ? { lastModified: o.LastModified } : {}) });
      }
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token);
    return opts.limit === undefined ? out : out.slice(0, opts.limit);
  }

  /**
   * ListObjectsV2 with Delimiter "/": the CommonPrefixes under `prefix`. Pages are read until `limit` + 1 folders are
   * seen (so `more` is exact) or the listing ends; AWS counts folders and keys against MaxKeys, s3rver only keys (it
   * answers every folder at once), so both are sliced here. `after` is passed as StartAfter with its final "/" turned
   * into "0", the character after "/": every key inside that folder sorts before it, every later folder after it.
   * (s3rver 3.7 itself shows a folder only when it holds a key directly; infra/s3-local.ts lists as S3 does.)
   */
  async listFolders(prefix: string, opts: { after?: string; limit: number }): Promise<{ folders: string[]; more: boolean }> {
    checkFolderListing(prefix, opts);
    const out: string[] = [];
    let token: string | undefined;
    do {
      const res = await this.listPage({
        Prefix: prefix,
        Delimiter: '/',
        MaxKeys: Math.min(1000, opts.limit + 1 - out.length),
        ...(token ? { ContinuationToken: token } : opts.after !== undefined ? { StartAfter: `${opts.after.slice(0, -1)}0` } : {}),
      });
      for (const p of res.CommonPrefixes ?? []) if (p.Prefix !== undefined) out.push(p.Prefix);
      token = res.IsTruncated ? res.NextContinuationToken : undefined;
    } while (token && out.length <= opts.limit);
    return { folders: out.slice(0, opts.limit), more: out.length > opts.limit };
  }

  /** One ListObjectsV2 request of `list` or `listFolders` (Prefix is the listing's, for the error). */
  private async listPage(input: Omit<ListObjectsV2CommandInput, 'Bucket'> & { Prefix: string }): Promise<ListObjectsV2CommandOutput> {
    try {
      return await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, ...input }));
    } catch (e) {
      throw this.fail('list', input.Prefix, e);
    }
  }

  /**
   * A presigned PUT URL for `key`, valid for `expiresIn` seconds. With `contentLength` the length is part of the
   * signed request (AWS rejects a body of another size; the caller must still check the size on completion, since
   * S3-compatible servers may not).
   */
  async presignPut(key: string, opts: { expiresIn: number; contentLength?: number }): Promise<string> {
    const Key = this.key(key);
    checkExpiresIn(opts.expiresIn);
    const cmd = new PutObjectCommand({ Bucket: this.bucket, Key, ...(opts.contentLength !== undefined ? { ContentLength: opts.contentLength } : {}) });
    try {
      return await getSignedUrl(this.client, cmd, {
        expiresIn: opts.expiresIn,
        ...(opts.contentLength !== undefined ? { signableHeaders: new Set(['content-length']) } : {}),
      });
    } catch (e) {
      throw this.fail('presign', key, e);
    }
  }

  /** A presigned GET URL for `key`, valid for `expiresIn` seconds (a result too large to answer inline). */
  async presignGet(key: string, opts: { expiresIn: number }): Promise<string> {
    checkExpiresIn(opts.expiresIn);
    try {
      return await getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }), { expiresIn: opts.expiresIn });
    } catch (e) {
      throw this.fail('presign', key, e);
    }
  }
}

function checkExpiresIn(s: number): void {
  if (!Number.isInteger(s) || s < 1 || s > 604800) throw new InputError('expiresIn', `must be an integer number of seconds in 1..604800, got ${s}`);
}

function unquote(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}
