import { detectorSpecFromParams } from '../schemas.js';
import { z } from 'zod';
import type { DetectorBundle } from '../core/bundle.js';
import { ConflictError, InputError, isImagedriftError, isTransientError, NotFoundError, StorageError } from '../core/errors.js';
import { bindMissing, type Logger } from '../log.js';
import { deleteDataset, loadDataset, loadModelOf, readDatasetManifest, readModelManifest } from '../service/datasets.js';
import { readOodLabels } from '../service/calibrate-request.js';
import { noSuchDetector } from '../service/detector-cache.js';
import { calibrateDetector, calibrateLabelFree, fitDetector, predictData, type RuntimeOptions } from '../service/detector-service.js';
import { fitOffThread } from '../service/fit-runner.js';
import { sha256Hex } from '../hash.js';
import { DetectorRepository, StaleBaseError, VersionExistsError, type CalibrationBase, type VersionCoordinator } from '../storage/detector-repository.js';
import { readStoredJson, type ObjectStore } from '../storage/object-store.js';
import { tenantCoordinator, tenantStore } from '../storage/tenant-store.js';
import {
  checkJobName,
  parseJobPayload,
  splitJobData,
  type CalibrateJobResult,
  type FitJobResult,
  type JobPayload,
  type JobResult,
  type PredictJobResult,
} from './jobs.js';
import { detectorKeys, detectorPrefix, JOB_ID_PATTERN, jobKeys } from '../storage/keys.js';

/**
 * The queue processor: job → service call → stored result. No maths here (src/service and src/core do that) and no
 * BullMQ either (src/queue/worker.ts adapts), so the CLI demo, tests and the worker can all call it.
 *
 * Idempotency by job id (a stalled or retried job runs again from the start):
 * 1. `jobs/<jobId>/result.json` exists → the job already finished: return it, do nothing else.
 * 2. Saving a version first records `jobs/<jobId>/claim` = {detector, version} when the version number is allocated.
 *    A rerun that finds the claim reuses that number: if the version's manifest exists the saved version is reused
 *    (pointer moved forward if the first attempt died before moving it) and no work is redone; if not, the partial
 *    version (arrays without manifest, invisible to readers) is written again under the same number.
 * 3. The result marker is written right after the save. So a job makes at most one detector version, however often
 *    it is run.
 *
 * Tenancy: every job's data names its tenant (JobClient.enqueue adds it), and the job works in that tenant's view of
 * the bucket, `tenants/<tenant>/` (src/storage/tenant-store.ts); the keys above are relative to it. A job without a
 * tenant, or with an invalid one, fails with an InputError naming `tenant` (permanent: the worker records it and does
 * not retry) before anything is read or written: it never runs against the bucket root.
 */
export interface ProcessorDeps {
  /** The whole bucket; each job works only in its tenant's view of it. */
  readonly store: ObjectStore;
  /** Allocates version numbers and serialises pointer moves across processes (RedisCoordinator in the worker). */
  readonly coordinator: VersionCoordinator;
  readonly logger: Logger;
  /** ORT's settings, and the batch feeder (the worker's: `prefillOffThread`, preprocessing overlapped with inference). */
  readonly runtime: Pick<RuntimeOptions, 'executionProviders' | 'intraOpNumThreads' | 'feeder'>;
  /** Most threads a feature-cluster fit spreads its KMeans initialisations over (FIT_THREADS); default the cores. */
  readonly fitThreads?: number;
}

/** The slice of a BullMQ Job the processor uses. */
export interface JobLike {
  readonly id?: string | undefined;
  readonly name: string;
  readonly data: unknown;
  /** Attempts that failed before this one, and how many the job has (BullMQ's); absent outside the worker. */
  readonly attemptsMade?: number;
  readonly opts?: { readonly attempts?: number | undefined };
  updateProgress(progress: number): Promise<unknown>;
}

const claimSchema = z.object({
  jobId: z.string(),
  detector: z.string(),
  version: z.number().int().positive(),
  /** A calibration's base: the version it calibrated, and that version's fit. */
  baseVersion: z.number().int().positive().optional(),
  baseFitId: z.string().optional(),
  claimedAt: z.string(),
});
type Claim = z.infer<typeof claimSchema>;

const encode = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v));

async function readJobResult(store: ObjectStore, jobId: string): Promise<JobResult | undefined> {
  return readStoredJson<JobResult>(store, jobKeys(jobId).result, 'job result');
}

