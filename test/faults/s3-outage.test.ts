/**
 * Fault injection: the S3 endpoint (a real s3rver) vanishes in the middle of a detector save and comes back on the
 * same port over the same directory.
 *
 * The outage is timed by request, not by the clock: the worker, a separate process (infra/worker.ts), reaches S3
 * through a forwarding proxy (startRestartableS3's `proxy`, test/helpers/s3-recorder.ts) that holds the worker's PUT of
 * the new version's manifest, sent only once every array is written. s3rver is SIGKILLed while that request is held,
 * then the proxy drops its connections and stops listening until s3rver is back, so the worker's held request and its
 * retries fail as on a crashed endpoint (reset, then refused). The version is therefore half written (arrays, no
 * manifest, pointer not moved) however late the kill lands. The worker's JSON log gives each attempt's start and
 * failure times; a reader in this process, which talks to s3rver directly (not through the proxy), loads the
 * detector's current version in a loop throughout.
 *
 * What the code guarantees, and what is asserted:
 * - Readers only ever see whole versions: `current.json` moves after the version's manifest, and the manifest is
 *   written after every array. A reader may fail with a transient error while S3 is down; it never gets a version
 *   with a missing array, and the versions it sees never go backwards.
 * - An interrupted save leaves `v<n>/*.bin` without a manifest. Such a version does not exist for readers (load →
 *   NotFound); a retry of the same job rewrites that same number (its `jobs/<id>/claim`), so a job still makes at most
 *   one version. If every attempt fails, the arrays stay behind as unreferenced garbage (nothing deletes them), the
 *   pointer stays on the previous version, and the number is never handed out again.
 * - Transient failures (connection refused/reset) are retried twice inside the SDK (maxAttempts 3), then by BullMQ
 *   with exponential backoff (JOB_BACKOFF_MS · 2^(k-1) before attempt k+1), up to JOB_ATTEMPTS attempts.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { NotFoundError, TransientStorageError } from '../../src/core/errors.js';
import { loadConfig, type Config } from '../../src/config.js';
import { JobClient, type JobStatus } from '../../src/queue/client.js';
import { jobKeys } from '../../src/storage/keys.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { DetectorRepository } from '../../src/storage/detector-repository.js';
import { createS3Client, isTransientS3Error, S3Store } from '../../src/storage/s3-store.js';
import { tenantStore, type PrefixedStore } from '../../src/storage/tenant-store.js';
import { parseLogLines, startReader, versionsSeen, type Reader, type WorkerLogLine } from '../helpers/faults.js';
import { REPO, SEED } from '../helpers/paths.js';
import { orTimeout, stopChild, until, type Child } from '../helpers/procs.js';
import { cleanupPrefix, connectRedis, REDIS_URL, uniquePrefix } from '../helpers/redis.js';
import type { RecordedRequest } from '../helpers/s3-recorder.js';
import { startRestartableS3, type RestartableS3 } from '../helpers/s3.js';
import { startWorkerProcess, workerEnv } from '../helpers/workers.js';

const DET = 'outage';
/** The jobs' tenant: the worker works in its view of the bucket, `tenants/<tenant>/`, where PREFIX and job keys live. */
const TENANT = 'outage-tenant';
const PREFIX = `detectors/${DET}/`;
const labels = [...Array(50).fill(0), ...Array(50).fill(1)];

