/**
 * Datasets and models in the object store (the `upload` function's service, and what the worker reads back):
 *
 *   datasets/<id>/data-<sha>.<ext>  the uploaded bytes, unchanged (ext from the detected format; <sha> = the first 16
 *                                   hex digits of their sha256)
 *   datasets/<id>/manifest.json     written last and only if absent: a dataset exists iff its manifest does
 *   models/<id>.<sha>.onnx          the ONNX bytes
 *   models/<id>.json                written last and only if absent, the model's manifest
 *   uploads/<id>/upload.json        a pending presigned upload: {kind, name, contentLength, …}
 *   uploads/<id>/data               where the presigned PUT lands; never read as a dataset until validated
 *
 * Every upload is decoded before anything is written at its final key, so an invalid upload leaves no dataset (and
 * no manifest). Stored bytes are checked against the manifest's sha256 when read back. The data key holds the
 * content hash so that two concurrent uploads of one id never write the same data key with different bytes: the
 * manifest write decides the winner, and the loser (409) deletes its own data object. (Manifests written before
 * this layout name `data.<ext>` / `<id>.onnx`; readers follow the manifest's `key`, so those still load.)
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { datasetManifestSchema, idSchema, modelManifestSchema, type DatasetFormat, type DatasetManifest, type ModelManifest } from '../schemas.js';
import { ConflictError, InputError, isTransientError, ModelError, NotFoundError, StorageError } from '../core/errors.js';
import { assertFinite, sizeOf, type DecodedArray, type Layout } from '../core/tensor.js';
import { gunzipHead } from '../io/gzip.js';
import { decodeBytes, sniffFormat } from '../io/load.js';
import { isNpy } from '../io/npy.js';
import { describeModel } from '../model/graph.js';
import { datasetKeys, modelKeys, uploadKeys } from '../storage/keys.js';
import { readStoredJson, type ObjectStore } from '../storage/object-store.js';
import type { Presigner } from '../storage/tenant-store.js';
import { DEFAULT_MAX_BODY_BYTES, SERVICE_DECODE_LIMITS } from './limits.js';
import { sha256Hex } from '../hash.js';

/** Largest body accepted inline (the Lambda request payload limit); larger uploads use a presigned PUT. */
export const INLINE_UPLOAD_LIMIT = DEFAULT_MAX_BODY_BYTES;
/** Largest presigned upload: the largest file the service decodes (the upload function reads it whole to validate it). */
const PRESIGNED_UPLOAD_LIMIT = SERVICE_DECODE_LIMITS.maxFileBytes!;
const DEFAULT_PRESIGN_EXPIRES_IN = 900;

/** Validates a dataset/model id (the one id rule, `idSchema`), or generates one (a UUID) when absent. */
function resolveId(id: string | undefined, field = 'id'): string {
  if (id === undefined) return randomUUID();
  const r = idSchema.safeParse(id);
  if (!r.success) throw new InputError(field, `${JSON.stringify(id)}: ${r.error.issues[0]!.message}`);
  return r.data;
}


const json = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v, null, 2));
const JSON_TYPE = { contentType: 'application/json' } as const;

const FORMATS = {
  npy: 'npy',
  'npy+gzip': 'npy.gz',
  npz: 'npz',
  idx: 'idx',
  'idx+gzip': 'idx.gz',
  'cifar-bin': 'bin',
  png: 'png',
  jpeg: 'jpg',
} as const satisfies Record<DatasetFormat, string>;

/**
 * Stored manifests are read with the response schemas' fields, leniently: a field a newer writer added is dropped,
 * not an error (a rolling deploy has both writers at once).
 */
const storedDatasetManifestSchema = z.object(datasetManifestSchema.shape);
const storedModelManifestSchema = z.object({ ...modelManifestSchema.shape, inputSpec: z.object(modelManifestSchema.shape.inputSpec.shape) });

