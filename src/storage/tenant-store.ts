import { InputError, StorageError } from '../core/errors.js';
import type { VersionCoordinator } from './detector-repository.js';
import { TENANTS_PREFIX } from './keys.js';
import { canListFolders, checkFolderListing, isSafeKey, type FolderLister, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';

/**
 * Tenant isolation by construction: every request and job of tenant `t` works on a view of the bucket whose keys all
 * live under `tenants/<t>/`. The services above it are unchanged (they still read `datasets/<id>/…`,
 * `detectors/<id>/…`, `jobs/<id>/…`), and there is no key they can pass that reaches outside the view: keys are
 * checked with `isSafeKey` (no `..`, no leading `/`) before the prefix is added. So a key of tenant A cannot name
 * tenant B's objects; B's detector simply does not exist for A (404, which also does not reveal that it exists).
 *
 * The version coordinator (Redis locks and counters, keyed by detector key) is scoped the same way, so two tenants'
 * detectors with the same id never share a lock or a version counter.
 */
export const tenantPrefix = (tenant: string): string => `${TENANTS_PREFIX}${tenant}/`;

/** What a store that can hand out presigned URLs offers (S3Store, and a view of one). */
export interface Presigner {
  presignPut(key: string, opts: { expiresIn: number; contentLength?: number }): Promise<string>;
  presignGet(key: string, opts: { expiresIn: number }): Promise<string>;
}

export function canPresign(s: ObjectStore): s is ObjectStore & Presigner {
  return typeof (s as Partial<Presigner>).presignPut === 'function';
}

export class PrefixedStore implements ObjectStore, FolderLister {
  constructor(
    readonly inner: ObjectStore,
    readonly prefix: string,
  ) {
    if (!prefix.endsWith('/') || !isSafeKey(prefix.slice(0, -1))) throw new InputError('prefix', `${JSON.stringify(prefix)} is not a safe key prefix ending in "/"`);
  }

  get location(): string {
    return `${this.inner.location}/${this.prefix.slice(0, -1)}`;
  }

  private full(key: string): string {
    if (!isSafeKey(key)) throw new InputError('key', `${JSON.stringify(key)} is not a safe relative key`);
    return this.prefix + key;
  }

  /** Prefixes (for list) may be empty or end in "/" or be partial segments; they must not climb out either. */
  private fullPrefix(p: string): string {
    if (p === '') return this.prefix;
    if (!isSafeKey(p.endsWith('/') ? p.slice(0, -1) : p)) throw new InputError('prefix', `${JSON.stringify(p)} is not a safe key prefix`);
    return this.prefix + p;
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.inner.get(this.full(key));
  }

  put(key: string, bytes: Uint8Array, opts?: PutOptions): Promise<void> {
    return this.inner.put(this.full(key), bytes, opts);
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    const info = await this.inner.head(this.full(key));
    return info ? { ...info, key } : undefined;
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(this.full(key));
  }

  async list(prefix: string, opts: { after?: string; limit?: number } = {}): Promise<ObjectInfo[]> {
    const listed = await this.inner.list(this.fullPrefix(prefix), { ...opts, ...(opts.after !== undefined ? { after: this.prefix + opts.after } : {}) });
    return listed.map((o) => ({ ...o, key: o.key.slice(this.prefix.length) }));
  }

  async listFolders(prefix: string, opts: { after?: string; limit: number }): Promise<{ folders: string[]; more: boolean }> {
    if (!canListFolders(this.inner)) throw new StorageError(prefix, `${this.inner.location} cannot list folders`);
    checkFolderListing(prefix, opts);
    const r = await this.inner.listFolders(this.fullPrefix(prefix), { limit: opts.limit, ...(opts.after !== undefined ? { after: this.prefix + opts.after } : {}) });
    return { folders: r.folders.map((f) => f.slice(this.prefix.length)), more: r.more };
  }

  presignPut(key: string, opts: { expiresIn: number; contentLength?: number }): Promise<string> {
    if (!canPresign(this.inner)) throw new InputError('presign', `${this.inner.location} cannot presign uploads`);
    return this.inner.presignPut(this.full(key), opts);
  }

  presignGet(key: string, opts: { expiresIn: number }): Promise<string> {
    if (!canPresign(this.inner)) throw new InputError('presign', `${this.inner.location} cannot presign downloads`);
    return this.inner.presignGet(this.full(key), opts);
  }
}

export function tenantStore(root: ObjectStore, tenant: string): PrefixedStore {
  return new PrefixedStore(root, tenantPrefix(tenant));
}

/**
 * The coordinator for a tenant's view: the same counters and locks, named by the detector's key in the whole bucket.
 * `nextVersion` lists the root store under the full key, which is the view's listing under the short key.
 */
export function tenantCoordinator(inner: VersionCoordinator, root: ObjectStore, tenant: string): VersionCoordinator {
  const p = tenantPrefix(tenant);
  return {
    nextVersion: (detectorKey) => inner.nextVersion(p + detectorKey, root),
    withPointerLock: (detectorKey, write) => inner.withPointerLock(p + detectorKey, write),
  };
}
