/** Dataset and model uploads over a real s3rver: inline, presigned (real HTTP PUT), validation and read-back. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConflictError, InputError, NotFoundError, StorageError, TransientStorageError } from '../../src/core/errors.js';
import { decodeBytes } from '../../src/io/load.js';
import { encodeNpy } from '../../src/io/npy.js';
import {
  completeDatasetUpload,
  INLINE_UPLOAD_LIMIT,
  loadDataset,
  loadModel,
  presignDatasetUpload,
  putDataset,
  putEphemeralDataset,
  putModel,
  readDatasetManifest,
} from '../../src/service/datasets.js';
import { LocalDirStore } from '../../src/storage/local-dir-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';
import { REPO, SEED } from '../helpers/paths.js';
import { recording } from '../helpers/store-wrappers.js';

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The real store, but every PUT of a manifest (a dataset's manifest.json, a model's models/<id>.json) fails with a
 * TransientStorageError (an S3 503), before the write or, with `written`, after it (the answer was lost).
 */
function failingManifests(store: ObjectStore, opts: { written?: boolean; readsFail?: boolean } = {}): ObjectStore {
  const isManifest = (key: string) => /(^|\/)manifest\.json$|^models\/[^/]+\.json$/.test(key);
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'get' && opts.readsFail) {
        // `readsFail`: reading a manifest back fails too (the same outage).
        return async (key: string) => {
          if (isManifest(key)) throw new TransientStorageError(key, 'injected: S3 503 on the manifest GET');
          return target.get(key);
        };
      }
      if (prop === 'put') {
        return async (key: string, bytes: Uint8Array, o?: { contentType?: string; ifNoneMatch?: boolean }) => {
          if (!isManifest(key)) return target.put(key, bytes, o);
          if (opts.written) await target.put(key, bytes, o);
          throw new TransientStorageError(key, 'injected: S3 503 on the manifest PUT');
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('datasets service over S3 (s3rver)', () => {
  let t: TestS3;
  let npy: Uint8Array<ArrayBuffer>;
  let onnx: Uint8Array;
  const allKeys = async (): Promise<string[]> => (await t.store.list('')).map((o) => o.key);

  before(async () => {
    t = await startTestS3({ bucket: 'datasets-test' });
    npy = new Uint8Array(await readFile(join(SEED, 'concept_test_lenet1.npy')));
    onnx = new Uint8Array(await readFile(join(REPO, 'models/lenet5.onnx')));
  });
  after(async () => {
    await t?.stop();
  });

  it('stores an inline .npy upload with a correct manifest, and reads it back', async () => {
    const m = await putDataset(t.store, { id: 'lenet1', name: 'concept_test_lenet1.npy', bytes: npy });
    assert.equal(m.id, 'lenet1');
    assert.equal(m.key, `datasets/lenet1/data-${sha256(npy).slice(0, 16)}.npy`);
    assert.equal(m.format, 'npy');
    assert.deepEqual(m.shape, [100, 1, 32, 32]);
    assert.equal(m.dtype, 'float32');
    assert.equal(m.layout, undefined);
    assert.equal(m.sha256, sha256(npy));
    assert.equal(m.bytes, npy.byteLength);
    assert.equal(m.originalName, 'concept_test_lenet1.npy');
    assert.ok(Math.abs(Date.parse(m.createdAt) - Date.now()) < 60_000);
    assert.deepEqual((await t.store.list('datasets/lenet1/')).map((o) => o.key), [m.key, 'datasets/lenet1/manifest.json']);
    assert.deepEqual(await readDatasetManifest(t.store, 'lenet1'), m);
    const stored = JSON.parse(new TextDecoder().decode(await t.store.get('datasets/lenet1/manifest.json'))) as unknown;
    assert.deepEqual(stored, m);
    const back = await loadDataset(t.store, 'lenet1');
    const direct = await decodeBytes(npy, 'concept_test_lenet1.npy');
    assert.deepEqual(back.shape, direct.shape);
    assert.deepEqual(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength), Buffer.from(direct.data.buffer, direct.data.byteOffset, direct.data.byteLength));
  });

  it('generates a UUID id when none is given, and refuses to replace an existing dataset', async () => {
    const m = await putDataset(t.store, { name: 'x.npy', bytes: npy });
    assert.match(m.id, UUID);
    await assert.rejects(putDataset(t.store, { id: m.id, name: 'x.npy', bytes: npy }), ConflictError);
  });

  it('an invalid inline upload is rejected and writes nothing', async () => {
    const before = await allKeys();
    const garbage = new TextEncoder().encode('this is not an array file, just some text that no decoder accepts');
    await assert.rejects(putDataset(t.store, { id: 'garbage', name: 'garbage.npy', bytes: garbage }), InputError);
    await assert.rejects(putDataset(t.store, { id: 'noext', name: 'notes.txt', bytes: garbage }), (e: unknown) => e instanceof InputError && /unrecognised format/.test(e.message));
    const truncated = npy.subarray(0, 5000);
    await assert.rejects(putDataset(t.store, { id: 'truncated', name: 'concept_test_lenet1.npy', bytes: truncated }), InputError);
    await assert.rejects(putDataset(t.store, { id: 'bad id!', name: 'x.npy', bytes: npy }), (e: unknown) => e instanceof InputError && e.field === 'id');
    await assert.rejects(putDataset(t.store, { id: '-leading', name: 'x.npy', bytes: npy }), (e: unknown) => e instanceof InputError && e.field === 'id');
    await assert.rejects(putDataset(t.store, { id: 'a'.repeat(65), name: 'x.npy', bytes: npy }), (e: unknown) => e instanceof InputError && e.field === 'id');
    await assert.rejects(putDataset(t.store, { id: 'pathname', name: '../x.npy', bytes: npy }), (e: unknown) => e instanceof InputError && e.field === 'name');
    await assert.rejects(putDataset(t.store, { id: 'empty', name: 'x.npy', bytes: new Uint8Array(0) }), (e: unknown) => e instanceof InputError && e.field === 'bytes');
    await assert.rejects(putDataset(t.store, { id: 'big', name: 'x.npy', bytes: new Uint8Array(INLINE_UPLOAD_LIMIT + 1) }), (e: unknown) => e instanceof InputError && /presigned/.test(e.message));
    assert.deepEqual(await allKeys(), before);
  });

  it('presign → HTTP PUT → complete stores the dataset and removes the staging objects', async () => {
    const up = await presignDatasetUpload(t.store, { id: 'big1', name: 'concept_test_lenet1.npy', contentLength: npy.byteLength });
    assert.equal(up.id, 'big1');
    assert.equal(up.key, 'uploads/big1/data');
    assert.equal(up.expiresIn, 900);
    assert.equal(await t.store.head('datasets/big1/manifest.json'), undefined);
    const res = await fetch(up.url, { method: 'PUT', body: npy });
    assert.equal(res.status, 200, await res.text());
    assert.equal(await t.store.head('datasets/big1/manifest.json'), undefined, 'no dataset before complete');
    const m = await completeDatasetUpload(t.store, { id: 'big1' });
    assert.equal(m.key, `datasets/big1/data-${sha256(npy).slice(0, 16)}.npy`);
    assert.equal(m.sha256, sha256(npy));
    assert.equal(m.bytes, npy.byteLength);
    assert.deepEqual(m.shape, [100, 1, 32, 32]);
    assert.equal(m.originalName, 'concept_test_lenet1.npy');
    assert.deepEqual(await t.store.list('uploads/big1/'), []);
    assert.deepEqual((await t.store.list('datasets/big1/')).map((o) => o.key), [m.key, 'datasets/big1/manifest.json']);
    assert.deepEqual((await loadDataset(t.store, 'big1')).shape, [100, 1, 32, 32]);
    // A retry after a lost response gets the same dataset (it was a 404, "no pending upload", for a dataset that exists).
    assert.deepEqual(await completeDatasetUpload(t.store, { id: 'big1' }), m);
    await assert.rejects(completeDatasetUpload(t.store, { id: 'never-presigned' }), NotFoundError, 'no pending upload and no dataset: 404');
  });

  it('complete on an invalid staged object throws InputError, deletes it, and writes nothing under datasets/<id>/', async () => {
    const junk = new Uint8Array(4096).fill(7);
    const up = await presignDatasetUpload(t.store, { name: 'upload.npy', contentLength: junk.byteLength });
    assert.match(up.id, UUID);
    assert.equal((await fetch(up.url, { method: 'PUT', body: junk })).status, 200);
    await assert.rejects(completeDatasetUpload(t.store, { id: up.id }), (e: unknown) => e instanceof InputError && /upload\.npy/.test(e.message));
    assert.deepEqual(await t.store.list(`datasets/${up.id}/`), []);
    assert.deepEqual(await t.store.list(`uploads/${up.id}/`), []);
  });

  it('complete checks the size against the declared contentLength', async () => {
    const up = await presignDatasetUpload(t.store, { id: 'short', name: 'x.npy', contentLength: npy.byteLength });
    // s3rver does not enforce the signed content-length, so a shorter body gets through to complete.
    assert.equal((await fetch(up.url, { method: 'PUT', body: npy.subarray(0, 1000) })).status, 200);
    await assert.rejects(completeDatasetUpload(t.store, { id: 'short' }), (e: unknown) => e instanceof InputError && e.field === 'contentLength');
    assert.deepEqual(await t.store.list('datasets/short/'), []);
  });

  it('complete refuses a staged object larger than declared on its HEAD, without reading it', async () => {
    // s3rver (the local stage) does not enforce the signed content-length: a presign for 1000 bytes takes a larger PUT,
    // which complete used to read whole (200 MiB in the review) before comparing sizes.
    const up = await presignDatasetUpload(t.store, { id: 'long', name: 'x.npy', contentLength: 1000 });
    assert.equal((await fetch(up.url, { method: 'PUT', body: npy })).status, 200);
    const { store, calls } = recording(t.store);
    await assert.rejects(completeDatasetUpload(store, { id: 'long' }), (e: unknown) => e instanceof InputError && e.field === 'contentLength' && e.message.includes(`has ${npy.byteLength} bytes, the upload declared 1000`));
    assert.deepEqual(calls.filter((c) => c.startsWith('get(')), ['get("uploads/long/upload.json")'], 'only the upload record was read, not the staged object');
    assert.deepEqual(await t.store.list('uploads/long/'), [], 'the staging objects are discarded');
    assert.deepEqual(await t.store.list('datasets/long/'), []);
  });

  it('complete that finds its id taken meanwhile (409) discards the staging objects; a transient failure keeps them for a retry', async () => {
    const up = await presignDatasetUpload(t.store, { id: 'taken', name: 'x.npy', contentLength: npy.byteLength });
    assert.equal((await fetch(up.url, { method: 'PUT', body: npy })).status, 200);
    // A transient failure (the manifest PUT gets a 503): the staged upload stays, and complete can be retried.
    await assert.rejects(completeDatasetUpload(failingManifests(t.store), { id: 'taken' }), TransientStorageError);
    assert.deepEqual((await t.store.list('uploads/taken/')).map((o) => o.key), ['uploads/taken/data', 'uploads/taken/upload.json']);
    // Meanwhile an inline upload takes the id: no retry of complete can succeed, so the staged object goes.
    const inline = await putDataset(t.store, { id: 'taken', name: 'other.npy', bytes: encodeNpy(new Float32Array(3 * 1024), [3, 1, 32, 32], 'float32') });
    await assert.rejects(completeDatasetUpload(t.store, { id: 'taken' }), (e: unknown) => e instanceof ConflictError && e.field === 'id');
    assert.deepEqual(await t.store.list('uploads/taken/'), [], 'no staged object (up to 256 MiB) left behind');
    assert.deepEqual((await t.store.list('datasets/taken/')).map((o) => o.key), [inline.key, 'datasets/taken/manifest.json'], 'the inline upload is whole');
    assert.deepEqual((await loadDataset(t.store, 'taken')).shape, [3, 1, 32, 32]);
  });

  it('a manifest write that fails (not a conflict) leaves no data object: datasets, ephemeral datasets, models', async () => {
    const before = await allKeys();
    const failing = failingManifests(t.store);
    await assert.rejects(putDataset(failing, { id: 'mf1', name: 'x.npy', bytes: npy }), TransientStorageError);
    await assert.rejects(putEphemeralDataset(failing, { name: 'predict-images.npy', bytes: npy, field: 'images' }), TransientStorageError);
    await assert.rejects(putModel(failing, { id: 'mf2', bytes: onnx }), TransientStorageError);
    assert.deepEqual(await allKeys(), before, 'nothing written');
    // A manifest write that succeeded although its answer was lost: the manifest names the data, which stays.
    await assert.rejects(putDataset(failingManifests(t.store, { written: true }), { id: 'mf3', name: 'x.npy', bytes: npy }), TransientStorageError);
    assert.deepEqual((await loadDataset(t.store, 'mf3')).shape, [100, 1, 32, 32]);
    // ... and when reading it back fails as well, nothing tells whether it landed: the data is kept (an orphan at
    // worst), never deleted under a manifest that names it (every load would fail, and the id stay taken).
    await assert.rejects(putDataset(failingManifests(t.store, { written: true, readsFail: true }), { id: 'mf4', name: 'x.npy', bytes: npy }), TransientStorageError);
    assert.deepEqual((await loadDataset(t.store, 'mf4')).shape, [100, 1, 32, 32]);
  });

  it('complete before the PUT, or for an unknown id, writes nothing', async () => {
    await presignDatasetUpload(t.store, { id: 'early', name: 'x.npy', contentLength: 10 });
    await assert.rejects(completeDatasetUpload(t.store, { id: 'early' }), (e: unknown) => e instanceof InputError && /PUT the file/.test(e.message));
    await assert.rejects(completeDatasetUpload(t.store, { id: 'never-presigned' }), NotFoundError);
    await assert.rejects(presignDatasetUpload(t.store, { id: 'lenet1', name: 'x.npy', contentLength: 10 }), ConflictError, 'lenet1 already exists');
    await assert.rejects(presignDatasetUpload(t.store, { name: 'x.npy', contentLength: 0 }), (e: unknown) => e instanceof InputError && e.field === 'contentLength');
    assert.deepEqual(await t.store.list('datasets/early/'), []);
  });

  it('loadDataset detects stored bytes that do not match the manifest', async () => {
    const m = await putDataset(t.store, { id: 'tampered', name: 'x.npy', bytes: npy });
    const copy = new Uint8Array(npy);
    copy[copy.length - 1]! ^= 0xff;
    await t.store.put(m.key, copy);
    await assert.rejects(loadDataset(t.store, 'tampered'), (e: unknown) => e instanceof StorageError && /sha256/.test(e.message));
    await assert.rejects(loadDataset(t.store, 'absent'), NotFoundError);
  });

  it('stores the LeNet5 ONNX model with its input spec, and reads it back', async () => {
    const m = await putModel(t.store, { id: 'lenet5', bytes: onnx });
    assert.equal(m.id, 'lenet5');
    assert.equal(m.key, `models/lenet5.${sha256(onnx).slice(0, 16)}.onnx`);
    assert.equal(m.sha256, sha256(onnx));
    assert.equal(m.bytes, onnx.byteLength);
    assert.deepEqual(m.inputSpec, { name: 'input', shape: ['N', 1, 32, 32], channels: 1, height: 32, width: 32, layout: 'NCHW' });
    assert.equal(m.tensorCount, 13);
    assert.deepEqual((await t.store.list('models/lenet5')).map((o) => o.key), [m.key, 'models/lenet5.json']);
    assert.deepEqual(Buffer.from(await loadModel(t.store, 'lenet5')), Buffer.from(onnx));
    await assert.rejects(putModel(t.store, { id: 'lenet5', bytes: onnx }), ConflictError);
  });

  it('an invalid model upload is an InputError and writes nothing', async () => {
    const before = await allKeys();
    await assert.rejects(putModel(t.store, { id: 'notamodel', bytes: npy }), (e: unknown) => e instanceof InputError && e.field?.startsWith('model') === true);
    await assert.rejects(putModel(t.store, { id: 'half', bytes: onnx.subarray(0, 1000) }), InputError);
    assert.deepEqual(await allKeys(), before);
    await assert.rejects(loadModel(t.store, 'notamodel'), NotFoundError);
  });

  it('two concurrent uploads of one id with different bytes: one wins whole, the loser gets 409 and leaves nothing', async () => {
    // The interleaving a shared data key made fatal: A writes its data, B writes its data, A writes the manifest, B's
    // manifest write fails. With one key per id, B's bytes had replaced A's under A's manifest (sha256 mismatch on
    // every later read). Each step is gated so the order is forced, over real s3rver requests.
    const decoded = await decodeBytes(npy, 'x.npy');
    const a = encodeNpy((decoded.data as Float32Array).slice(0, 5 * 1024), [5, 1, 32, 32], 'float32');
    const b = encodeNpy((decoded.data as Float32Array).slice(5 * 1024, 12 * 1024), [7, 1, 32, 32], 'float32');
    const gate = () => {
      let open!: () => void;
      return { opened: new Promise<void>((r) => (open = r)), open: () => open() };
    };
    const aData = gate();
    const bData = gate();
    const aManifest = gate();
    const gated = (before: (k: string) => Promise<void>, afterPut: (k: string) => void): ObjectStore =>
      new Proxy(t.store, {
        get(target, prop) {
          if (prop === 'put') {
            return async (k: string, v: Uint8Array, o?: { contentType?: string; ifNoneMatch?: boolean }) => {
              await before(k);
              try {
                return await target.put(k, v, o);
              } finally {
                afterPut(k);
              }
            };
          }
          const f = (target as unknown as Record<string | symbol, unknown>)[prop];
          return typeof f === 'function' ? f.bind(target) : f;
        },
      });
    const isManifest = (k: string) => k.endsWith('manifest.json');
    const A = putDataset(gated(async (k) => (isManifest(k) ? bData.opened : undefined), (k) => (isManifest(k) ? aManifest.open() : aData.open())), { id: 'race', name: 'a.npy', bytes: a });
    const B = putDataset(gated(async (k) => (isManifest(k) ? aManifest.opened : aData.opened), (k) => (isManifest(k) ? undefined : bData.open())), { id: 'race', name: 'b.npy', bytes: b });
    const [ra, rb] = await Promise.allSettled([A, B]);
    assert.equal(ra.status, 'fulfilled', ra.status === 'rejected' ? String(ra.reason) : '');
    assert.equal(rb.status, 'rejected');
    assert.ok((rb as PromiseRejectedResult).reason instanceof ConflictError, String((rb as PromiseRejectedResult).reason));
    const back = await loadDataset(t.store, 'race');
    assert.deepEqual(back.shape, [5, 1, 32, 32]);
    assert.deepEqual(Buffer.from(back.data.buffer, back.data.byteOffset, back.data.byteLength), Buffer.from(a.subarray(a.length - 5 * 1024 * 4)));
    assert.deepEqual((await t.store.list('datasets/race/')).map((o) => o.key), [(ra as PromiseFulfilledResult<{ key: string }>).value.key, 'datasets/race/manifest.json']);
  });
});

describe('datasets service over LocalDirStore', () => {
  it('uses the same layout through the ObjectStore interface', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'imagedrift-ds-'));
    try {
      const store = new LocalDirStore(dir);
      const npy = new Uint8Array(await readFile(join(SEED, 'concept_test_lenet1.npy')));
      const m = await putDataset(store, { id: 'local', name: 'a.npy', bytes: npy });
      assert.deepEqual((await store.list('')).map((o) => o.key), [m.key, 'datasets/local/manifest.json']);
      assert.deepEqual((await loadDataset(store, 'local')).shape, m.shape);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
