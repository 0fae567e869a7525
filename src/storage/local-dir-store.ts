import { randomUUID } from 'node:crypto';
import { realpathSync, type BigIntStats } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { ConflictError, InputError, StorageError } from '../core/errors.js';
import { checkFolderListing, compareKeys, isSafeKey, type FolderLister, type ObjectInfo, type ObjectStore, type PutOptions } from './object-store.js';

/**
 * `mkdir -p`, one level at a time. Node's own recursive mkdir never returns for a path under /proc (it retries ENOENT
 * forever, spinning the CPU); here the first level that cannot be made is an error.
 */
export async function ensureDir(dir: string): Promise<void> {
  const notADirectory = (p: string) => Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', path: p });
  const missing: string[] = [];
  for (let p = resolve(dir); ; p = dirname(p)) {
    let isDir: boolean;
    try {
      isDir = (await stat(p)).isDirectory();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      missing.push(p); // missing, or a dangling symbolic link (whose mkdir fails below with EEXIST → checked)
      if (dirname(p) === p) break;
      continue;
    }
    if (!isDir) throw notADirectory(p);
    break;
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // Made meanwhile by a concurrent writer, or something else is there (a file, a dangling link): must be a directory.
      if (!(await stat(p).catch(() => undefined))?.isDirectory()) throw notADirectory(p);
    }
  }
}

/**
 * Writes `data` to `path` atomically, creating its directory: to a temp file beside it (`<path>.tmp-<uuid>`, same
 * directory, so the rename never crosses a filesystem), fsynced, then renamed into place. A reader sees the old file or
 * the new one, never a part of either. On any failure (a full disk, a file-size limit, `beforeRename` throwing) the temp
 * file is removed and an existing file at `path` is left as it was. `beforeRename` runs once the data is on disk.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, opts: { beforeRename?: () => Promise<void> } = {}): Promise<void> {
  await ensureDir(dirname(path));
  const tmp = `${path}.tmp-${randomUUID()}`;
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await opts.beforeRename?.();
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/**
 * `path` absolute, with symbolic links resolved in its longest existing part (a directory not made yet keeps the rest
 * of its path as spelt). Synchronous: a location is a property; a few stat calls on a local path.
 */
function canonicalPath(path: string): string {
  const rest: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      return join(realpathSync(p), ...rest);
    } catch {
      if (dirname(p) === p) return resolve(path);
      rest.unshift(basename(p));
    }
  }
}

function fileTag(st: BigIntStats): string {
  return `${st.ino.toString(36)}-${st.size.toString(36)}-${st.mtimeNs.toString(36)}`;
}

/** An ObjectStore over a local directory. Writes go to a temp file, are fsynced and renamed into place (atomic). */
export class LocalDirStore implements ObjectStore, FolderLister {
  constructor(readonly root: string) {}

  /**
   * The directory, resolved: one directory is one location however its path is spelt (`det`, `./det/`, absolute, or
   * through a symbolic link), so LocalCoordinator's per-location version claims cannot be split by spelling (two saves
   * would both claim v1).
   */
  get location(): string {
    return `dir:${canonicalPath(this.root)}`;
  }

  private path(key: string): string {
    if (!isSafeKey(key)) throw new InputError('key', `'${key}' is not a safe relative key`);
    return join(this.root, ...key.split('/'));
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const path = this.path(key);
    try {
      const b = await readFile(path);
      return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw new StorageError(key, `cannot read from ${this.location}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Size and ETag from the file's metadata: nothing is read (a HEAD of a large object must not load it). The ETag is
   * the inode, size and modification time: every write renames a new file into place, so it changes with each one.
   */
  async head(key: string): Promise<ObjectInfo | undefined> {
    const path = this.path(key);
    try {
      const st = await stat(path, { bigint: true });
      return st.isFile() ? { key, size: Number(st.size), etag: fileTag(st) } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw new StorageError(key, `cannot read from ${this.location}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Conditional writes are checked just before the rename: exact within one process, not atomic across processes. */
  async put(key: string, bytes: Uint8Array, opts: PutOptions = {}): Promise<void> {
    const p = this.path(key);
    try {
      const check = async () => {
        const now = await stat(p, { bigint: true }).then((st) => (st.isFile() ? fileTag(st) : ''), () => undefined);
        if (opts.ifNoneMatch && now !== undefined) throw new ConflictError(key, 'already exists');
        if (opts.ifMatch !== undefined && now !== opts.ifMatch) throw new ConflictError(key, 'changed since it was read');
      };
      await writeFileAtomic(p, bytes, opts.ifNoneMatch || opts.ifMatch !== undefined ? { beforeRename: check } : {});
    } catch (e) {
      if (e instanceof ConflictError) throw e;
      throw new StorageError(key, `cannot write to ${this.location}: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Removes the file (a missing one is fine), then its folders that this left empty, up to the store's root: a bucket
   * has no empty folders, and a pruned version would otherwise stay behind as an empty `v<n>/` directory.
   */
  async delete(key: string): Promise<void> {
    const p = this.path(key);
    await rm(p, { force: true });
    const root = resolve(this.root);
    for (let d = dirname(resolve(p)); d !== root && d.startsWith(root + sep); d = dirname(d)) {
      try {
        await rmdir(d);
      } catch {
        break; // not empty (or already gone, or not ours to remove): stop there
      }
    }
  }

  async list(prefix: string, opts: { after?: string; limit?: number } = {}): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw new StorageError(prefix, `cannot list ${this.location}: ${(e as Error).message}`, { cause: e });
      }
      for (const ent of entries) {
        const full = join(dir, ent.name);
        if (ent.isDirectory()) await walk(full);
        else if (ent.isFile() && !ent.name.includes('.tmp-')) {
          const key = relative(this.root, full).split(sep).join('/');
          if (!key.startsWith(prefix)) continue;
          const st = await stat(full).catch((e: NodeJS.ErrnoException) => {
            if (e.code === 'ENOENT') return undefined; // deleted since the directory was read
            throw new StorageError(key, `cannot list ${this.location}: ${e.message}`, { cause: e });
          });
          if (st) out.push({ key, size: st.size, lastModified: st.mtime });
        }
      }
    };
    await walk(this.root);
    out.sort((a, b) => compareKeys(a.key, b.key));
    const from = opts.after === undefined ? out : out.filter((o) => compareKeys(o.key, opts.after!) > 0);
    return opts.limit === undefined ? from : from.slice(0, opts.limit);
  }

  /** The folders under `prefix` that hold at least one object, as an S3 listing with Delimiter "/" shows them. */
  async listFolders(prefix: string, opts: { after?: string; limit: number }): Promise<{ folders: string[]; more: boolean }> {
    checkFolderListing(prefix, opts);
    const folders = new Set<string>();
    for (const { key } of await this.list(prefix)) {
      const slash = key.indexOf('/', prefix.length);
      if (slash !== -1) folders.add(key.slice(0, slash + 1));
    }
    const sorted = [...folders].sort(compareKeys).filter((f) => opts.after === undefined || compareKeys(f, opts.after) > 0);
    return { folders: sorted.slice(0, opts.limit), more: sorted.length > opts.limit };
  }
}
