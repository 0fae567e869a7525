import type { z } from 'zod';
import { InputError, issueField, StorageError } from '../core/errors.js';

/**
 * The one storage interface: a flat key → bytes store. Two implementations: `LocalDirStore` (a directory) and
 * `S3Store` (a bucket). Everything above it (detector versions, datasets, jobs, audits) is written in terms of keys,
 * so the CLI's detector directory and the S3 bucket share one layout.
 */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly etag?: string;
  /** When the object was last written (listings only: S3's LastModified, a file's mtime). */
  readonly lastModified?: Date;
}

export interface PutOptions {
  readonly contentType?: string;
  readonly ifNoneMatch?: boolean;
  readonly ifMatch?: string;
}

export interface ObjectStore {
  /** Returns the object's bytes, or undefined when it does not exist. */
  get(key: string): Promise<Uint8Array | undefined>;
  /**
   * Writes the whole object; readers never see a partial object. Conditional writes fail with a ConflictError and
   * leave the object as it was: `ifNoneMatch` when the object exists, `ifMatch` (an ETag from `head`) when it no
   * longer has that ETag (it changed since it was read, or is gone).
   */
  put(key: string, bytes: Uint8Array, opts?: PutOptions): Promise<void>;
  /** The object's size and ETag (a token that changes with every write) without reading it; undefined when it does not exist. */
  head(key: string): Promise<ObjectInfo | undefined>;
  delete(key: string): Promise<void>;
  /** Keys under a prefix, in S3's order (`compareKeys`); `after` starts listing after that key. */
  list(prefix: string, opts?: { after?: string; limit?: number }): Promise<ObjectInfo[]>;
  /** A human-readable location for logs and errors (`dir:/x`, `s3://bucket`). */
  readonly location: string;
}

/**
 * S3's listing order: the keys' UTF-8 bytes, compared as unsigned bytes. JavaScript's `<` compares UTF-16 code units,
 * which puts a character above U+FFFF (a surrogate pair, 0xD800…) before U+E000–U+FFFF; the bytes put it after.
 */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * What a store that can list the folders directly under a prefix offers (S3Store, LocalDirStore, a tenant's view of
 * either): S3's CommonPrefixes, one request per 1,000 folders however many objects each holds.
 */
export interface FolderLister {
  /**
   * The folders directly under `prefix` (which ends in "/"), each as `<prefix><name>/`, in key order (byte order of
   * the whole folder key: `a-b/` sorts before `a/`), after the folder `after` if given; at most `limit`, with `more`
   * when others follow.
   */
  listFolders(prefix: string, opts: { after?: string; limit: number }): Promise<{ folders: string[]; more: boolean }>;
}

export function canListFolders(s: ObjectStore): s is ObjectStore & FolderLister {
  return typeof (s as Partial<FolderLister>).listFolders === 'function';
}

/** Checks `listFolders`' arguments (the same rule in every store): a folder prefix, a folder under it, a positive count. */
export function checkFolderListing(prefix: string, opts: { after?: string; limit: number }): void {
  if (prefix !== '' && (!prefix.endsWith('/') || !isSafeKey(prefix.slice(0, -1)))) throw new InputError('prefix', `${JSON.stringify(prefix)} is not a safe key prefix ending in "/"`);
  if (opts.after !== undefined && (!opts.after.startsWith(prefix) || !opts.after.endsWith('/') || opts.after.slice(prefix.length, -1).includes('/') || !isSafeKey(opts.after.slice(0, -1)))) {
    throw new InputError('after', `${JSON.stringify(opts.after)} is not a folder directly under ${JSON.stringify(prefix)}`);
  }
  if (!Number.isSafeInteger(opts.limit) || opts.limit < 1) throw new InputError('limit', `must be a positive integer, got ${opts.limit}`);
}

/** Keys are relative, slash-separated, with no `..`, no empty segments and no leading slash. */
export function isSafeKey(key: string): boolean {
  if (!key || key.length > 1024 || key.startsWith('/') || key.includes('\\') || key.includes('\0')) return false;
  return key.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

/**
 * Reads a JSON object the service stored: undefined when the key does not exist; bytes that are not JSON, or do not
 * match `schema`, are damaged state (StorageError naming the key and `what`), never a bare SyntaxError. The one
 * reader for every JSON object in a store (manifests, pointers, claims, job results, audit cursors).
 */
export async function readStoredJson<T = unknown>(store: ObjectStore, key: string, what = 'object', schema?: z.ZodType<T>): Promise<T | undefined> {
  const b = await store.get(key);
  if (!b) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(b));
  } catch {
    throw new StorageError(key, `${what} is not valid JSON`);
  }
  if (!schema) return parsed as T;
  const r = schema.safeParse(parsed);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new StorageError(key, `${what} is malformed: ${issueField(issue)}: ${issue.message}`);
  }
  return r.data;
}
