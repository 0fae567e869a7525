import { z } from 'zod';
import { arrayToBytes, bytesToArray, fromStored, parseManifest, toStored, type DetectorBundle, type StoredArray } from '../core/bundle.js';
import { ConflictError, InputError, isTransientError, NotFoundError, StorageError } from '../core/errors.js';
import { LIBRARY_VERSION } from '../version.js';
import { readStoredJson, type ObjectStore } from './object-store.js';
import { detectorKeys } from './keys.js';
import { sha256Hex } from '../hash.js';
import { checkLayers, splitLayers } from '../model/graph.js';

/** (model sha256, layer) pairs `checkModelLayers` found the model to have, oldest first; a few hundred bytes each. */
const layersChecked = new Set<string>();
const MAX_LAYERS_CHECKED = 256;

/**
 * The right model with a layer it lacks (a hand-edited manifest) is damage too (a StorageError on `model.layer`), not
 * the caller's --layer. `model` must be the bundle's own (its sha256 checked against `bundle.model.sha256`). Checked
 * once per (model sha256, layer) and process: the check decodes the whole graph (many times the model's size in
 * memory), and a warm worker or function reaches it for every job or request, whose extraction reuses a cached session.
 */
export function checkModelLayers(bundle: DetectorBundle, model: Uint8Array, detector: string): void {
  const checked = `${bundle.model.sha256}\0${bundle.model.layer}`;
  if (layersChecked.has(checked)) return;
  try {
    checkLayers(model, splitLayers(bundle.model.layer));
  } catch (e) {
    throw e instanceof InputError ? new StorageError('model.layer', `the manifest of detector ${detector} names a layer its model lacks: ${e.detail}`, { cause: e }) : e;
  }
  if (layersChecked.size >= MAX_LAYERS_CHECKED) layersChecked.delete(layersChecked.values().next().value!);
  layersChecked.add(checked);
}

/**
 * Versioned detector state under one prefix of an ObjectStore:
 *
 *   <prefix>v<n>/<array>.bin       written first
 *   <prefix>v<n>/manifest.json     written last: a version exists iff its manifest does
 *   <prefix>current.json           {"version":n,"fence":f} — moved only after the version is complete
 *
 * A version is never overwritten. Version numbers and pointer moves go through a `VersionCoordinator`, which makes
 * "allocate n" and "move the pointer if nobody moved it past me" atomic (in-process for the CLI, Redis for the
 * service; see src/storage/redis-coordinator.ts).
 */
export interface VersionCoordinator {
  /** A fresh version number for this detector, never handed out before. */
  nextVersion(detectorKey: string, store: ObjectStore): Promise<number>;
  /**
   * Runs `write(fence)` while holding the detector's pointer lock; `fence` is a token strictly greater than any
   * earlier one, written into the pointer so a stale holder is detectable.
   */
  withPointerLock<T>(detectorKey: string, write: (fence: number) => Promise<T>): Promise<T>;
}

const pointerSchema = z.object({ version: z.number().int().positive(), fence: z.number().int().nonnegative(), updatedAt: z.string() });
export type Pointer = z.infer<typeof pointerSchema>;

/**
 * In-process coordinator: correct for one process (the CLI, tests, the demo). Repositories built without a coordinator
 * share one (`LOCAL_COORDINATOR`): two repositories over the same store in one process would otherwise each hand out
 * the same next version, and the second save would overwrite the first's version and report it as its own.
 * Claims are kept per store location and detector key.
 */
class LocalCoordinator implements VersionCoordinator {
  private readonly chains = new Map<string, Promise<unknown>>();
  private fence = 0;

  async nextVersion(detectorKey: string, store: ObjectStore): Promise<number> {
    const claimKey = `${store.location}\n${detectorKey}`;
    return this.serialise(`v:${claimKey}`, async () => {
      const keys = await store.list(detectorKey);
      let max = 0;
      for (const { key } of keys) {
        const m = /^v(\d+)\//.exec(key.slice(detectorKey.length));
        if (m) max = Math.max(max, Number(m[1]));
      }
      const claimed = this.claimed.get(claimKey) ?? 0;
      const n = Math.max(max, claimed) + 1;
      this.claimed.set(claimKey, n);
      return n;
    });
  }

  private readonly claimed = new Map<string, number>();

