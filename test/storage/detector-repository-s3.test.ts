/**
 * DetectorRepository over S3Store (real s3rver) + RedisCoordinator (real Redis): concurrent saves, concurrent readers,
 * immutability of versions and the fencing of the `current` pointer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { DetectorBundle } from '../../src/core/bundle.js';
import { ConflictError, StorageError } from '../../src/core/errors.js';
import { StaleBaseError } from '../../src/storage/detector-repository.js';
import { FeatureClusterDetector } from '../../src/core/feature-cluster.js';
import { defaultPreprocess } from '../../src/core/preprocess.js';
import { matrix } from '../../src/core/tensor.js';
import { DetectorRepository, type LoadedDetector, type VersionCoordinator } from '../../src/storage/detector-repository.js';
import type { ObjectInfo, ObjectStore } from '../../src/storage/object-store.js';
import { RedisCoordinator } from '../../src/storage/redis-coordinator.js';
import { createS3Client, S3Store } from '../../src/storage/s3-store.js';
import { LIBRARY_VERSION } from '../../src/version.js';
import { cleanupPrefix, connectRedis, uniquePrefix } from '../helpers/redis.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

/** A fitted detector on small random features; `createdAt` identifies the bundle after a round trip. */
function makeBundle(seed: number): DetectorBundle {
  let s = seed >>> 0 || 1;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const rows = 60;
  const cols = 8;
  const data = new Float32Array(rows * cols);
  for (let i = 0; i < data.length; i++) data[i] = rand() * 4 + (i % cols);
  const fitted = new FeatureClusterDetector({ nCluster: 3, seed, score: 'standardized' }).fit(matrix(data, rows, cols));
  return {
    model: { key: 'models/fake.onnx', sha256: createHash('sha256').update('fake model').digest('hex'), layer: 'output', batchSize: 32 },
    preprocess: defaultPreprocess({ channels: 1, height: 32, width: 32 }),
    fitted,
    calibration: { threshold: seed / 100, accuracy: 0.9, method: 'grid', step: 0.01, nEval: 100, nOod: 50, flaggedRate: 0.5, idFlaggedRate: 0.1 },
    createdAt: new Date(Date.UTC(2026, 0, 1, 0, 0, seed)).toISOString(),
    libraryVersion: LIBRARY_VERSION,
  };
}