const uploadRecordSchema = z.object({
  kind: z.literal('dataset'),
  id: idSchema,
  name: z.string(),
  npzKey: z.string().optional(),
  contentLength: z.number().int().positive(),
  createdAt: z.string(),
});

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.trim() === '') throw new InputError('name', 'must be the non-empty original file name');
  if (name.length > 255 || /[/\\\0]/.test(name)) throw new InputError('name', `${JSON.stringify(name.slice(0, 80))} must be a file name (at most 255 characters, no '/', '\\' or NUL)`);
  // Control characters and bidirectional overrides make names that display as something else (`gpj.exe` shown as
  // `exe.jpg`); lone surrogates are not text. Other Unicode (accents, CJK) is a legitimate file name.
  if (/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/.test(name) || /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(name)) {
    throw new InputError('name', `${JSON.stringify(name.slice(0, 80))} contains control or bidirectional-override characters`);
  }
  return name;
}

function checkSize(bytes: Uint8Array, limit: number, field: string, hint: string): void {
  if (!(bytes instanceof Uint8Array)) throw new InputError(field, 'expected the file bytes');
  if (bytes.byteLength === 0) throw new InputError(field, 'is empty');
  if (bytes.byteLength > limit) throw new InputError(field, `${bytes.byteLength} bytes exceeds the ${limit}-byte limit; ${hint}`);
}

/** The format `decodeBytes` used for these bytes (its own sniffing); only called after a successful decode. */
function detectFormat(bytes: Uint8Array, name: string): DatasetFormat {
  const f = sniffFormat(bytes, name);
  // The first inflated bytes are enough to tell a gzipped .npy (magic) from a gzipped IDX file.
  if (f === 'gzip') return isNpy(gunzipHead(bytes, 6) ?? new Uint8Array(0)) ? 'npy+gzip' : 'idx+gzip';
  if (f === 'unknown') throw new InputError('data', 'unrecognised format'); // decodeBytes refused it already
  return f;
}

export interface PutDatasetRequest {
  readonly id?: string;
  /** The original file name: recorded, and its extension decides formats without magic bytes (`.bin` = CIFAR). */
  readonly name: string;
  readonly bytes: Uint8Array;
  /** Which array of a multi-array `.npz` to use. */
  readonly npzKey?: string;
}

/**
 * Decodes (validates) and stores, data first and manifest last. Shared by inline uploads and presigned completion.
 * `ephemeral` marks the service's own dataset for one job; its `layout` is that of the data it was encoded from (inline
 * PNG/JPEG images are NHWC, but the .npy they are stored as cannot say so), recorded so that the job reads the same
 * layout a sync predict did.
 */
async function storeDataset(store: ObjectStore, id: string, name: string, bytes: Uint8Array, npzKey: string | undefined, ephemeral?: { layout?: Layout }): Promise<DatasetManifest> {
  const keys = datasetKeys(id);
  if (await store.head(keys.manifest)) throw new ConflictError('id', `dataset ${id} already exists`);
  const decoded = await decodeBytes(bytes, name, { limits: SERVICE_DECODE_LIMITS, ...(npzKey !== undefined ? { npzKey } : {}) });
  // A dataset that can never be scored is refused now, naming the sample, rather than failing every later job.
  assertFinite(decoded.data, Math.max(1, sizeOf(decoded.shape.slice(1))), 'data', 'pixel');
  const format = detectFormat(bytes, name);
  const layout = decoded.layout ?? ephemeral?.layout;
  const digest = sha256Hex(bytes);
  const key = keys.data(FORMATS[format], digest);
  const manifest: DatasetManifest = {
    id,
    key,
    format,
    shape: [...decoded.shape],
    dtype: decoded.dtype,
    ...(layout ? { layout } : {}),
    ...(npzKey !== undefined ? { npzKey } : {}),
    sha256: digest,
    bytes: bytes.byteLength,
    createdAt: new Date().toISOString(),
    originalName: name,
    ...(ephemeral ? { ephemeral: true as const } : {}),
  };
  await putDataThenManifest(store, `dataset ${id}`, bytes, keys.manifest, manifest);
  return manifest;
}

