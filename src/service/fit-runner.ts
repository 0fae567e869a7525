import { availableParallelism } from 'node:os';
import type { FitContext, FittedDetector } from '../core/detector.js';
import { createDetector, restoreDetector, type DetectorSpec } from '../core/detectors.js';
import { FeatureClusterDetector } from '../core/feature-cluster.js';
import { bestKMeans, planKMeans, type KMeansRun } from '../core/kmeans.js';
import { ConflictError, InputError, ModelError, NotFittedError, NotFoundError, StorageError, type ErrorCode, type ImagedriftError } from '../core/errors.js';
import type { Matrix } from '../core/tensor.js';
import { startWorker } from './threads.js';

/** The threads' replies (src/service/thread-reply.ts): the task's result, or its error. */
type FitResult = { kind: string; params: object; dim: number; nTrain: number; stats: Record<string, number>; arrays: Record<string, Float32Array> };
type KMeansResult = { runs: (KMeansRun | null)[] };
type Failure = { ok: false; error: { code: ErrorCode; field: string | undefined; detail: string } | { name: string; message: string; stack?: string } };

const ERRORS: Partial<Record<ErrorCode, new (field: string | undefined, detail: string) => ImagedriftError>> = {
  INVALID_INPUT: InputError,
  NOT_FITTED: NotFittedError,
  MODEL_ERROR: ModelError,
  STORAGE_ERROR: StorageError,
  NOT_FOUND: NotFoundError,
  CONFLICT: ConflictError,
};

/** Starts a thread on `workerData`; resolves with `onOk(reply)`, rejects with the thread's error (class kept). */
function runThread<R, T>(script: 'fit-thread' | 'kmeans-thread', workerData: unknown, onOk: (r: R) => T, signal?: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const w = startWorker(script, workerData);
    let settled = false;
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', abort);
      fn();
      void w.terminate();
    };
    const abort = (): void => done(() => reject(signal!.reason));
    signal?.addEventListener('abort', abort);
    w.once('message', (r: ({ ok: true } & R) | Failure) =>
      done(() => {
        if (r.ok) {
          try {
            resolve(onOk(r));
          } catch (e) {
            reject(e);
          }
          return;
        }
        const e = r.error;
        if ('code' in e) {
          const Cls = ERRORS[e.code] ?? InputError;
          reject(new Cls(e.field, e.detail));
        } else {
          // The message only (it reaches API clients as the job's error); the thread's stack stays on the error.
          const err = new Error(`detector fit failed: ${e.name}: ${e.message}`);
          if (e.stack) err.stack = `${err.message}\n(in the fit thread) ${e.stack}`;
          reject(err);
        }
      }),
    );
    w.once('error', (e) => done(() => reject(e)));
    w.once('exit', (code) => done(() => reject(new Error(`detector fit thread exited with code ${code} before replying`))));
  });
}

export interface FitThreadOptions {
  /**
   * Most threads a feature-cluster fit spreads its KMeans initialisations over (never more than `nInit`); default
   * the cores (`os.availableParallelism()`). 1 runs them one after another. The result is the same for every value.
   */
  readonly threads?: number;
  /** Least work (rows × columns × nCluster × nInit) worth spreading; default `SPREAD_MIN_WORK`. */
  readonly minWork?: number;
}

/**
 * Below this much work (rows × columns × nCluster × nInit), KMeans initialisations stay on one thread. Each thread
 * starts cold: measured on 2026-11-28 (2 cores, compiled code, fresh processes), a thread's first initialisation on
 * MNIST 60k × 10 took 230–310 ms against ~75 ms warm, so spreading that fit (2.4e7) made it slower (400–460 ms on one
 * thread, 500–550 ms on two), while 60k × 84 (2.0e8) got faster (1.32 s → 1.07–1.13 s).
 */
export const SPREAD_MIN_WORK = 1e8;

/** The features in memory every thread reads without a copy each. */
function shared(m: Matrix): Matrix {
  const data = new Float32Array(new SharedArrayBuffer(m.data.byteLength));
  data.set(m.data);
  return { data, rows: m.rows, cols: m.cols };
}

/**
 * A feature-cluster fit with its KMeans initialisations spread over threads, when the spec is one and the work is
 * worth it; otherwise undefined, and the caller fits as usual. The calling thread prepares the clustering space and
 * plans the initialisations (one pass over the data), each thread runs its share, and the winner is picked as
 * `fitKMeans` picks it: lowest inertia, first initialisation on ties. So the fitted detector is bit-identical to an
 * in-thread fit, whatever the thread count.
 */
export async function spreadKMeans(spec: DetectorSpec, features: Matrix, opts: FitThreadOptions): Promise<FittedDetector | undefined> {
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 1)) {
    throw new InputError('threads', `must be a positive integer, got ${String(opts.threads)}`);
  }
  if (spec.kind !== 'feature-cluster') return undefined;
  const detector = createDetector(spec);
  if (!(detector instanceof FeatureClusterDetector)) return undefined;
  const { nInit, nCluster } = detector.params;
  const threads = Math.min(opts.threads ?? availableParallelism(), nInit);
  if (threads < 2 || features.rows * features.cols * nCluster * nInit < (opts.minWork ?? SPREAD_MIN_WORK)) return undefined;
  const prep = detector.prepare(features);
  const plan = planKMeans(prep.space, prep.kmeans);
  const space = shared(prep.space);
  const shares = Array.from({ length: threads }, (_, t) => Array.from({ length: Math.ceil((nInit - t) / threads) }, (_, j) => t + j * threads));
  const stop = new AbortController(); // the first failure stops the other threads
  const replies = await Promise.all(
    shares.map((inits) =>
      runThread('kmeans-thread', { space, plan, inits }, (r: KMeansResult) => r.runs, stop.signal).catch((e: unknown) => {
        stop.abort(e);
        throw e;
      }),
    ),
  );
  const runs: KMeansRun[] = new Array<KMeansRun>(nInit);
  shares.forEach((inits, t) => inits.forEach((i, j) => (runs[i] = replies[t]![j] ?? undefined)));
  return detector.finish(prep, bestKMeans(plan, runs, prep.space.cols));
}

/**
 * Fits a detector off the calling thread, so its event loop keeps running: a queue worker must renew its job lock
 * (BullMQ) while a large KMeans runs for minutes. A large feature-cluster fit spreads its KMeans initialisations over
 * threads (`FitThreadOptions`); any other fit runs whole in one worker thread. The features are copied to the
 * thread(s), and the fitted state comes back as plain data, restored exactly as a saved detector is (same params,
 * arrays and scores). Errors keep their class, field and detail.
 */
export async function fitOffThread(spec: DetectorSpec, features: Matrix, ctx: FitContext, opts: FitThreadOptions = {}): Promise<FittedDetector> {
  const spread = await spreadKMeans(spec, features, opts);
  if (spread) return spread;
  return runThread('fit-thread', { spec, features, ctx }, (r: FitResult) => restoreDetector(r.kind, r.params, r.dim, r.nTrain, r.stats, r.arrays));
}

/**
 * Fits on the calling thread, except a large feature-cluster fit, whose KMeans initialisations are spread over threads
 * as in `fitOffThread`: the CLI's fitter (a small fit does not pay for starting a thread). Same result either way.
 */
export async function fitSpread(spec: DetectorSpec, features: Matrix, ctx: FitContext, opts: FitThreadOptions = {}): Promise<FittedDetector> {
  return (await spreadKMeans(spec, features, opts)) ?? createDetector(spec).fit(features, ctx);
}