describe('S3 outage during a detector save', { timeout: 150_000 }, () => {
  let s3: RestartableS3 | undefined;
  /** TENANT's view of the bucket (over s3.store, which lives across restarts). */
  let view: PrefixedStore;
  let worker: Child | undefined;
  let config: Config;
  const redis = connectRedis();
  const clientConns: Redis[] = [];
  const clients: JobClient[] = [];
  const queuePrefix = uniquePrefix().replace(/:$/, '');
  let reader: Reader | undefined;

  const jobClient = (attempts: number, backoffMs: number): JobClient => {
    const conn = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, connectTimeout: 5000 });
    clientConns.push(conn);
    const c = new JobClient({ connection: conn, prefix: queuePrefix, attempts, backoffMs });
    clients.push(c);
    return c;
  };
  const jobLines = (jobId: string): WorkerLogLine[] => parseLogLines(worker!.output()).filter((l) => l.jobId === jobId);
  /** Waits for a terminal state; status reads S3 for completed jobs, so it is retried while S3 is down. */
  const finished = (c: JobClient, id: string, timeoutMs: number): Promise<JobStatus> =>
    until(
      async () => {
        const s = await c.status(id, view, TENANT).catch(() => undefined);
        return s && (s.state === 'completed' || s.state === 'failed') ? s : undefined;
      },
      timeoutMs,
      `job ${id} to finish`,
      100,
    );
  const manifests = async (): Promise<string[]> => (await view.list(PREFIX)).map((o) => o.key).filter((k) => k.endsWith('/manifest.json'));
  /** Every stored manifest names arrays that all exist with the size the manifest gives. */
  const assertNoManifestWithoutArrays = async (): Promise<void> => {
    for (const key of await manifests()) {
      const m = JSON.parse(new TextDecoder().decode(await view.get(key))) as { arrays: Record<string, { file: string; shape: number[]; dtype: 'float32' | 'float64' }> };
      const dir = key.slice(0, -'manifest.json'.length);
      for (const ref of Object.values(m.arrays)) {
        const info = await view.head(dir + ref.file);
        assert.ok(info, `${key} names ${ref.file}, which must exist`);
        assert.equal(info.size, (ref.dtype === 'float64' ? 8 : 4) * ref.shape.reduce((a, b) => a * b, 1), `${dir}${ref.file} is whole`);
      }
    }
  };
  /**
   * Takes S3 down (s3rver SIGKILLed) while the worker's PUT of the manifest of a version not in `known` is held by the
   * proxy, and checks on disk that the version is half written: arrays, no manifest, the pointer still on `base`.
   * Returns that version.
   */
  const killMidSave = async (known: ReadonlySet<number>, base: number): Promise<number> => {
    const manifestPut = new RegExp(`^/${s3!.bucket}/tenants/${TENANT}/${PREFIX}v(\\d+)/manifest\\.json$`);
    const versionOf = (r: RecordedRequest): number | undefined => {
      const m = r.method === 'PUT' ? manifestPut.exec(r.path) : null;
      return m ? Number(m[1]) : undefined;
    };
    const held = await orTimeout(
      s3!.proxy!.holdFrom((r) => {
        const v = versionOf(r);
        return v !== undefined && !known.has(v);
      }),
      60_000,
    );
    if (held === 'timeout') throw new Error(`timed out after 60000 ms waiting for the worker to PUT a new version's manifest\n${worker!.output().slice(-3000)}`);
    await s3!.down('SIGKILL');
    const version = versionOf(held)!;
    const detectorDir = join(s3!.dir, s3!.bucket, 'tenants', TENANT, 'detectors', DET);
    const onDisk = await readdir(join(detectorDir, `v${version}`)).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? [] : Promise.reject(e)));
    const files = onDisk.filter((f) => f.endsWith('._S3rver_object')).map((f) => f.replace(/\._S3rver_object$/, '')).sort();
    assert.ok(!files.includes('manifest.json'), `killed before the manifest was written: on disk ${files.join(', ')}`);
    assert.ok(files.some((f) => f.endsWith('.bin')), `at least one array was written before the manifest: on disk ${files.join(', ') || 'nothing'}`);
    const pointer = JSON.parse(await readFile(s3!.objectPath(`tenants/${TENANT}/${PREFIX}current.json`), 'utf8')) as { version: number };
    assert.equal(pointer.version, base, `the pointer had not moved to v${version} before its manifest was written`);
    return version;
  };

  before(async () => {
    s3 = await startRestartableS3({ bucket: 'imagedrift-s3-outage', proxy: true });
    view = tenantStore(s3.store, TENANT);
    // The worker's endpoint is the proxy's; everything in this process goes to s3rver directly.
    config = loadConfig({ S3_BUCKET: s3.bucket, S3_ENDPOINT: s3.proxy!.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, QUEUE_PREFIX: queuePrefix });
    await putModel(view, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(view, { id: 'train', name: 'concept_train_lenet.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_train_lenet.npy`)) });
    await putDataset(view, { id: 'eval', name: 'concept_test_lenet1.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
    worker = await startWorkerProcess('worker-s3-outage', workerEnv(config));
    // v1: a fitted, uncalibrated detector with three arrays (centres, mean, invStd); calibrated versions add a fourth.
    const c = jobClient(3, 200);
    const id = await c.enqueue('fit', { detector: DET, model: 'lenet5', dataset: 'train', layer: 'output', nCluster: 10, score: 'standardized', seed: 0 }, TENANT);
    assert.equal((await finished(c, id, 60_000)).state, 'completed', worker.output().slice(-3000));
    const repo = new DetectorRepository(view);
    reader = startReader(() => repo.load(PREFIX));
  });
  after(async () => {
    await reader?.stop();
    await stopChild(worker);
    for (const c of clients) await c.close().catch(() => undefined);
    for (const c of clientConns) c.disconnect();
    await cleanupPrefix(redis, queuePrefix).catch(() => undefined);
    await redis.quit();
    await s3?.stop();
  });

  test('errors from a vanished endpoint are transient: refused (after the SDK retried it) and reset mid-body', async () => {
    const probe = await startRestartableS3({ bucket: 'imagedrift-probe' });
    try {
      await probe.store.put('small', new Uint8Array(8));
      await probe.store.put('big', new Uint8Array(32 * 1024 * 1024));
      // A GET whose headers arrived but whose body is not read yet: 32 MB cannot all sit in loopback socket buffers,
      // so the server is still sending when it is killed, and reading the body fails on the reset connection. The SDK
      // does not retry a body read (the response already arrived), so S3Store.get must classify this error itself.
      const res = await probe.store.client.send(new GetObjectCommand({ Bucket: probe.bucket, Key: 'big' }));
      await probe.down('SIGKILL');
      const reset: unknown = await res.Body!.transformToByteArray().then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(reset instanceof Error, 'the body read failed');
      assert.ok(isTransientS3Error(reset), `reset mid-body is transient: ${String(reset)} (${(reset as { code?: string }).code})`);
      // A request to the dead endpoint is refused; the SDK made 3 attempts (maxAttempts default) before giving up.
      const refused: unknown = await probe.store.get('small').then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(refused instanceof TransientStorageError, String(refused));
      assert.match(refused.message, /^small: cannot read s3:\/\/imagedrift-probe\/small: ECONNREFUSED/);
      assert.equal((refused.cause as { $metadata?: { attempts?: number } }).$metadata?.attempts, 3, 'the SDK retried the refused connection');
    } finally {
      await probe.stop();
    }
  });

  test('an endpoint that accepts connections but never answers: the request times out, transient, after SDK retries', async () => {
    // A black hole: real TCP connections that get no reply (a hung S3, a dropped route). Without a socket timeout the
    // SDK would wait forever (and a worker's job with it).
    const held = new Set<Socket>();
    const hole = createServer((sock) => {
      held.add(sock);
      sock.on('error', () => undefined).on('close', () => held.delete(sock));
    });
    await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
    const client = createS3Client({ endpoint: `http://127.0.0.1:${(hole.address() as AddressInfo).port}`, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }, socketTimeoutMs: 300 });
    try {
      const t0 = Date.now();
      const e: unknown = await new S3Store({ client, bucket: 'imagedrift-hole' }).get('any').then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(e instanceof TransientStorageError, String(e));
      assert.match(e.message, /TimeoutError.*timed out after 300 ms of inactivity/);
      assert.equal((e.cause as { $metadata?: { attempts?: number } }).$metadata?.attempts, 3, 'the SDK retried the timeout');
      assert.ok(Date.now() - t0 < 15_000, `gave up in ${Date.now() - t0} ms`);
    } finally {
      client.destroy();
      for (const sock of held) sock.destroy();
      await new Promise((resolve) => hole.close(resolve));
    }
  });

  test('an outage mid-save: retried with backoff, completes on the same version number, no partial version ever visible', async (t) => {
    t.after(async () => {
      if (!s3!.up()) await s3!.restart(); // the next test needs S3, whatever happened here
    });
    const attempts = 8;
    const backoffMs = 300;
    const c = jobClient(attempts, backoffMs);
    const watch = killMidSave(new Set([1]), 1);
    const id = await c.enqueue('calibrate', { detector: DET, dataset: 'eval', oodLabels: labels }, TENANT);
    const partial = await watch;
    const downAt = Date.now();
    // Stay down until BullMQ has retried at least twice (each attempt fails at its first S3 request), then come back.
    await until(async () => jobLines(id).filter((l) => l.msg.startsWith('job attempt failed')).length >= 3 || undefined, 30_000, 'three failed attempts').catch((e: Error) => {
      throw new Error(`${e.message}\n${worker!.output().slice(-4000)}`);
    });
    assert.equal(await reachable(s3!), false, 'S3 is really down');
    await s3!.restart();
    const upAt = Date.now();

    const s = await finished(c, id, 60_000);
    assert.equal(s.state, 'completed', `${JSON.stringify(s.error)}\n${worker!.output().slice(-3000)}`);
    const result = s.result as { version: number; baseVersion: number };
    assert.equal(result.version, partial, 'the retry rewrote the claimed version instead of starting another');
    assert.equal(result.baseVersion, 1);
    assert.deepEqual(await manifests(), [`${PREFIX}v1/manifest.json`, `${PREFIX}v${partial}/manifest.json`]);
    assert.equal((await new DetectorRepository(view).readPointer(PREFIX))?.version, partial);
    await assertNoManifestWithoutArrays();

    // Retries: ≥ 3 failed attempts, each followed by BullMQ's exponential backoff before the next start.
    const lines = jobLines(id);
    const started = lines.filter((l) => l.msg === 'job started');
    const failed = lines.filter((l) => l.msg.startsWith('job attempt failed'));
    assert.ok(failed.length >= 3 && s.attemptsMade === failed.length + 1, `attemptsMade ${s.attemptsMade}, failed attempts ${failed.length}`);
    assert.deepEqual(started.map((l) => l.attempt), Array.from({ length: failed.length + 1 }, (_, i) => i + 1));
    for (let k = 1; k <= failed.length; k++) {
      const f = failed.find((l) => l.attempt === k)!;
      const gap = started.find((l) => l.attempt === k + 1)!.time - f.time;
      assert.ok(gap >= backoffMs * 2 ** (k - 1) - 20, `backoff before attempt ${k + 1}: ${gap} ms, expected ≥ ${backoffMs * 2 ** (k - 1)}`);
      assert.match(JSON.stringify(f.err), /ECONNREFUSED|ECONNRESET|EPIPE|socket hang up|aborted/, 'failed on the unreachable endpoint');
    }
    assert.equal(lines.filter((l) => l.msg === 'job done').length, 1);

    // The reader: whole versions only, never backwards, transient errors only while S3 was down.
    await until(async () => (reader!.outcomes.at(-1)?.version === partial ? true : undefined), 10_000, 'the reader to see the new version');
    const seen = reader!.outcomes;
    assert.deepEqual(seen.filter((o) => o.kind === 'error' || o.kind === 'notFound'), []);
    const { versions, monotonic } = versionsSeen(seen);
    assert.ok(monotonic, `versions seen never go back: ${[...new Set(versions)].join(',')}`);
    assert.deepEqual([...new Set(versions)], [1, partial]);
    assert.ok(seen.some((o) => o.kind === 'transient'), 'the reader did hit the outage');
    for (const o of seen.filter((x) => x.kind === 'transient')) assert.ok(o.at >= downAt - 1000 && o.at <= upAt + 1000, `transient read outside the outage (${o.error})`);
  });

  test('an outage longer than the retry budget: the job fails with a clear error and nothing half-written is visible', async (t) => {
    t.after(async () => {
      if (!s3!.up()) await s3!.restart();
    });
    const repo = new DetectorRepository(view);
    const base = (await repo.readPointer(PREFIX))!.version;
    const c = jobClient(3, 200);
    const watch = killMidSave(new Set([1, base]), base);
    // Exact threshold: this detector's standardized scores all lie above MindArmour's 0..0.99 grid (a grid is refused).
    const id = await c.enqueue('calibrate', { detector: DET, dataset: 'eval', oodLabels: labels }, TENANT);
    const partial = await watch;
    const s = await finished(c, id, 60_000); // the status of a failed job comes from Redis alone
    await s3!.restart();

    assert.equal(s.state, 'failed');
    assert.equal(s.attemptsMade, 3, 'JOB_ATTEMPTS=3, all used');
    assert.equal(s.error?.code, 'JOB_FAILED');
    assert.match(s.error!.message, /^\S+: cannot (read|write|head|list) s3:\/\/imagedrift-s3-outage\/\S+: .*(ECONNREFUSED|ECONNRESET)/, 'names the object, the operation and the cause');
    assert.deepEqual(jobLines(id).filter((l) => l.msg === 'job started').map((l) => l.attempt), [1, 2, 3]);
    assert.equal(await view.head(jobKeys(id).result), undefined, 'no result');

    // Half-written: the claimed version's arrays may be there, its manifest is not; readers cannot see it.
    const claim = JSON.parse(new TextDecoder().decode(await view.get(jobKeys(id).claim))) as { version: number };
    assert.equal(claim.version, partial);
    assert.equal(await view.head(`${PREFIX}v${partial}/manifest.json`), undefined);
    assert.ok((await view.list(`${PREFIX}v${partial}/`)).length >= 1, 'arrays of the abandoned version are left behind');
    await assert.rejects(repo.load(PREFIX, partial), NotFoundError, 'a version without a manifest does not exist');
    assert.equal((await repo.readPointer(PREFIX))?.version, base, 'the pointer did not move');
    assert.equal((await repo.load(PREFIX)).version, base);
    await assertNoManifestWithoutArrays();
    assert.ok(!versionsSeen(reader!.outcomes).versions.includes(partial), 'no reader ever saw the abandoned version');
    assert.deepEqual(reader!.outcomes.filter((o) => o.kind === 'error' || o.kind === 'notFound'), []);

    // The abandoned number is never handed out again: the next calibration gets a later one and completes.
    const next = await c.enqueue('calibrate', { detector: DET, dataset: 'eval', oodLabels: labels }, TENANT);
    const ns = await finished(c, next, 60_000);
    assert.equal(ns.state, 'completed', JSON.stringify(ns.error));
    assert.ok((ns.result as { version: number }).version > partial);
    assert.equal((await repo.load(PREFIX)).version, (ns.result as { version: number }).version);
    await assertNoManifestWithoutArrays();
  });
});

/** Whether the endpoint answers (a sanity check that the outage is real); anything but a transient error is thrown. */
async function reachable(s3: RestartableS3): Promise<boolean> {
  return s3.store.list(PREFIX).then(
    () => true,
    (e: unknown) => {
      if (!(e instanceof TransientStorageError)) throw e;
      return false;
    },
  );
}
