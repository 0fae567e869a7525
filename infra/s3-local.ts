/**
 * A local S3 API (s3rver) for tests and `serverless offline` (the demo uses a local directory): bound to 127.0.0.1 on a free port, storing
 * objects in a fresh temporary directory, with one bucket created up front.
 *
 *   node --import tsx infra/s3-local.ts [--bucket name] [--port n] [--dir path]
 *
 * prints one JSON line `{"endpoint":…,"bucket":…,"dir":…,"region":…,"accessKeyId":…,"secretAccessKey":…}` and
 * serves until SIGINT/SIGTERM. The credentials are s3rver's documented defaults and are local-only: s3rver runs with
 * `allowMismatchedSignatures`, so it does not check them (nor does it enforce If-Match/If-None-Match on PUT).
 *
 * s3rver's filesystem store writes objects in place (truncate, then write), so a GET racing a PUT of the same key can
 * read a truncated object or have its connection reset (measured: most GETs of a key being overwritten in a loop
 * failed), while an S3 PUT is atomic. `atomicPuts` (on by default) patches the running instance's store (see
 * {@link makePutsAtomic}) so tests exercise S3's guarantee, not that s3rver artefact. It adds no conditional-write
 * enforcement: If-Match/If-None-Match remain ignored.
 *
 * s3rver lists keys in the order of its directory walk, one directory per key segment, so `a/x` comes before `a-b/x`
 * and `a.b/x` (a segment ends before any character), while S3 compares whole keys as UTF-8 bytes, where `-` and `.`
 * sort before `/`; its StartAfter (and continuation) filter still compares whole keys, so a listing resumed after a key
 * missed keys that the walk had put after it (measured: a retention pass resumed after `uploads/a/` never saw
 * `uploads/a-b/`). {@link listInKeyOrder} patches the running instance's store to S3's order.
 *
 * s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node ≥ 17) only offers through its
 * legacy provider: without it every truncated listing (MaxKeys below the number of keys) fails with HTTP 500. So
 * `startS3Local` runs s3rver in a child Node process started with `--openssl-legacy-provider`, instead of enabling
 * that for the caller's process.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { compareKeys } from '../src/storage/object-store.js';

export const S3_LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const S3_LOCAL_REGION = 'us-east-1';
/**
 * How long the server waits for open connections when told to stop. s3rver's close waits for every connection, and one
 * that never completes a request (a client that connected and went silent) held it without end; after this the server
 * exits anyway, dropping them.
 */
const CLOSE_GRACE_MS = 3000;
/** How long `stop()` waits for the server to exit after SIGTERM before it sends SIGKILL. */
const STOP_GRACE_MS = 10_000;

export interface S3Local {
  readonly endpoint: string;
  readonly bucket: string;
  readonly dir: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** The server process's id. */
  readonly pid: number;
  /**
   * Terminates the server and waits for it to exit. `signal: 'SIGKILL'` makes it vanish at once, mid-request, as a
   * crashed S3 endpoint would (fault-injection tests); the default SIGTERM closes it in an orderly way, dropping after
   * CLOSE_GRACE_MS connections that have not completed a request (SIGKILL if it has not exited after STOP_GRACE_MS).
   */
  stop(opts?: { signal?: 'SIGTERM' | 'SIGKILL' }): Promise<void>;
}

/** The part of s3rver's (untyped, CommonJS) API used here. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  store: S3rverFilesystemStore;
}
interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | AsyncIterable<Buffer>;
  metadata: Record<string, string>;
}
interface S3rverListOptions {
  delimiter?: string;
  startAfter?: string;
  prefix?: string;
  maxKeys?: number;
}
interface S3rverFilesystemStore {
  getBucketPath(bucket: string): string;
  getResourcePath(bucket: string, key: string, resource: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, string>>;
  listObjects(bucket: string, options: S3rverListOptions): Promise<{ objects: unknown[]; commonPrefixes: string[]; isTruncated: boolean }>;
  getObject(bucket: string, key: string, options?: unknown): Promise<unknown>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  deleteObject(bucket: string, key: string): Promise<unknown>;
  copyObject(srcBucket: string, srcKey: string, destBucket: string, destKey: string, replacementMetadata?: unknown): Promise<unknown>;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;

/**
 * Makes s3rver's PUT atomic for readers, as S3's is. Each PUT buffers the body, writes the object, its `.md5` and its
 * metadata to temporary files beside the real ones (names that s3rver's listing ignores), then renames all three into
 * place while holding a per-key lock that GET/HEAD (`getObject`), DELETE and COPY also take. A GET therefore sees the
 * old or the new object whole: its stat, metadata and opened file descriptor come from one version, and a rename never
 * changes the bytes behind an already opened descriptor.
 */