function readClaim(store: ObjectStore, jobId: string): Promise<Claim | undefined> {
  return readStoredJson(store, jobKeys(jobId).claim, 'job claim', claimSchema);
}

/**
 * A VersionCoordinator for one job: the first allocation is recorded in the job's claim; a rerun of the job gets the
 * claimed number back instead of a new one.
 */
class JobClaimCoordinator implements VersionCoordinator {
  constructor(
    private readonly inner: VersionCoordinator,
    private readonly store: ObjectStore,
    private readonly jobId: string,
    private readonly extra: { baseVersion?: number; baseFitId?: string },
  ) {}

  async nextVersion(detectorKey: string, store: ObjectStore): Promise<number> {
    const claim = await readClaim(this.store, this.jobId);
    if (claim && claim.detector === detectorKey) {
      // A calibration retried after a re-fit became current would calibrate the new fit under the number claimed
      // over the old one. Another calibration of the same fit meanwhile is not a conflict (as for two concurrent
      // calibrations, which both complete). Without fit ids to compare, any other base version is a conflict.
      const sameBase = claim.baseVersion === this.extra.baseVersion;
      const sameFit = claim.baseFitId !== undefined && claim.baseFitId === this.extra.baseFitId;
      if (!sameBase && !sameFit) {
        throw new StaleBaseError('detector', `v${this.extra.baseVersion ?? '?'}, ${claim.baseFitId !== undefined && this.extra.baseFitId !== undefined ? 'a different fit' : 'a newer version'}, became current after an earlier attempt of this calibration started on v${claim.baseVersion ?? '?'}; calibrate the current version again`);
      }
      return claim.version;
    }
    const version = await this.inner.nextVersion(detectorKey, store);
    const c: Claim = { jobId: this.jobId, detector: detectorKey, version, ...this.extra, claimedAt: new Date().toISOString() };
    try {
      // Create-only: if another attempt of this job (one whose lock lapsed while it kept running) claimed first,
      // use its number, so both write the same version instead of two.
      await this.store.put(jobKeys(this.jobId).claim, encode(c), { contentType: 'application/json', ifNoneMatch: true });
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      const other = await readClaim(this.store, this.jobId);
      if (other && other.detector === detectorKey) return other.version;
      throw e;
    }
    return version;
  }

  withPointerLock<T>(detectorKey: string, write: (fence: number) => Promise<T>): Promise<T> {
    return this.inner.withPointerLock(detectorKey, write);
  }
}

/** Reports progress as an integer percentage, at most once per percent (each update is a Redis round trip). */
function progressReporter(job: JobLike, logger: Logger): (pct: number) => void {
  let last = -1;
  return (pct) => {
    const p = Math.max(0, Math.min(100, Math.floor(pct)));
    if (p <= last) return;
    last = p;
    job.updateProgress(p).catch((e: unknown) => logger.warn({ err: e }, 'progress update failed'));
  };
}

/** Maps extraction progress (done/total samples) onto [from, to] percent. */
const span = (report: (p: number) => void, from: number, to: number) => (done: number, total: number) => report(from + ((to - from) * done) / Math.max(1, total));

/**
 * A version this job saved in an earlier attempt, if it is complete; its pointer move is retried under the same rule as
 * the first attempt (a calibration: only over its own fit).
 */
async function savedVersion(deps: ProcessorDeps, repo: DetectorRepository, jobId: string, prefix: string): Promise<{ claim: Claim; bundle: DetectorBundle } | undefined> {
  const claim = await readClaim(deps.store, jobId);
  if (!claim || claim.detector !== prefix) return undefined;
  if (!(await deps.store.head(detectorKeys(prefix).manifest(claim.version)))) return undefined;
  const { bundle } = await repo.load(prefix, claim.version);
  const base = claim.baseVersion !== undefined ? { base: { version: claim.baseVersion, fitId: bundle.fitId } } : {};
  const moved = await repo.movePointer(prefix, claim.version, { onlyForward: true, ...base });
  deps.logger.info({ version: claim.version, pointerMoved: moved }, 'reusing the version saved by an earlier attempt');
  return { claim, bundle };
}

/**
 * Saves the job's version, or, when another attempt of this job (one whose lock lapsed while it kept running) saved
 * the claimed version first, uses that one: both computed the same deterministic result, and the job must not fail
 * for having done the work twice.
 */