  withPointerLock<T>(detectorKey: string, write: (fence: number) => Promise<T>): Promise<T> {
    return this.serialise(`p:${detectorKey}`, () => write(++this.fence + Date.now() * 1000));
  }

  private serialise<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.chains.set(key, next.catch(() => undefined));
    return next;
  }
}

/** The coordinator of every repository built without one, in this process. */
const LOCAL_COORDINATOR = new LocalCoordinator();

/**
 * A calibration's base: the version it was computed from and that version's fit. It may become current only while
 * the current version is that base or another version of the same fit (another calibration of it); once a different
 * fit is current, moving the pointer would silently undo that fit.
 */
export interface CalibrationBase {
  readonly version: number;
  readonly fitId?: string | undefined;
  /**
   * The base's fit order as loaded (LoadedDetector.fitVersion), which the calibration inherits. Given, the base's
   * manifest is not read again at save: the retention sweep may have deleted that version meanwhile (a calibration of
   * an old current version, which two or more later saves pushed out of the kept versions while it ran), and the
   * calibration must still save and become current as it would have (src/storage/retention.ts).
   */
  readonly fitVersion?: number | undefined;
}

/** A version's fit identity and order, as its manifest records them (either absent in older manifests). */
interface FitOf {
  readonly fitId?: string;
  readonly fitVersion?: number;
}

/** For a read whose failure means "cannot tell": `fallback` for damaged state, a transient error rethrown (retried). */
const unlessTransient =
  <T>(fallback: T) =>
  (e: unknown): T => {
    if (isTransientError(e)) throw e;
    return fallback;
  };

/** The detector was re-fitted while a calibration of its previous fit ran. No retry can fix it: calibrate again. */
export class StaleBaseError extends ConflictError {}

/** A save found its version number already written (another attempt of the same job saved it first). */
export class VersionExistsError extends StorageError {}

export interface LoadedDetector {
  readonly bundle: DetectorBundle;
  readonly version: number;
  readonly warnings: string[];
  /** The fit order this version's manifest records (`fitVersion`, or the version itself before that field existed). */
  readonly fitVersion: number;
}

export class DetectorRepository {
  constructor(
    readonly store: ObjectStore,
    private readonly coordinator: VersionCoordinator = LOCAL_COORDINATOR,
  ) {}

  /**
   * Writes a new immutable version and points `current` at it, unless a later version (one allocated after this one,
   * by a save that started later and finished first) is already current: the pointer only moves forward, so a reader
   * never sees the detector go back to an older state. One exception keeps that true: a fit whose number was
   * overtaken by a calibration of an older fit (allocated later, committed first) still becomes current, as it would
   * had it committed first (see `supersedes`). Returns the version number.
   */
  async save(prefix: string, bundle: DetectorBundle, opts: { base?: CalibrationBase } = {}): Promise<number> {
    const keys = detectorKeys(prefix); // a prefix that is not a folder is refused before anything is read or written
    const { manifest, arrays } = toStored(bundle);
    // What load would refuse is refused here, before anything is written: saved, it would become current and leave the
    // detector unloadable (a StorageError on every later load) until someone saved over it.
    fromStored(parseManifest(JSON.parse(JSON.stringify(manifest)), 'bundle'), arrays, LIBRARY_VERSION);
    const version = await this.coordinator.nextVersion(prefix, this.store);
    const dir = keys.versionDir(version);
    if (await this.store.head(keys.manifest(version))) throw new VersionExistsError(dir, 'version already exists; refusing to overwrite');
    const fitVersion = await this.fitVersionFor(prefix, version, bundle, opts.base);
    for (const [file, a] of arrays) await this.store.put(dir + file, arrayToBytes(a), { contentType: 'application/octet-stream' });
    await this.store.put(keys.manifest(version), new TextEncoder().encode(JSON.stringify({ ...manifest, fitVersion }, null, 2)), { contentType: 'application/json' });
    await this.movePointer(prefix, version, { onlyForward: true, ...(opts.base ? { base: opts.base } : {}) });
    return version;
  }