function makePutsAtomic(store: S3rverFilesystemStore, allowedMetadata: readonly string[]): void {
  const chains = new Map<string, Promise<unknown>>();
  const locked = <T>(bucket: string, key: string, fn: () => Promise<T>): Promise<T> => {
    const id = `${bucket}/${key}`;
    const run = (chains.get(id) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    chains.set(id, tail);
    void tail.then(() => {
      if (chains.get(id) === tail) chains.delete(id);
    });
    return run;
  };
  const getObject = store.getObject.bind(store);
  const deleteObject = store.deleteObject.bind(store);
  const copyObject = store.copyObject.bind(store);
  store.getObject = (bucket, key, options) => locked(bucket, key, () => getObject(bucket, key, options));
  store.deleteObject = (bucket, key) => locked(bucket, key, () => deleteObject(bucket, key));
  store.copyObject = (sb, sk, db, dk, meta) => locked(db, dk, () => copyObject(sb, sk, db, dk, meta));
  store.putObject = async (object) => {
    let content: Buffer;
    if (Buffer.isBuffer(object.content)) content = object.content;
    else {
      const chunks: Buffer[] = [];
      for await (const c of object.content) chunks.push(c);
      content = Buffer.concat(chunks);
    }
    const md5 = createHash('md5').update(content).digest('hex');
    const meta: Record<string, string> = {};
    for (const [k, v] of Object.entries(object.metadata)) if (allowedMetadata.includes(k) || k.startsWith('x-amz-meta-')) meta[k] = v;
    const files: [string, string | Buffer][] = [
      ['object.md5', md5],
      ['metadata.json', JSON.stringify(meta, null, 2)],
      ['object', content],
    ];
    const tag = `.s3local-tmp-${randomUUID()}`;
    const paths = files.map(([res]) => store.getResourcePath(object.bucket, object.key, res));
    await mkdir(dirname(paths[0]!), { recursive: true });
    await Promise.all(files.map(([, data], i) => writeFile(paths[i]! + tag, data)));
    await locked(object.bucket, object.key, async () => {
      for (const p of paths) await rename(p + tag, p);
    });
    return { size: content.length, md5 };
  };
}

/**
 * Makes s3rver list in S3's order (`compareKeys`, see the file comment): the keys under the prefix's deepest named
 * directory are collected, sorted and filtered as S3 does (after `startAfter`, keys below a delimiter folded into
 * common prefixes, at most `maxKeys` keys, which is all s3rver counts), and only the returned keys' metadata is read.
 * The response is built as s3rver's own `listObjects` builds it.
 */
function listInKeyOrder(store: S3rverFilesystemStore, S3Object: new (bucket: string, key: string, content: null, metadata: Record<string, string>) => unknown): void {
  const objectFile = basename(store.getResourcePath('b', 'k', 'object')).slice(1); // '._S3rver_object'
  store.listObjects = async (bucket, { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity }) => {
    const keys: string[] = [];
    const walk = async (dir: string, keyPrefix: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return;
        throw e;
      }
      for (const ent of entries) {
        if (ent.isDirectory()) await walk(join(dir, ent.name), `${keyPrefix}${ent.name}/`);
        else if (ent.name.endsWith(objectFile)) keys.push(keyPrefix + ent.name.slice(0, -objectFile.length));
      }
    };
    const base = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    await walk(join(store.getBucketPath(bucket), ...base.split('/').filter((s) => s !== '')), base);
    const objects: string[] = [];
    const commonPrefixes = new Set<string>();
    let isTruncated = false;
    for (const key of keys.filter((k) => k.startsWith(prefix) && compareKeys(k, startAfter) > 0).sort(compareKeys)) {
      const d = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (d !== -1) commonPrefixes.add(key.slice(0, d + delimiter.length));
      else if (objects.length < maxKeys) objects.push(key);
      else {
        isTruncated = true;
        break;
      }
    }
    const metadata = await Promise.all(objects.map((k) => store.getMetadata(bucket, k).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)))));
    return {
      objects: objects.flatMap((k, i) => (metadata[i] ? [new S3Object(bucket, k, null, metadata[i])] : [])),
      commonPrefixes: [...commonPrefixes].sort(compareKeys),
      isTruncated,
    };
  };
}