/** Asserts that a loaded detector is exactly one of `bundles` (same arrays, threshold and params): no mixed state. */
function assertIsOneOf(loaded: LoadedDetector, bundles: readonly DetectorBundle[], what: string): DetectorBundle {
  const src = bundles.find((b) => b.createdAt === loaded.bundle.createdAt);
  assert.ok(src, `${what}: createdAt ${loaded.bundle.createdAt} belongs to no saved bundle`);
  assert.equal(loaded.bundle.calibration?.threshold, src.calibration?.threshold, `${what}: threshold`);
  assert.deepEqual(loaded.bundle.fitted.params, src.fitted.params, `${what}: params`);
  const got = loaded.bundle.fitted.arrays();
  const want = src.fitted.arrays();
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${what}: array names`);
  for (const [name, a] of Object.entries(want)) assert.deepEqual(Array.from(got[name]!), Array.from(a), `${what}: ${name}`);
  return src;
}

/** Delegates to a store; the first `get` of `gateKey` waits for `open()` (and reports that it is waiting). */
class GatedStore implements ObjectStore {
  private opened!: () => void;
  private readonly gate = new Promise<void>((r) => (this.opened = r));
  private arrivedAt!: () => void;
  readonly arrived = new Promise<void>((r) => (this.arrivedAt = r));
  private used = false;
  constructor(
    private readonly inner: ObjectStore,
    private readonly gateKey: string,
  ) {}
  get location(): string {
    return this.inner.location;
  }
  open(): void {
    this.opened();
  }
  async get(key: string): Promise<Uint8Array | undefined> {
    if (key === this.gateKey && !this.used) {
      this.used = true;
      this.arrivedAt();
      await this.gate;
    }
    return this.inner.get(key);
  }
  put(key: string, bytes: Uint8Array, opts?: { contentType?: string; ifNoneMatch?: boolean }): Promise<void> {
    return this.inner.put(key, bytes, opts);
  }
  head(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.head(key);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  list(prefix: string, opts?: { after?: string; limit?: number }): Promise<ObjectInfo[]> {
    return this.inner.list(prefix, opts);
  }
}

/** Delegates to a store; PUTs of keys starting with `gatedPrefix` wait for `open()` (the first one reports arriving). */
function putGated(inner: ObjectStore, gatedPrefix: string): { store: ObjectStore; arrived: Promise<void>; open: () => void } {
  let open!: () => void;
  let arrive!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const arrived = new Promise<void>((r) => (arrive = r));
  const store: ObjectStore = {
    get location() {
      return inner.location;
    },
    get: (key) => inner.get(key),
    head: (key) => inner.head(key),
    delete: (key) => inner.delete(key),
    list: (prefix, opts) => inner.list(prefix, opts),
    put: async (key, bytes, opts) => {
      if (key.startsWith(gatedPrefix)) {
        arrive();
        await gate;
      }
      return inner.put(key, bytes, opts);
    },
  };
  return { store, arrived, open };
}

/** The fitVersion each version's manifest records, by version number. */
async function fitVersions(store: ObjectStore, det: string): Promise<Record<number, unknown>> {
  const out: Record<number, unknown> = {};
  for (const { key } of await store.list(det)) {
    const m = /^v(\d+)\/manifest\.json$/.exec(key.slice(det.length));
    if (m) out[Number(m[1])] = (JSON.parse(new TextDecoder().decode((await store.get(key))!)) as { fitVersion?: unknown }).fitVersion;
  }
  return out;
}

async function snapshot(store: ObjectStore, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const { key } of await store.list(prefix)) {
    if (key.endsWith('current.json')) continue;
    out.set(key, createHash('sha256').update((await store.get(key))!).digest('hex'));
  }
  return out;
}

describe('DetectorRepository over S3Store + RedisCoordinator', () => {
  let t: TestS3;
  let storeB: S3Store;
  let redisA: Redis;
  let redisB: Redis;
  let prefix: string;
  /** Two independent "processes": separate S3 clients, Redis connections and coordinators. */
  let repoA: DetectorRepository;
  let repoB: DetectorRepository;
  let det: string;

  before(async () => {
    t = await startTestS3();
    storeB = new S3Store({ client: createS3Client({ endpoint: t.s3.endpoint, region: t.s3.region, forcePathStyle: true, credentials: t.s3.credentials }), bucket: t.s3.bucket });
    redisA = connectRedis();
    redisB = connectRedis();
  });
  after(async () => {
    redisA?.disconnect();
    redisB?.disconnect();
    storeB?.client.destroy();
    await t?.stop();
  });
  beforeEach(() => {
    prefix = uniquePrefix();
    repoA = new DetectorRepository(t.store, new RedisCoordinator(redisA, { keyPrefix: prefix }));
    repoB = new DetectorRepository(storeB, new RedisCoordinator(redisB, { keyPrefix: prefix }));
    det = `${t.prefix()}detectors/d1/`;
  });
  afterEach(async () => {
    await cleanupPrefix(redisA, prefix);
  });

  it('two concurrent saves of one detector give two complete versions, and the pointer names one of them', async () => {
    const a = makeBundle(1);
    const b = makeBundle(2);
    const [va, vb] = await Promise.all([repoA.save(det, a), repoB.save(det, b)]);
    assert.deepEqual([va, vb].sort((a, b) => a - b), [1, 2]);
    assertIsOneOf(await repoA.load(det, va), [a], `v${va}`);
    assertIsOneOf(await repoB.load(det, vb), [b], `v${vb}`);
    const ptr = await repoA.readPointer(det);
    assert.ok(ptr && (ptr.version === va || ptr.version === vb), `pointer ${JSON.stringify(ptr)}`);
    const current = await repoB.load(det);
    assert.equal(current.version, ptr.version);
    assertIsOneOf(current, [ptr.version === va ? a : b], 'current');
    const keys = (await t.store.list(det)).map((o) => o.key.slice(det.length));
    const files = ['centres.bin', 'invStd.bin', 'manifest.json', 'mean.bin'];
    assert.deepEqual(keys, ['current.json', ...files.map((f) => `v1/${f}`), ...files.map((f) => `v2/${f}`)]);
  });

  it('readers polling during many concurrent saves only ever see a complete, unmixed version and a fence that never goes back', async () => {
    const bundles = Array.from({ length: 9 }, (_, i) => makeBundle(10 + i));
    await repoA.save(det, bundles[0]!);
    const reader = new DetectorRepository(t.store); // readers need no coordinator
    let writing = true;
    let readsDuringWrites = 0;
    const seenVersions = new Set<number>();
    const readerLoop = async (): Promise<void> => {
      let lastFence = 0;
      while (writing) {
        const ptr = await reader.readPointer(det);
        assert.ok(ptr, 'pointer disappeared');
        assert.ok(ptr.fence >= lastFence, `fence went back from ${lastFence} to ${ptr.fence}`);
        lastFence = ptr.fence;
        const loaded = await reader.load(det);
        assertIsOneOf(loaded, bundles, `read of v${loaded.version}`);
        seenVersions.add(loaded.version);
        if (writing) readsDuringWrites++;
      }
    };
    const versionScan = async (): Promise<void> => {
      while (writing) {
        // Every version whose manifest exists loads completely.
        for (const { key } of await t.store.list(det)) {
          const m = /^v(\d+)\/manifest\.json$/.exec(key.slice(det.length));
          if (m) assertIsOneOf(await reader.load(det, Number(m[1])), bundles, `scan of v${m[1]}`);
        }
      }
    };
    const writers = Promise.all(bundles.slice(1).map((b, i) => (i % 2 ? repoA : repoB).save(det, b))).finally(() => {
      writing = false;
    });
    // allSettled: a failing reader must not leave writers running past the test (and its Redis cleanup).
    const settled = await Promise.allSettled([writers, readerLoop(), readerLoop(), versionScan()]);
    writing = false;
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    const versions = (settled[0] as PromiseFulfilledResult<number[]>).value;
    assert.deepEqual([...versions, 1].sort((x, y) => x - y), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.ok(readsDuringWrites >= 3, `readers overlapped the writes only ${readsDuringWrites} times`);
    assert.ok(seenVersions.size >= 2, `readers saw versions ${[...seenVersions]}`);
    for (let v = 1; v <= 9; v++) assertIsOneOf(await reader.load(det, v), bundles, `final v${v}`);
  });

  it('never overwrites a version: not when a coordinator repeats a number, nor after Redis lost its counters', async () => {
    await repoA.save(det, makeBundle(21));
    await repoB.save(det, makeBundle(22));
    const before = await snapshot(t.store, det);
    assert.equal(before.size, 8);

    const redisCoord = new RedisCoordinator(redisA, { keyPrefix: prefix });
    const repeating: VersionCoordinator = {
      nextVersion: async () => 2, // a broken coordinator handing out an existing number
      withPointerLock: (key, write) => redisCoord.withPointerLock(key, write),
    };
    await assert.rejects(new DetectorRepository(t.store, repeating).save(det, makeBundle(23)), (e: unknown) => e instanceof StorageError && /already exists/.test(e.message));
    assert.deepEqual(await snapshot(t.store, det), before);

    await cleanupPrefix(redisA, prefix); // Redis restarted without persistence
    const v = await new DetectorRepository(t.store, new RedisCoordinator(redisB, { keyPrefix: prefix })).save(det, makeBundle(24));
    assert.equal(v, 3);
    const afterSave = await snapshot(t.store, det);
    for (const [key, sha] of before) assert.equal(afterSave.get(key), sha, `${key} changed`);
    assert.equal((await repoA.readPointer(det))?.version, 3);
  });

  it('refuses to move the pointer for a writer whose fence is stale (its lock expired and a newer writer moved it)', async () => {
    const first = makeBundle(31);
    const stale = makeBundle(32);
    const newer = makeBundle(33);
    await repoB.save(det, first);
    const gated = new GatedStore(t.store, `${det}current.json`);
    // Writer A: short lock TTL, stalls right after taking the lock (before reading the pointer).
    const slowRepo = new DetectorRepository(gated, new RedisCoordinator(redisA, { keyPrefix: prefix, lockTtlMs: 150 }));
    const slowSave = slowRepo.save(det, stale);
    const slowResult = slowSave.then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    await gated.arrived;
    // Writer B waits for A's lock to expire, takes it with a higher fence and moves the pointer.
    const vNewer = await repoB.save(det, newer);
    const ptrAfterB = await repoB.readPointer(det);
    assert.equal(ptrAfterB?.version, vNewer);
    gated.open();
    const r = await slowResult;
    assert.equal(r.ok, false, 'the stale writer must not succeed');
    assert.ok(!r.ok && r.e instanceof StorageError && /pointer fence \d+ is newer than this writer's \d+/.test(r.e.message), String(!r.ok && r.e));
    assert.deepEqual(await repoA.readPointer(det), ptrAfterB, 'pointer unchanged by the stale writer');
    assertIsOneOf(await repoA.load(det), [newer], 'current');
    // The stale writer's version is complete (just never current).
    const versions = (await t.store.list(det)).map((o) => /^v(\d+)\/manifest\.json$/.exec(o.key.slice(det.length))?.[1]).filter(Boolean).map(Number);
    assert.deepEqual(versions.sort((a, b) => a - b), [1, 2, 3]);
    const staleVersion = [1, 2, 3].find((v) => v !== 1 && v !== vNewer)!;
    assertIsOneOf(await repoA.load(det, staleVersion), [stale], 'stale version');
  });

  it('a writer stalled between reading the pointer and its PUT landing (past its lock) cannot move the pointer back', async () => {
    // The fence check passed (nobody had written yet), then the PUT stalled past the lock TTL while a newer writer
    // moved the pointer. The PUT is conditional on the ETag read with the pointer (If-Match; s3rver ignores the header,
    // so here S3Store's check before the write refuses it, where AWS S3 refuses it atomically). Without it the late
    // PUT landed and the detector went back to the stale version (only a "lock expired" error followed it).
    const first = makeBundle(51);
    const stale = makeBundle(52);
    const newer = makeBundle(53);
    await repoB.save(det, first);
    const gated = putGated(t.store, `${det}current.json`);
    const slowSave = new DetectorRepository(gated.store, new RedisCoordinator(redisA, { keyPrefix: prefix, lockTtlMs: 150 })).save(det, stale);
    const slowResult = slowSave.then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    await gated.arrived; // A has read the pointer (v1) and is writing it
    const vNewer = await repoB.save(det, newer); // waits out A's lock, then moves the pointer
    const ptrAfterB = await repoB.readPointer(det);
    assert.equal(ptrAfterB?.version, vNewer);
    gated.open();
    const r = await slowResult;
    assert.equal(r.ok, false, 'the stalled writer must not succeed');
    assert.ok(!r.ok && r.e instanceof ConflictError && /current\.json: changed since it was read/.test(r.e.message), String(!r.ok && r.e));
    assert.deepEqual(await repoA.readPointer(det), ptrAfterB, 'pointer unchanged by the stalled writer');
    assertIsOneOf(await repoA.load(det), [newer], 'current');
  });

  it('a re-fit overtaken by a calibration of the old fit (allocated after it, committed first) still becomes current', async () => {
    // The calibration's base check saw the old fit current and passed; the re-fit's pointer move then found a higher
    // number current and used to give way silently: both jobs succeeded and the detector served the old fit.
    const [F1, F2] = ['a'.repeat(64), 'b'.repeat(64)];
    const fit1 = { ...makeBundle(41), fitId: F1 };
    const refit = { ...makeBundle(42), fitId: F2 };
    const cal = { ...makeBundle(43), fitId: F1 };
    assert.equal(await repoA.save(det, fit1), 1);
    const gated = putGated(t.store, `${det}v2/`);
    const refitting = new DetectorRepository(gated.store, new RedisCoordinator(redisA, { keyPrefix: prefix })).save(det, refit);
    await gated.arrived; // the re-fit holds v2 and is writing its arrays
    assert.equal(await repoB.save(det, cal, { base: { version: 1, fitId: F1 } }), 3);
    assert.equal((await repoB.readPointer(det))?.version, 3, 'the calibration became current while the re-fit was still writing');
    gated.open();
    assert.equal(await refitting, 2);
    assert.equal((await repoA.readPointer(det))?.version, 2, 'the re-fit is current');
    assertIsOneOf(await repoA.load(det), [refit], 'current');
    assert.deepEqual(await fitVersions(t.store, det), { 1: 1, 2: 2, 3: 1 });
    // The calibration of the replaced fit cannot come back (a retry of its pointer move is a stale base).
    await assert.rejects(repoB.movePointer(det, 3, { onlyForward: true, base: { version: 1, fitId: F1 } }), StaleBaseError);
    assert.equal((await repoA.readPointer(det))?.version, 2);
  });

  it('two re-fits: the one allocated later stays current whichever commits first; a calibration of the current fit inherits its fitVersion', async () => {
    const [F1, F2, F3] = ['c'.repeat(64), 'd'.repeat(64), 'e'.repeat(64)];
    await repoA.save(det, { ...makeBundle(51), fitId: F1 });
    const gated = putGated(t.store, `${det}v2/`);
    const slow = new DetectorRepository(gated.store, new RedisCoordinator(redisA, { keyPrefix: prefix })).save(det, { ...makeBundle(52), fitId: F2 });
    await gated.arrived;
    const later = { ...makeBundle(53), fitId: F3 };
    assert.equal(await repoB.save(det, later), 3);
    gated.open();
    assert.equal(await slow, 2);
    assert.equal((await repoA.readPointer(det))?.version, 3, 'the earlier-allocated fit does not replace the later one');
    assertIsOneOf(await repoA.load(det), [later], 'current');
    // A base-less save of the current fit (the CLI's calibrate) is a calibration of it, not a new fit.
    assert.equal(await repoA.save(det, { ...makeBundle(54), fitId: F3 }), 4);
    assert.deepEqual(await fitVersions(t.store, det), { 1: 1, 2: 2, 3: 3, 4: 3 });
  });

  it('a re-run of the current fit (same fitId) is a later fit: an earlier-allocated fit committing after it does not replace it', async () => {
    // fitId is deterministic, so re-fitting the same data and params repeats it; recorded as a calibration of the
    // current fit (its fitVersion inherited), the re-run let the older fit Y move the pointer back under it.
    const [X, Y] = ['f'.repeat(64), '9'.repeat(64)];
    const fit = (seed: number, fitId: string): DetectorBundle => {
      const { calibration: _, ...b } = makeBundle(seed);
      return { ...b, fitId };
    };
    await repoA.save(det, fit(61, X));
    const gated = putGated(t.store, `${det}v2/`);
    const y = new DetectorRepository(gated.store, new RedisCoordinator(redisA, { keyPrefix: prefix })).save(det, fit(62, Y));
    await gated.arrived;
    const rerun = fit(63, X);
    assert.equal(await repoB.save(det, rerun), 3);
    gated.open();
    assert.equal(await y, 2);
    assert.equal((await repoA.readPointer(det))?.version, 3, 'the re-run, submitted last, stays current');
    assertIsOneOf(await repoA.load(det), [rerun], 'current');
    assert.deepEqual(await fitVersions(t.store, det), { 1: 1, 2: 2, 3: 3 });
  });

  it('a re-fit replaces a current version whose manifest is damaged (missing or not JSON), as before fitVersion', async () => {
    for (const damage of ['missing', 'not JSON'] as const) {
      const d = `${det}${damage.replace(' ', '-')}/`;
      await repoA.save(d, { ...makeBundle(71), fitId: '7'.repeat(64) });
      const manifest = `${d}v1/manifest.json`;
      if (damage === 'missing') await t.store.delete(manifest);
      else await t.store.put(manifest, new TextEncoder().encode('{"trunc'));
      // Both a fit and a calibrated bundle of the same fitId (the CLI's calibrate) are saved and become current.
      assert.equal(await repoB.save(d, { ...makeBundle(72), fitId: '7'.repeat(64) }), 2, damage);
      assert.equal((await repoA.readPointer(d))?.version, 2, damage);
      assert.equal(JSON.parse(new TextDecoder().decode((await t.store.get(`${d}v2/manifest.json`))!)).fitVersion, 2, damage);
    }
  });
});