/**
 * Writes the data object, then the manifest only if none exists. When the manifest write fails, this upload's data
 * object is deleted (best effort) unless a stored manifest names the same key: that of a concurrent upload of the same
 * id and bytes that won, or this one's own if the write succeeded but its answer was lost. A conflict (a concurrent
 * upload wrote its manifest first) is rethrown as a ConflictError naming `id`, any other failure as it is: the
 * winner's dataset or model stays whole, a failed upload leaves nothing.
 */
async function putDataThenManifest(store: ObjectStore, what: string, bytes: Uint8Array, manifestKey: string, manifest: { key: string }): Promise<void> {
  const key = manifest.key;
  await store.put(key, bytes, { contentType: 'application/octet-stream' });
  try {
    await store.put(manifestKey, json(manifest), { ...JSON_TYPE, ifNoneMatch: true });
  } catch (e) {
    // Delete only when the stored manifest is known not to name this data: if the read fails too (the same outage), the
    // write may have landed with its answer lost, and an orphan object is better than a manifest naming deleted data.
    const stored = await readStoredJson(store, manifestKey, 'manifest', z.object({ key: z.string() }).loose()).then(
      (m) => ({ known: true, key: m?.key }),
      () => ({ known: false, key: undefined }),
    );
    if (stored.known && stored.key !== key) await store.delete(key).catch(() => undefined); // the manifest write's error is the one to report
    if (e instanceof ConflictError) throw new ConflictError('id', `${what} already exists (a concurrent upload created it first)`, { cause: e });
    throw e;
  }
}

/** An inline upload (≤ INLINE_UPLOAD_LIMIT): decoded first; an invalid upload writes nothing. */
export async function putDataset(store: ObjectStore, req: PutDatasetRequest): Promise<DatasetManifest> {
  const id = resolveId(req.id);
  const name = checkName(req.name);
  checkSize(req.bytes, INLINE_UPLOAD_LIMIT, 'bytes', 'use a presigned upload');
  return storeDataset(store, id, name, req.bytes, req.npzKey);
}

/**
 * The service's own dataset for one job (a predict's inline images, re-encoded as .npy), under a new id and marked
 * ephemeral: the worker deletes it once the job is done. Not a client upload, so INLINE_UPLOAD_LIMIT does not apply
 * (65 small PNGs are 12 MiB of pixels): the bytes are bounded by the decode limits the request was decoded under
 * (SERVICE_DECODE_LIMITS, checked again when they are stored), and a refusal names the request's `field`.
 */
export async function putEphemeralDataset(store: ObjectStore, req: { name: string; bytes: Uint8Array; field: string; layout?: Layout }): Promise<DatasetManifest> {
  const name = checkName(req.name);
  checkSize(req.bytes, SERVICE_DECODE_LIMITS.maxFileBytes!, req.field, 'send fewer images per request');
  return storeDataset(store, resolveId(undefined), name, req.bytes, undefined, req.layout ? { layout: req.layout } : {});
}

export interface PresignedUpload {
  readonly id: string;
  /** The staging key the URL writes to (not the dataset's key). */
  readonly key: string;
  readonly url: string;
  readonly expiresIn: number;
}

/**
 * Step 1 of a large upload: records the pending upload and returns a presigned PUT URL for its staging key. The client
 * PUTs exactly `contentLength` bytes there, then calls {@link completeDatasetUpload}.
 */