async function saveOnce(deps: ProcessorDeps, repo: DetectorRepository, jobId: string, prefix: string, bundle: DetectorBundle, opts: { base?: CalibrationBase } = {}): Promise<{ version: number; baseVersion: number | undefined; bundle: DetectorBundle }> {
  try {
    return { version: await repo.save(prefix, bundle, opts), baseVersion: opts.base?.version, bundle };
  } catch (e) {
    if (!(e instanceof VersionExistsError)) throw e;
    const earlier = await savedVersion(deps, repo, jobId, prefix);
    if (!earlier) throw e;
    return { version: earlier.claim.version, baseVersion: earlier.claim.baseVersion, bundle: earlier.bundle };
  }
}

/** The detector's current version; a missing one is named by its id (`noSuchDetector`), as the functions' 404 names it. */
async function loadCurrent(repo: DetectorRepository, prefix: string, detector: string): ReturnType<DetectorRepository['load']> {
  try {
    return await repo.load(prefix);
  } catch (e) {
    throw e instanceof NotFoundError && e.field === 'detector' ? noSuchDetector(detector, e) : e;
  }
}

function fitResult(jobId: string, p: JobPayload<'fit'>, version: number, b: DetectorBundle): FitJobResult {
  const f = b.fitted;
  return { kind: 'fit', jobId, detector: p.detector, version, model: p.model, dataset: p.dataset, layer: b.model.layer, detectorKind: f.kind, params: { ...f.params }, stats: f.stats, dim: f.dim, nTrain: f.nTrain };
}

function calibrateResult(jobId: string, p: JobPayload<'calibrate'>, version: number, baseVersion: number | undefined, b: DetectorBundle): CalibrateJobResult {
  const c = b.calibration;
  if (!c) throw new StorageError(detectorKeys(detectorPrefix(p.detector)).manifest(version), 'a calibrated version has no calibration');
  return { kind: 'calibrate', jobId, detector: p.detector, version, ...(baseVersion !== undefined ? { baseVersion } : {}), dataset: p.dataset, ...c };
}

async function runFit(deps: ProcessorDeps, jobId: string, p: JobPayload<'fit'>, report: (pct: number) => void): Promise<FitJobResult> {
  const prefix = detectorPrefix(p.detector);
  const repo = new DetectorRepository(deps.store, new JobClaimCoordinator(deps.coordinator, deps.store, jobId, {}));
  const earlier = await savedVersion(deps, repo, jobId, prefix);
  if (earlier) return fitResult(jobId, p, earlier.claim.version, earlier.bundle);
  const { detector: _d, model: modelId, dataset: datasetId, ...params } = p;
  const modelManifest = await readModelManifest(deps.store, modelId);
  const model = await loadModelOf(deps.store, modelManifest);
  const detector = detectorSpecFromParams(params, sha256Hex(model));
  const data = await loadDataset(deps.store, datasetId);
  report(5);
  const bundle = await fitDetector({
    model,
    modelKey: modelManifest.key,
    data,
    detector,
    ...(params.layer ? { layer: params.layer } : {}),
    ...(params.layout ? { layout: params.layout } : {}),
    ...(params.scale !== undefined ? { scale: params.scale } : {}),
    ...(params.batchSize ? { batchSize: params.batchSize } : {}),
    ...deps.runtime,
    logger: deps.logger,
    onProgress: span(report, 5, 90),
    // The job lock is renewed on this thread's event loop while KMeans runs in other threads.
    fitter: (spec, features, ctx) => fitOffThread(spec, features, ctx, deps.fitThreads !== undefined ? { threads: deps.fitThreads } : {}),
    dataField: 'dataset', // the message's field, in a failed job's error
  });
  report(95);
  const saved = await saveOnce(deps, repo, jobId, prefix, bundle);
  return fitResult(jobId, p, saved.version, saved.bundle);
}

async function oodLabels(deps: ProcessorDeps, p: JobPayload<'calibrate'>): Promise<ArrayLike<number>> {
  if (p.oodLabels) return p.oodLabels;
  const labels = await readOodLabels(deps.store, p.oodLabelsKey!);
  if (!labels) throw new InputError('oodLabelsKey', `no object ${p.oodLabelsKey!}`); // permanent: a retry cannot make it appear
  return labels;
}

