import { Worker } from 'node:worker_threads';
import type { FitContext, FittedDetector } from '../core/detector.js';
import { restoreDetector, type DetectorSpec } from '../core/detectors.js';
import { ConflictError, InputError, ModelError, NotFittedError, NotFoundError, StorageError, type ErrorCode, type ImagedriftError } from '../core/errors.js';
import type { Matrix } from '../core/tensor.js';

type Reply =
  | { ok: true; kind: string; params: object; dim: number; nTrain: number; stats: Record<string, number>; arrays: Record<string, Float32Array> }
  | { ok: false; error: { code: ErrorCode; field: string | undefined; detail: string } | { name: string; message: string; stack?: string } };

const ERRORS: Partial<Record<ErrorCode, new (field: string | undefined, detail: string) => ImagedriftError>> = {
  INVALID_INPUT: InputError,
  NOT_FITTED: NotFittedError,
  MODEL_ERROR: ModelError,
  STORAGE_ERROR: StorageError,
  NOT_FOUND: NotFoundError,
  CONFLICT: ConflictError,
};

/** Appended to the thread's import(): a load failure becomes an uncaught exception, not an unhandled rejection. */
const RETHROW = '.catch((e) => setImmediate(() => { throw e; }))';

/** The worker script: the compiled `.js` beside this module, or (running from sources under tsx) the `.ts`. */
function startWorker(workerData: unknown): Worker {
  const fromSources = import.meta.url.endsWith('.ts');
  const url = new URL(fromSources ? './fit-thread.ts' : './fit-thread.js', import.meta.url);
  // Started as an eval'd import() of the script, not from the file: a thread started from a file refuses an inherited
  // --input-type (a `node --input-type=module -e …` caller's: ERR_INPUT_TYPE_NOT_ALLOWED), and an explicit execArgv
  // without it would make Node refuse others a worker accepts when inherited (--max-old-space-size, --stack-size…).
  // A script that fails to load is rethrown outside the promise, so it reaches the 'error' event whatever
  // --unhandled-rejections mode the thread inherits (under warn or none a rejected import() just ended the thread).
  if (!fromSources) return new Worker(`import(${JSON.stringify(url.href)})${RETHROW}`, { eval: true, workerData });
  // tsx's loader is not inherited by worker threads (privatenumber/tsx#354): register it in the thread first. Its
  // path is resolved here, from this module: an eval'd thread would look for it from the working directory.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })${RETHROW}`, { eval: true, execArgv: [], workerData });
}

/**
 * Fits a detector in a worker thread, so the calling thread's event loop keeps running: a queue worker must renew
 * its job lock (BullMQ) while a large KMeans runs for minutes. The features are copied to the thread, and the fitted
 * state comes back as plain data and is restored exactly as a saved detector is (same params, arrays and scores).
 * Errors keep their class, field and detail.
 */
export function fitOffThread(spec: DetectorSpec, features: Matrix, ctx: FitContext): Promise<FittedDetector> {
  return new Promise((resolve, reject) => {
    const w = startWorker({ spec, features, ctx });
    let settled = false;
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      fn();
      void w.terminate();
    };
    w.once('message', (r: Reply) =>
      done(() => {
        if (r.ok) {
          try {
            resolve(restoreDetector(r.kind, r.params, r.dim, r.nTrain, r.stats, r.arrays));
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