export async function presignDatasetUpload(
  s3store: ObjectStore & Presigner,
  req: { id?: string; name: string; contentLength: number; npzKey?: string; expiresIn?: number },
): Promise<PresignedUpload> {
  const id = resolveId(req.id);
  const name = checkName(req.name);
  const n = req.contentLength;
  if (!Number.isSafeInteger(n) || n < 1 || n > PRESIGNED_UPLOAD_LIMIT) {
    throw new InputError('contentLength', `must be an integer in 1..${PRESIGNED_UPLOAD_LIMIT}, got ${n}`);
  }
  const expiresIn = req.expiresIn ?? DEFAULT_PRESIGN_EXPIRES_IN;
  if (await s3store.head(datasetKeys(id).manifest)) throw new ConflictError('id', `dataset ${id} already exists`);
  const keys = uploadKeys(id);
  const record: z.infer<typeof uploadRecordSchema> = { kind: 'dataset', id, name, ...(req.npzKey !== undefined ? { npzKey: req.npzKey } : {}), contentLength: n, createdAt: new Date().toISOString() };
  const url = await s3store.presignPut(keys.data, { expiresIn, contentLength: n });
  await s3store.put(keys.record, json(record), JSON_TYPE);
  return { id, key: keys.data, url, expiresIn };
}

/**
 * Step 2: validates the staged object and promotes it (dataset data, then manifest, then the staging objects are
 * deleted). The bytes written are the bytes that were validated. An invalid object is deleted and an InputError names
 * the problem; nothing is written under datasets/<id>/. So is one whose id was taken meanwhile (409): only a transient
 * failure keeps the staging objects, for a retry. Completing again returns the dataset the first completion made.
 */
export async function completeDatasetUpload(store: ObjectStore, req: { id: string }): Promise<DatasetManifest> {
  const id = resolveId(req.id);
  const keys = uploadKeys(id);
  const record = await readStoredJson(store, keys.record, 'upload record', uploadRecordSchema);
  if (!record) {
    // Completed already (a client retrying after a lost response): the same dataset again, not a 404. A presign
    // refuses an id that is taken, so a dataset under this id with no pending upload is this upload's.
    const done = await findDatasetManifest(store, id, 'id');
    if (done) return done;
    throw new NotFoundError('id', `no pending upload ${id} (request a presigned URL first)`);
  }
  const discard = async (): Promise<void> => {
    await store.delete(keys.data);
    await store.delete(keys.record);
  };
  const notUploaded = () => new InputError('id', `nothing has been uploaded for ${id} yet: PUT the file to the presigned URL first`);
  const checkLength = async (size: number): Promise<void> => {
    if (size === record.contentLength) return;
    await discard();
    throw new InputError('contentLength', `the uploaded object has ${size} bytes, the upload declared ${record.contentLength}`);
  };
  // The size is checked on the HEAD, before any byte is read (a store that does not enforce the signed length, as the
  // local stage, takes a PUT of any size), and again on the bytes read (the object may have been replaced meanwhile).
  const staged = await store.head(keys.data);
  if (!staged) throw notUploaded();
  await checkLength(staged.size);
  const bytes = await store.get(keys.data);
  if (!bytes) throw notUploaded();
  await checkLength(bytes.byteLength);
  let manifest: DatasetManifest;
  try {
    manifest = await storeDataset(store, id, record.name, bytes, record.npzKey);
  } catch (e) {
    // Invalid, or the id was taken meanwhile (409): no retry of this upload can succeed, so its staging objects (up
    // to PRESIGNED_UPLOAD_LIMIT) go now. A transient failure keeps them for a retry of complete.
    if (!isTransientError(e)) await discard();
    throw e;
  }
  await discard();
  return manifest;
}

/** Removes a dataset: the manifest first (so it stops existing at once), then its data object. */
export async function deleteDataset(store: ObjectStore, manifest: DatasetManifest): Promise<void> {
  await store.delete(datasetKeys(manifest.id).manifest);
  await store.delete(manifest.key);
}

/** The dataset's manifest, or undefined when there is no dataset `id`. */
async function findDatasetManifest(store: ObjectStore, id: string, field = 'dataset'): Promise<DatasetManifest | undefined> {
  return readStoredJson(store, datasetKeys(resolveId(id, field)).manifest, 'dataset manifest', storedDatasetManifestSchema);
}