async function runCalibrate(deps: ProcessorDeps, jobId: string, p: JobPayload<'calibrate'>, report: (pct: number) => void): Promise<CalibrateJobResult> {
  const prefix = detectorPrefix(p.detector);
  const plain = new DetectorRepository(deps.store, deps.coordinator);
  const current = await loadCurrent(plain, prefix, p.detector);
  const repo = new DetectorRepository(deps.store, new JobClaimCoordinator(deps.coordinator, deps.store, jobId, { baseVersion: current.version, ...(current.bundle.fitId !== undefined ? { baseFitId: current.bundle.fitId } : {}) }));
  const earlier = await savedVersion(deps, repo, jobId, prefix);
  if (earlier) return calibrateResult(jobId, p, earlier.claim.version, earlier.claim.baseVersion, earlier.bundle);
  for (const w of current.warnings) deps.logger.warn(w);
  const model = await plain.modelOf(current.bundle, p.detector);
  const data = await loadDataset(deps.store, p.dataset);
  // dataField: errors name the message's field, `dataset` (not the library's `data` / `idHoldout`).
  const runtime = { ...(p.batchSize !== undefined ? { batchSize: p.batchSize } : {}), ...(p.referenceRows !== undefined ? { referenceRows: p.referenceRows } : {}), ...deps.runtime, logger: deps.logger, onProgress: span(report, 5, 90), dataField: 'dataset' };
  let bundle;
  if (p.targetFpr !== undefined) {
    report(5);
    ({ bundle } = await calibrateLabelFree(current.bundle, model, { idHoldout: data, targetFpr: p.targetFpr, ...runtime }));
  } else {
    const labels = await oodLabels(deps, p);
    report(5);
    ({ bundle } = await calibrateDetector(current.bundle, model, { data, oodLabels: labels, ...(p.grid !== undefined ? { grid: p.grid } : {}), ...runtime }));
  }
  report(95);
  const saved = await saveOnce(deps, repo, jobId, prefix, bundle, { base: { version: current.version, fitId: current.bundle.fitId, fitVersion: current.fitVersion } });
  return calibrateResult(jobId, p, saved.version, saved.baseVersion, saved.bundle);
}

async function runPredict(deps: ProcessorDeps, jobId: string, p: JobPayload<'predict'>, report: (pct: number) => void): Promise<PredictJobResult> {
  const prefix = detectorPrefix(p.detector);
  const repo = new DetectorRepository(deps.store, deps.coordinator);
  const loaded = await loadCurrent(repo, prefix, p.detector);
  for (const w of loaded.warnings) deps.logger.warn(w);
  const model = await repo.modelOf(loaded.bundle, p.detector);
  const data = await loadDataset(deps.store, p.dataset!);
  report(5);
  const r = await predictData(loaded.bundle, model, data, {
    ...(p.threshold !== undefined ? { threshold: p.threshold } : {}),
    ...(p.batchSize !== undefined ? { batchSize: p.batchSize } : {}),
    ...deps.runtime,
    logger: deps.logger,
    onProgress: span(report, 5, 95),
    dataField: 'dataset',
  });
  const flagged = r.result.reduce((a, b) => a + b, 0);
  return { kind: 'predict', jobId, detector: p.detector, detectorVersion: loaded.version, dataset: p.dataset!, threshold: r.threshold, n: r.result.length, flagged, result: r.result, scores: r.scores, ...(r.pValues ? { pValues: r.pValues } : {}) };
}

/**
 * Deletes a dataset the service stored for this job alone (a predict's inline images), once the job is done: after the
 * result is written (a rerun finds the result and never reads the dataset again; it deletes the dataset too, in case the
 * attempt that wrote the result died first), or when the job has failed for good. A failure is logged; the result or
 * the job's error stands.
 */
async function dropEphemeralDataset(deps: ProcessorDeps, jobId: string, dataset: string): Promise<void> {
  try {
    const m = await readDatasetManifest(deps.store, dataset);
    if (m.ephemeral) await deleteDataset(deps.store, m);
  } catch (err) {
    if (!(err instanceof NotFoundError)) deps.logger.warn({ err, dataset }, 'could not delete the request dataset of a finished predict');
  }
}

/**
 * For a job BullMQ failed without running it to an end (stalled more often than allowed: its attempts died with their
 * workers): deletes what it stored for that job alone, a predict's request images, as a failure inside
 * {@link processJob} would. Anything unreadable is logged and left.
 */