/** Runs s3rver in this process. DES (s3rver's continuation tokens) must be available, i.e. `--openssl-legacy-provider`. */
async function serveInProcess(opts: { bucket: string; dir: string; port: number; atomicPuts: boolean }): Promise<{ port: number; close(): Promise<void> }> {
  const require = createRequire(import.meta.url);
  const S3rver = require('s3rver') as S3rverCtor;
  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port,
    directory: opts.dir,
    silent: true,
    allowMismatchedSignatures: true,
    configureBuckets: [{ name: opts.bucket }],
  });
  const S3Object = require('s3rver/lib/models/object.js') as { ALLOWED_METADATA: string[] } & (new (bucket: string, key: string, content: null, metadata: Record<string, string>) => unknown);
  if (opts.atomicPuts) makePutsAtomic(server.store, S3Object.ALLOWED_METADATA);
  listInKeyOrder(server.store, S3Object);
  const addr = await server.run();
  return { port: addr.port, close: () => server.close() };
}

/**
 * Starts s3rver in a child process (so that it can run with `--openssl-legacy-provider`, see the file comment) and
 * resolves once it listens. `stop()` terminates it and removes the directory unless `dir` was given. The child also
 * exits when this process goes away (its stdin closes).
 */
export async function startS3Local(opts: { bucket?: string; dir?: string; port?: number; atomicPuts?: boolean } = {}): Promise<S3Local> {
  const bucket = opts.bucket ?? 'imagedrift';
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new Error(`bucket: ${JSON.stringify(bucket)} is not a valid S3 bucket name`);
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'imagedrift-s3-')));
  const self = fileURLToPath(import.meta.url);
  const args = [
    '--openssl-legacy-provider',
    ...(self.endsWith('.ts') ? ['--import', 'tsx'] : []),
    self,
    '--serve',
    '--bucket', bucket,
    '--dir', dir,
    '--port', String(opts.port ?? 0),
    ...(opts.atomicPuts === false ? ['--no-atomic-puts'] : []),
    // The directory is ours: the child removes it when it exits, so one left by a parent that died (a test run killed
    // before its cleanup) does not stay behind.
    ...(ownDir ? ['--remove-dir-on-exit'] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 4000) stderr += d;
  });
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const onData = (d: string): void => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl < 0) return;
        child.stdout.off('data', onData);
        try {
          resolve((JSON.parse(out.slice(0, nl)) as { port: number }).port);
        } catch {
          reject(new Error(`s3-local: unexpected output ${JSON.stringify(out.slice(0, 200))}`));
        }
      };
      child.stdout.setEncoding('utf8').on('data', onData);
      void exited.then((code) => reject(new Error(`s3-local: s3rver exited with code ${code} before listening: ${stderr.trim()}`)));
    });
  } catch (e) {
    child.kill('SIGKILL');
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw e;
  }
  child.stdout.resume();
  let stopping: Promise<void> | undefined;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    bucket,
    dir,
    region: S3_LOCAL_REGION,
    credentials: { ...S3_LOCAL_CREDENTIALS },
    stop(stopOpts = {}) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill(stopOpts.signal ?? 'SIGTERM');
        const kill = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exited;
        clearTimeout(kill);
        if (ownDir) await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

/** `--serve` (internal, used by startS3Local): run s3rver here and print `{"port":n}`. Otherwise: start the child, print the connection details. */
async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const port = argValue(args, '--port');
  if (port !== undefined && !/^\d+$/.test(port)) throw new Error(`--port must be a number, got ${port}`);
  const bucket = argValue(args, '--bucket');
  const dir = argValue(args, '--dir');
  if (args.includes('--serve')) {
    if (!bucket || !dir) throw new Error('--serve needs --bucket and --dir');
    const server = await serveInProcess({ bucket, dir, port: Number(port ?? 0), atomicPuts: !args.includes('--no-atomic-puts') });
    const removeDir = args.includes('--remove-dir-on-exit');
    const close = (): void => {
      const grace = new Promise<void>((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref());
      void Promise.race([server.close().catch(() => undefined), grace])
        .then(() => (removeDir ? rm(dir, { recursive: true, force: true }) : undefined))
        .finally(() => process.exit(0));
    };
    process.once('SIGTERM', close);
    process.once('SIGINT', close);
    // The parent holds our stdin open; when it goes away, so do we.
    process.stdin.on('end', close).on('error', close).resume();
    process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
    return;
  }
  const s3 = await startS3Local({ ...(bucket ? { bucket } : {}), ...(dir ? { dir } : {}), ...(port ? { port: Number(port) } : {}) });
  process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, dir: s3.dir, region: s3.region, ...s3.credentials })}\n`);
  const shutdown = (): void => {
    void s3.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        process.stderr.write(`s3-local: stop failed: ${(e as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`s3-local: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