export async function readDatasetManifest(store: ObjectStore, id: string): Promise<DatasetManifest> {
  const m = await findDatasetManifest(store, id);
  if (!m) throw new NotFoundError('dataset', `no dataset ${id}`);
  return m;
}

/** Reads a stored dataset back, checking its bytes against the manifest's sha256 and shape. */
export async function loadDataset(store: ObjectStore, id: string): Promise<DecodedArray> {
  const m = await readDatasetManifest(store, id);
  const bytes = await store.get(m.key);
  if (!bytes) throw new StorageError(m.key, `dataset ${id}'s data object is missing`);
  const sha = sha256Hex(bytes);
  if (sha !== m.sha256) throw new StorageError(m.key, `sha256 ${sha.slice(0, 12)}… does not match the manifest's ${m.sha256.slice(0, 12)}…`);
  const name = m.key.slice(m.key.lastIndexOf('/') + 1);
  const decoded = await decodeBytes(bytes, name, { limits: SERVICE_DECODE_LIMITS, ...(m.npzKey !== undefined ? { npzKey: m.npzKey } : {}) });
  if (decoded.shape.join(',') !== m.shape.join(',')) throw new StorageError(m.key, `decoded shape [${decoded.shape.join(',')}] differs from the manifest's [${m.shape.join(',')}]`);
  // A layout the manifest records but the bytes cannot state (inline images stored as .npy for a predict job).
  return m.layout && !decoded.layout ? { ...decoded, layout: m.layout } : decoded;
}

/** An inline model upload: the ONNX graph and its image input are validated before anything is written. */
export async function putModel(store: ObjectStore, req: { id?: string; bytes: Uint8Array }): Promise<ModelManifest> {
  const id = resolveId(req.id);
  checkSize(req.bytes, INLINE_UPLOAD_LIMIT, 'bytes', 'models this large are not supported inline');
  const keys = modelKeys(id);
  if (await store.head(keys.manifest)) throw new ConflictError('id', `model ${id} already exists`);
  const digest = sha256Hex(req.bytes);
  let spec;
  let tensorCount;
  try {
    const d = describeModel(req.bytes);
    spec = d.inputSpec;
    tensorCount = d.tensorNames.length;
  } catch (e) {
    if (e instanceof ModelError) throw new InputError(e.field ?? 'model', e.detail, { cause: e });
    throw e;
  }
  const manifest: ModelManifest = {
    id,
    key: keys.model(digest),
    sha256: digest,
    bytes: req.bytes.byteLength,
    inputSpec: { name: spec.name, shape: [...spec.shape], channels: spec.channels, height: spec.height, width: spec.width, layout: spec.layout },
    tensorCount,
    createdAt: new Date().toISOString(),
  };
  await putDataThenManifest(store, `model ${id}`, req.bytes, keys.manifest, manifest);
  return manifest;
}

export async function readModelManifest(store: ObjectStore, id: string): Promise<ModelManifest> {
  const key = modelKeys(resolveId(id, 'model')).manifest;
  const m = await readStoredJson(store, key, 'model manifest', storedModelManifestSchema);
  if (!m) throw new NotFoundError('model', `no model ${id}`);
  return m;
}

/** The model's bytes, checked against its manifest's sha256. */
export async function loadModel(store: ObjectStore, id: string): Promise<Uint8Array> {
  return loadModelOf(store, await readModelManifest(store, id));
}

/** The bytes a model manifest names, checked against its sha256 (for callers that also need the manifest). */
export async function loadModelOf(store: ObjectStore, m: ModelManifest): Promise<Uint8Array> {
  const bytes = await store.get(m.key);
  if (!bytes) throw new StorageError(m.key, `model ${m.id}'s ONNX object is missing`);
  const sha = sha256Hex(bytes);
  if (sha !== m.sha256) throw new StorageError(m.key, `sha256 ${sha.slice(0, 12)}… does not match the manifest's ${m.sha256.slice(0, 12)}…`);
  return bytes;
}