export async function releaseJobInputs(deps: ProcessorDeps, job: JobLike): Promise<void> {
  try {
    if (job.id === undefined || checkJobName(job.name) !== 'predict') return;
    const { tenant, payload } = splitJobData(job.data);
    const p = parseJobPayload('predict', payload);
    if (p.dataset !== undefined) await dropEphemeralDataset({ ...deps, store: tenantStore(deps.store, tenant), logger: bindMissing(deps.logger, { jobId: job.id, tenant }) }, job.id, p.dataset);
  } catch (err) {
    bindMissing(deps.logger, { jobId: job.id }).warn({ err }, 'could not release the inputs of a failed job');
  }
}

/**
 * Errors that no retry can fix, so the worker fails the job at once: an ImagedriftError neither transient nor a lost
 * race (a CONFLICT), a StaleBaseError aside (its re-fit will not go away).
 */
export function isPermanentError(e: unknown): boolean {
  return isImagedriftError(e) && !isTransientError(e) && (e.code !== 'CONFLICT' || e instanceof StaleBaseError);
}

/**
 * Whether this failure ends the job: a permanent error, or any error on the job's last attempt. A caller that gives
 * no attempt counts (the CLI demo, tests) runs no retries of its own: only the first kind counts.
 */
function failsForGood(job: JobLike, e: unknown): boolean {
  if (isPermanentError(e)) return true;
  return job.attemptsMade !== undefined && job.attemptsMade + 1 >= (job.opts?.attempts ?? 1);
}

/**
 * Runs one job (or returns its stored result) in its tenant's view of the bucket. Input problems throw
 * ImagedriftErrors (a missing or invalid tenant among them, before the store is touched); the worker decides retries.
 */
export async function processJob(deps: ProcessorDeps, job: JobLike): Promise<JobResult> {
  const jobId = job.id;
  if (jobId === undefined || !JOB_ID_PATTERN.test(jobId)) throw new InputError('job.id', `${JSON.stringify(jobId)} is not a usable job id`);
  const name = checkJobName(job.name);
  // The tenant is required (an InputError naming `tenant` otherwise, before any read or write); the job works in the
  // tenant's view of the bucket, with the coordinator scoped to match.
  const { tenant, payload } = splitJobData(job.data);
  // Every line of the job carries its id, kind, tenant and detector as fields, bound once: the worker's job logger
  // already binds them, and a key bound twice is written twice (a JSON object with duplicate keys, which some log
  // stores reject or mangle).
  const logger = bindMissing(deps.logger, { jobId, kind: name, tenant, ...(typeof (payload as { detector?: unknown }).detector === 'string' ? { detector: (payload as { detector: string }).detector } : {}) });
  deps = { ...deps, store: tenantStore(deps.store, tenant), coordinator: tenantCoordinator(deps.coordinator, deps.store, tenant), logger };
  const done = await readJobResult(deps.store, jobId);
  if (done) {
    deps.logger.info('job already has a result; returning it');
    // An attempt that wrote the result but died before deleting its request dataset (a kill, a lapsed lock) leaves it
    // to this rerun: nothing else would ever delete it.
    if (done.kind === 'predict') await dropEphemeralDataset(deps, jobId, done.dataset);
    return done;
  }
  const report = progressReporter(job, deps.logger);
  report(1);
  const t0 = performance.now();
  let result: JobResult;
  let predictDataset: string | undefined;
  try {
    switch (name) {
      case 'fit':
        result = await runFit(deps, jobId, parseJobPayload('fit', payload), report);
        break;
      case 'calibrate':
        result = await runCalibrate(deps, jobId, parseJobPayload('calibrate', payload), report);
        break;
      case 'predict': {
        const p = parseJobPayload('predict', payload);
        predictDataset = p.dataset;
        result = await runPredict(deps, jobId, p, report);
        break;
      }
    }
    await deps.store.put(jobKeys(jobId).result, encode(result), { contentType: 'application/json' });
  } catch (e) {
    // No attempt will come back for a request dataset of a job that has failed for good: it goes now. One that BullMQ
    // retries keeps it for the retry.
    if (predictDataset !== undefined && failsForGood(job, e)) await dropEphemeralDataset(deps, jobId, predictDataset);
    throw e;
  }
  if (result.kind === 'predict') await dropEphemeralDataset(deps, jobId, result.dataset);
  report(100);
  deps.logger.info({ version: result.kind === 'predict' ? result.detectorVersion : result.version, seconds: (performance.now() - t0) / 1000 }, 'job done');
  return result;
}
