/**
 * A local S3 API (s3rver) for tests, the demo and `serverless offline`: bound to 127.0.0.1 on a free port, storing
 * objects in a fresh temporary directory, with one bucket created up front.
 *
 *   node --import tsx infra/s3-local.ts [--bucket name] [--port n] [--dir path]
 *
 * prints one JSON line `{"endpoint":…,"bucket":…,"dir":…,"region":…,"accessKeyId":…,"secretAccessKey":…}` and
 * serves until SIGINT/SIGTERM. The credentials are s3rver's documented defaults and are local-only: s3rver runs with
 * `allowMismatchedSignatures`, so it does not check them (nor does it enforce If-Match/If-None-Match on PUT).
 *
 * s3rver's filesystem store writes objects in place (truncate, then write), so a GET racing a PUT of the same key can
 * read a truncated object, while an S3 PUT is atomic. `atomicPuts` (on by default) patches the running instance's
 * store to write each object and its metadata to a temporary file and rename it into place, so tests exercise
 * S3's guarantee and not that s3rver artefact.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const S3_LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const S3_LOCAL_REGION = 'us-east-1';

export interface S3Local {
  readonly endpoint: string;
  readonly bucket: string;
  readonly dir: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  stop(): Promise<void>;
}

/** The part of s3rver's (untyped, CommonJS) API used here. */
interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  store: S3rverFilesystemStore;
}
interface S3rverFilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putObject(object: { bucket: string; key: string; content: unknown; metadata: Record<string, string> }): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
}
type S3rverCtor = new (opts: Record<string, unknown>) => S3rverInstance;

/** Makes s3rver's PUT atomic for readers: object bytes and sidecar files go to temp paths and are renamed into place. */
function makePutsAtomic(store: S3rverFilesystemStore): void {
  const putObject = store.putObject.bind(store);
  const putMetadata = store.putMetadata.bind(store);
  const swap = async (pairs: [string, string][]): Promise<void> => {
    for (const [tmp, final] of pairs) await rename(tmp, final);
  };
  store.putObject = async (object) => {
    const tmpKey = `${object.key}.s3local-tmp-${randomUUID()}`;
    // Write under a temporary key (bytes + md5 + metadata), then rename all three over the real key's files.
    const res = await putObject({ ...object, key: tmpKey });
    const files = ['object', 'object.md5', 'metadata.json'];
    await swap(files.map((f) => [store.getResourcePath(object.bucket, tmpKey, f), store.getResourcePath(object.bucket, object.key, f)]));
    return res;
  };
  store.putMetadata = async (bucket, key, metadata, md5) => {
    // Used by copyObject with replacement metadata; keep it atomic too.
    const tmpKey = `${key}.s3local-tmp-${randomUUID()}`;
    await putMetadata(bucket, tmpKey, metadata, md5);
    const pairs: [string, string][] = [[store.getResourcePath(bucket, tmpKey, 'metadata.json'), store.getResourcePath(bucket, key, 'metadata.json')]];
    if (md5) pairs.unshift([store.getResourcePath(bucket, tmpKey, 'object.md5'), store.getResourcePath(bucket, key, 'object.md5')]);
    await swap(pairs);
  };
}

export async function startS3Local(opts: { bucket?: string; dir?: string; port?: number; atomicPuts?: boolean } = {}): Promise<S3Local> {
  const bucket = opts.bucket ?? 'imagedrift';
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? (await mkdtemp(join(tmpdir(), 'imagedrift-s3-')));
  const require = createRequire(import.meta.url);
  const S3rver = require('s3rver') as S3rverCtor;
  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port ?? 0,
    directory: dir,
    silent: true,
    allowMismatchedSignatures: true,
    configureBuckets: [{ name: bucket }],
  });
  if (opts.atomicPuts ?? true) makePutsAtomic(server.store);
  let addr: AddressInfo;
  try {
    addr = await server.run();
  } catch (e) {
    if (ownDir) await rm(dir, { recursive: true, force: true });
    throw e;
  }
  let stopped = false;
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    bucket,
    dir,
    region: S3_LOCAL_REGION,
    credentials: { ...S3_LOCAL_CREDENTIALS },
    async stop() {
      if (stopped) return;
      stopped = true;
      await server.close();
      if (ownDir) await rm(dir, { recursive: true, force: true });
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

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const port = argValue(args, '--port');
  if (port !== undefined && !/^\d+$/.test(port)) throw new Error(`--port must be a number, got ${port}`);
  const bucket = argValue(args, '--bucket');
  const dir = argValue(args, '--dir');
  const s3 = await startS3Local({ ...(bucket ? { bucket } : {}), ...(dir ? { dir } : {}), ...(port ? { port: Number(port) } : {}) });
  process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, dir: s3.dir, region: s3.region, ...s3.credentials })}\n`);
  const shutdown = (): void => {
    void s3.stop().then(() => process.exit(0), (e: unknown) => {
      process.stderr.write(`s3-local: stop failed: ${(e as Error).message}\n`);
      process.exit(1);
    });
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

// Keep `writeFile` out of the bundle's tree-shaken surface warnings: unused import guard.
void writeFile;
