/** A real s3rver (infra/s3-local.ts) on loopback for tests, plus an S3Store over it. */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startS3Local, type S3Local } from '../../infra/s3-local.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { createS3Client, S3Store } from '../../src/storage/s3-store.js';
import { freePort } from './procs.js';
import { startS3Recorder, type S3Recorder } from './s3-recorder.js';

export interface TestS3 {
  readonly s3: S3Local;
  /** A store over the bucket. */
  readonly store: S3Store;
  /** A fresh key space in the shared bucket: a unique `t-<uuid>/` prefix. */
  prefix(): string;
  stop(): Promise<void>;
}

export async function startTestS3(opts: { bucket?: string; maxAttempts?: number } = {}): Promise<TestS3> {
  const s3 = await startS3Local({ bucket: opts.bucket ?? 'test-bucket' });
  const client = createS3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3.credentials, ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}) });
  const store = new S3Store({ client, bucket: s3.bucket });
  return {
    s3,
    store,
    prefix: () => `t-${randomUUID()}/`,
    async stop() {
      client.destroy();
      await s3.stop();
    },
  };
}

/**
 * Makes every object under `prefix` (a bucket key prefix) `days` old as S3 lists it: s3rver reports an object's
 * LastModified from its file's modification time, which is set back (for tests of the retention sweep, which reads the
 * real clock in the functions; nothing waits). Returns the keys aged.
 */
export async function ageObjects(s3: { readonly dir: string; readonly bucket: string }, store: ObjectStore, prefix: string, days: number): Promise<string[]> {
  const t = new Date(Date.now() - days * 86_400_000);
  const keys = (await store.list(prefix)).map((o) => o.key);
  for (const key of keys) {
    const parts = key.split('/');
    await utimes(join(s3.dir, s3.bucket, ...parts.slice(0, -1), `${parts.at(-1)}._S3rver_object`), t, t);
  }
  return keys;
}

/**
 * An s3rver that can be taken down and brought back (fault injection): the same port and the same directory, so the
 * objects written before the outage are there after it and clients keep their endpoint. `store` is a client over it
 * that lives across restarts.
 *
 * With `proxy`, a forwarding proxy (test/helpers/s3-recorder.ts) stands in front of the server for clients that must
 * be stopped at an exact request (`proxy.holdFrom`), e.g. a worker process given `proxy.endpoint`. It goes down and
 * comes back with the server, so its clients see the outage as the server's own clients do: `down` freezes it (nothing
 * more reaches the server), kills the server, then drops the proxy's connections and stops it listening (refused);
 * `restart` starts the server, then listens again on the proxy's port.
 */
export interface RestartableS3 {
  /** The server's own endpoint (`store`'s). */
  readonly endpoint: string;
  readonly bucket: string;
  /** s3rver's data directory: objects live at `<dir>/<bucket>/<key>._S3rver_object`. */
  readonly dir: string;
  readonly store: S3Store;
  /** The proxy in front of the server, if asked for. */
  readonly proxy?: S3Recorder;
  /** Whether the server is up. */
  up(): boolean;
  /** Stops the server (SIGKILL by default: it vanishes mid-request, as a crashed endpoint would), and the proxy. */
  down(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** Starts a new s3rver on the same port over the same directory; the proxy listens again. */
  restart(): Promise<void>;
  /** The path s3rver stores `key`'s bytes at (to watch writes land without asking the server). */
  objectPath(key: string): string;
  /** Stops the server if up and the proxy, destroys the client and removes the directory. Idempotent. */
  stop(): Promise<void>;
}

export async function startRestartableS3(opts: { bucket?: string; maxAttempts?: number; proxy?: boolean } = {}): Promise<RestartableS3> {
  const bucket = opts.bucket ?? 'test-bucket';
  const dir = await mkdtemp(join(tmpdir(), 'imagedrift-s3-restartable-'));
  let server: S3Local | undefined;
  let port: number;
  let proxy: S3Recorder | undefined;
  try {
    port = await freePort();
    server = await startS3Local({ bucket, dir, port });
    if (opts.proxy) proxy = await startS3Recorder(server.endpoint);
  } catch (e) {
    await server?.stop({ signal: 'SIGKILL' });
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const endpoint = server.endpoint;
  const client = createS3Client({ endpoint, region: server.region, forcePathStyle: true, credentials: server.credentials, ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}) });
  const store = new S3Store({ client, bucket });
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    bucket,
    dir,
    store,
    ...(proxy ? { proxy } : {}),
    up: () => server !== undefined,
    async down(signal = 'SIGKILL') {
      const s = server;
      server = undefined;
      proxy?.freeze();
      await s?.stop({ signal });
      await proxy?.down();
    },
    async restart() {
      if (server) throw new Error(`s3rver on ${endpoint} is already up`);
      server = await startS3Local({ bucket, dir, port });
      await proxy?.up();
    },
    objectPath: (key) => join(dir, bucket, ...key.split('/').slice(0, -1), `${key.split('/').at(-1)}._S3rver_object`),
    stop() {
      stopping ??= (async () => {
        client.destroy();
        await proxy?.stop();
        await server?.stop({ signal: 'SIGTERM' });
        server = undefined;
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
