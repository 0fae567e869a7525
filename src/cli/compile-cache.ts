// Loads the CLI bundle (dist/cli.cjs) with a V8 code cache, so that a CLI process does not compile it again at every
// start. Imported by bin/imagedrift.js before anything else, so it imports Node's built-ins only (the test of the
// bundled fit copies it beside a copy of the bundle).
//
// Node ≥ 22.1 has this built in (`module.enableCompileCache`): there the bundle is simply required with it enabled.
// Node 20 has none for modules, hence this file (hand-written; README "Hand-written on purpose"). It compiles the
// bundle as a CommonJS wrapper with `vm.Script`, handing V8 the code cache of an earlier run of the same command, and
// after the command writes one when there was none or V8 rejected it. The cache is made after the run
// (`script.createCachedData()`), so it holds every function the command compiled, not only the top level that a
// cache made at compile time (the v8-compile-cache package's way) holds: on the seed workload's fit + calibrate +
// predict, measured interleaved (10 rounds), the three processes took 0.87× the CPU time of the uncached ES-module
// bundle with this cache and 0.92× with one made at compile time (BENCHMARKS.md §1).
//
// Safety: V8 checks a cache against its own version, flags and the source's length, not the source itself, so a cache
// is keyed by a hash of the bundle's content (a rebuilt bundle of the same length never runs stale code). Caches live
// in a directory only the current user can write (created 0700; one that is a symlink, owned by someone else or
// writable by others is not used), are written to a temporary file and renamed into place (a reader never sees half a
// file), and any failure to read or write one only costs the compile it would have saved.
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import nodeModule, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import vm from 'node:vm';

/**
 * What happened to the code cache of this load: `builtin` (Node's own compile cache, Node ≥ 22.1), `off`
 * (NODE_DISABLE_COMPILE_CACHE), `unsafe` (the cache directory could not be made private to this user), `miss` (none
 * yet), `rejected` (V8 refused the one found), `hit` (V8 used it).
 */
export type CacheStatus = 'builtin' | 'off' | 'unsafe' | 'miss' | 'rejected' | 'hit';

export interface LoadedBundle<T> {
  readonly exports: T;
  readonly status: CacheStatus;
  /** The cache file this load reads and `save` writes (undefined when no cache is used). */
  readonly cacheFile?: string;
  /**
   * After the command: writes the code cache when there was none or V8 rejected it (status `miss` or `rejected`),
   * with every function compiled so far. Returns whether it wrote one. Never throws.
   */
  save(): boolean;
}

export interface LoadOptions {
  /** The cache's name within the bundle's caches: the CLI's command, so that each command's cache holds its code. */
  readonly key: string;
  /** Environment read for NODE_COMPILE_CACHE (the directory) and NODE_DISABLE_COMPILE_CACHE. */
  readonly env?: NodeJS.ProcessEnv;
  /** Use Node's built-in compile cache where it has one (default true; false exercises this file's own on any Node). */
  readonly builtin?: boolean;
}

/** The cache directory: NODE_COMPILE_CACHE (Node's own variable for its compile cache) or the system's temporary one. */
export function cacheDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  return join(env.NODE_COMPILE_CACHE || tmpdir(), `imagedrift-compile-cache${uid === undefined ? '' : `-${uid}`}`);
}

/** Makes `dir` (mode 0700) unless it exists, and says whether it is a real directory only this user can write. */
function privateDirectory(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    if (!st.isDirectory()) return false;
    if (typeof process.getuid === 'function' && st.uid !== process.getuid()) return false;
    return (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** Requires the CommonJS `file` (a bundle, whose own `require` resolves from beside it), with a code cache. */
export function loadBundle<T = unknown>(file: string, options: LoadOptions): LoadedBundle<T> {
  const env = options.env ?? process.env;
  const requireHere = createRequire(file);
  const { enableCompileCache } = nodeModule as { enableCompileCache?: () => unknown };
  if (options.builtin !== false && typeof enableCompileCache === 'function') {
    if (!env.NODE_DISABLE_COMPILE_CACHE) enableCompileCache();
    return { exports: requireHere(file) as T, status: env.NODE_DISABLE_COMPILE_CACHE ? 'off' : 'builtin', save: () => false };
  }
  const source = readFileSync(file, 'utf8');
  let status: CacheStatus;
  let cacheFile: string | undefined;
  let build = ''; // this Node's and this bundle's part of a cache file's name
  let cachedData: Buffer | undefined;
  if (env.NODE_DISABLE_COMPILE_CACHE) status = 'off';
  else {
    const dir = cacheDirectory(env);
    if (!privateDirectory(dir)) status = 'unsafe';
    else {
      build = `${cachePrefix()}-${createHash('sha256').update(source).digest('hex').slice(0, 16)}-`;
      const key = /^[a-z][a-z0-9-]{0,39}$/.test(options.key) ? options.key : 'other';
      cacheFile = join(dir, `${build}${key}.bin`);
      try {
        cachedData = readFileSync(cacheFile);
      } catch {
        cachedData = undefined;
      }
      status = 'miss';
    }
  }
  const script = new vm.Script(nodeModule.wrap(source), { filename: file, cachedData });
  if (cachedData) status = script.cachedDataRejected ? 'rejected' : 'hit';
  const module = { exports: {} as T };
  (script.runInThisContext() as (...a: unknown[]) => void)(module.exports, requireHere, module, file, dirname(file));
  const save = (): boolean => {
    if (!cacheFile || (status !== 'miss' && status !== 'rejected')) return false;
    const tmp = `${cacheFile}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, script.createCachedData(), { mode: 0o600 });
      renameSync(tmp, cacheFile);
      pruneStale(dirname(cacheFile), build);
      return true;
    } catch {
      rmSync(tmp, { force: true });
      return false;
    }
  };
  return { exports: module.exports, status, cacheFile, save };
}

/** This Node's part of a cache file's name: V8's version and the architecture (V8 rejects another's cache anyway). */
function cachePrefix(): string {
  return `v8-${process.versions.v8}-${process.arch}`;
}

/** Removes this Node's caches of other builds of the bundle (other hashes); other Nodes' caches are left alone. */
function pruneStale(dir: string, build: string): void {
  const prefix = `${cachePrefix()}-`;
  for (const name of readdirSync(dir)) {
    if (name.startsWith(prefix) && name.endsWith('.bin') && !name.startsWith(build)) rmSync(join(dir, name), { force: true });
  }
}