  /**
   * Points `current` at an existing, complete version, under the coordinator's pointer lock and fence. With
   * `onlyForward`, a pointer already at this or a later version is left alone (returns false): used when a retried
   * job finds that its earlier attempt saved the version but may have died before moving the pointer.
   * With `base` (a calibration), a current version of a different fit is a StaleBaseError (see CalibrationBase).
   */
  async movePointer(prefix: string, version: number, opts: { onlyForward?: boolean; base?: CalibrationBase } = {}): Promise<boolean> {
    const current = detectorKeys(prefix).current;
    return this.coordinator.withPointerLock(prefix, async (fence) => {
      // The pointer's ETag before it is read: the write below is conditional on it, so a holder whose lock expired
      // between this read and its PUT landing cannot overwrite what a newer holder wrote (S3 enforces If-Match
      // atomically; a change between this HEAD and the read only makes the write fail, and the job retry).
      const seen = await this.store.head(current);
      const cur = await this.readPointer(prefix);
      // A stale lock holder is refused first, whatever it meant to write.
      if (cur && cur.fence >= fence) throw new StorageError(current, `pointer fence ${cur.fence} is newer than this writer's ${fence}`);
      if (opts.base && cur && cur.version !== opts.base.version && cur.version !== version) {
        const curFit = (await this.fitOf(prefix, cur.version)).fitId;
        if (opts.base.fitId === undefined || curFit !== opts.base.fitId) {
          throw new StaleBaseError(
            'detector',
            `v${cur.version}, ${opts.base.fitId === undefined ? 'a newer version (this detector predates fit ids, so it cannot tell a re-fit from a calibration)' : 'a different fit'}, became current while this calibration of v${opts.base.version} ran; calibrate the current version again (the calibration was saved as v${version}, which is not current)`,
          );
        }
      }
      if (opts.onlyForward && cur && cur.version >= version) {
        // Already at or past this version: stay, unless this is a fit overtaken by a calibration of an older fit.
        const overtakenFit = cur.version > version && !opts.base && (await this.supersedes(prefix, version, cur.version));
        if (!overtakenFit) return false;
      }
      const ptr: Pointer = { version, fence, updatedAt: new Date().toISOString() };
      const unchanged = seen === undefined ? { ifNoneMatch: true } : seen.etag !== undefined ? { ifMatch: seen.etag } : {};
      await this.store.put(current, new TextEncoder().encode(JSON.stringify(ptr)), { contentType: 'application/json', ...unchanged });
      return true;
    });
  }

  /** A version's fitId and fitVersion (either undefined for detectors saved before it existed). */
  private async fitOf(prefix: string, version: number): Promise<FitOf> {
    const m = await readStoredJson<{ fitId?: unknown; fitVersion?: unknown }>(this.store, detectorKeys(prefix).manifest(version), 'manifest');
    if (!m) throw new StorageError(detectorKeys(prefix).manifest(version), `v${version} has no manifest`);
    return {
      ...(typeof m.fitId === 'string' ? { fitId: m.fitId } : {}),
      ...(typeof m.fitVersion === 'number' && Number.isSafeInteger(m.fitVersion) ? { fitVersion: m.fitVersion } : {}),
    };
  }

  /**
   * The `fitVersion` a new version records: the version its fit was first saved as, which orders fits (a fit
   * allocated later has a higher number). A calibration inherits its base's (or, where the base predates the field,
   * takes the base's number, which every later fit's number still exceeds). A calibrated bundle saved without a base
   * (the CLI's calibrate) inherits the current version's if that is the same fit. Anything else is a new fit, with its
   * own number: an uncalibrated bundle always (a re-run of the current fit, same fitId, is still a later fit), and so
   * is one whose current version cannot be read as a manifest (a re-fit must be able to replace damaged state).
   */
  private async fitVersionFor(prefix: string, version: number, bundle: DetectorBundle, base: CalibrationBase | undefined): Promise<number> {
    if (base) {
      if (base.fitVersion !== undefined) return base.fitVersion;
      const f = await this.fitOf(prefix, base.version);
      return f.fitVersion ?? base.version;
    }
    if (bundle.calibration === undefined || bundle.fitId === undefined) return version;
    const cur = await this.readPointer(prefix).catch(unlessTransient(undefined));
    if (cur === undefined) return version;
    const f = await this.fitOf(prefix, cur.version).catch(unlessTransient<FitOf>({}));
    return f.fitId === bundle.fitId ? (f.fitVersion ?? cur.version) : version;
  }

