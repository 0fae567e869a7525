/**
 * The one storage interface: a flat key → bytes store. Two implementations: `LocalDirStore` (a directory) and
 * `S3Store` (a bucket). Everything above it (detector versions, datasets, jobs, audits) is written in terms of keys,
 * so the CLI's detector directory and the S3 bucket share one layout.
 */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly etag?: string;
}

export interface ObjectStore {
  /** Returns the object's bytes, or undefined when it does not exist. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Writes the whole object; readers never see a partial object. */
  put(key: string, bytes: Uint8Array, opts?: { contentType?: string; ifNoneMatch?: boolean }): Promise<void>;
  /** Like get, with the ETag. */
  head(key: string): Promise<ObjectInfo | undefined>;
  delete(key: string): Promise<void>;
  /** Keys under a prefix, in lexicographic order; `after` starts listing after that key. */
  list(prefix: string, opts?: { after?: string; limit?: number }): Promise<ObjectInfo[]>;
  /** A human-readable location for logs and errors (`dir:/x`, `s3://bucket`). */
  readonly location: string;
}

/** Keys are relative, slash-separated, with no `..`, no empty segments and no leading slash. */
export function isSafeKey(key: string): boolean {
  if (!key || key.length > 1024 || key.startsWith('/') || key.includes('\\') || key.includes('\0')) return false;
  return key.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}