  /**
   * Whether `version`, a fit, should replace the current `current` although its number is higher: `current` is a
   * calibration of an older fit, which was allocated after this fit but committed first (a calibration of the old fit
   * racing a re-fit). The re-fit must win, as it would had it committed first; without the fit's own order recorded
   * (detectors saved before fitVersion) nothing can be told, and the pointer stays.
   */
  private async supersedes(prefix: string, version: number, current: number): Promise<boolean> {
    const [mine, cur] = await Promise.all([this.fitOf(prefix, version), this.fitOf(prefix, current).catch(unlessTransient<FitOf>({}))]);
    return mine.fitVersion === version && mine.fitId !== undefined && cur.fitId !== mine.fitId && cur.fitVersion !== undefined && cur.fitVersion < version;
  }

  readPointer(prefix: string): Promise<Pointer | undefined> {
    return readStoredJson(this.store, detectorKeys(prefix).current, 'pointer', pointerSchema);
  }

  /** The ONNX model a stored detector names. A missing model is damaged state (StorageError), like a missing array. */
  async modelOf(bundle: DetectorBundle, detector: string): Promise<Uint8Array> {
    const b = await this.store.get(bundle.model.key).catch((e: unknown) => {
      // A manifest naming its model by an unsafe key (`../x.onnx`) is damaged state too, not the caller's input.
      throw e instanceof InputError ? new StorageError(bundle.model.key, `the model of detector ${detector} has an unusable key: ${e.detail}`, { cause: e }) : e;
    });
    if (!b) throw new StorageError(bundle.model.key, `the model of detector ${detector} is missing`);
    // Stored state that does not match its own record is damage (CLI exit 1, HTTP 500), not a caller's mistake.
    const sha = sha256Hex(b);
    if (sha !== bundle.model.sha256) throw new StorageError(bundle.model.key, `the model of detector ${detector} is damaged or replaced: sha256 ${sha.slice(0, 12)}… is not the ${bundle.model.sha256.slice(0, 12)}… it was fitted with`);
    checkModelLayers(bundle, b, detector);
    return b;
  }

  /**
   * Loads the current version, the version a pointer already read names, or the given version number. A detector that does not exist (no current.json, or a requested
   * version without a manifest) is NotFound; stored state that exists but cannot be used (a pointer to a missing
   * version, malformed JSON, a bad field, a missing/short/non-finite array) is a StorageError: the same failure
   * always gets the same error (CLI exit 1, HTTP 500), never a client error.
   */
  async load(prefix: string, at?: number | Pointer): Promise<LoadedDetector> {
    // A version number is the caller's request; a pointer (given, or read here) is stored state naming a version.
    const ptr = typeof at === 'number' ? undefined : (at ?? (await this.readPointer(prefix)));
    if (at === undefined && !ptr) throw new NotFoundError('detector', `no detector at ${this.store.location}/${prefix} (current.json is missing)`);
    const v = typeof at === 'number' ? at : ptr!.version;
    const keys = detectorKeys(prefix);
    const dir = keys.versionDir(v);
    const json = await readStoredJson(this.store, keys.manifest(v), 'manifest');
    if (json === undefined) {
      if (!ptr) throw new NotFoundError('detector', `version ${v} does not exist at ${this.store.location}/${dir}`);
      throw new StorageError(keys.current, `names v${v}, which has no manifest at ${this.store.location}/${dir}`);
    }
    try {
      const manifest = parseManifest(json, keys.manifest(v));
      const arrays = new Map<string, StoredArray>();
      for (const ref of Object.values(manifest.arrays)) {
        const b = await this.store.get(dir + ref.file);
        if (!b) throw new StorageError(dir + ref.file, 'array file is missing');
        arrays.set(ref.file, bytesToArray(b, dir + ref.file, ref.dtype));
      }
      const { bundle, warnings } = fromStored(manifest, arrays, LIBRARY_VERSION);
      const recorded = (json as { fitVersion?: unknown }).fitVersion;
      return { bundle, version: v, warnings, fitVersion: typeof recorded === 'number' && Number.isSafeInteger(recorded) ? recorded : v };
    } catch (e) {
      if (e instanceof InputError) throw new StorageError(e.field?.startsWith(dir) ? e.field : `${dir}${e.field ?? ''}`, `stored detector v${v} is unusable: ${e.detail}`, { cause: e });
      throw e;
    }
  }
}
