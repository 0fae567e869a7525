import { Worker } from 'node:worker_threads';

/** The worker-thread scripts of src/service: each a module beside this one. */
export type ThreadScript = 'fit-thread' | 'kmeans-thread' | 'prefill-thread';

/** Appended to the thread's import(): a load failure becomes an uncaught exception, not an unhandled rejection. */
const RETHROW = '.catch((e) => setImmediate(() => { throw e; }))';

/**
 * A thread running `script`: the compiled `.js` beside this module (in the CLI bundle, beside dist/cli.mjs, where
 * scripts/build.mjs bundles kmeans-thread, the only one the CLI starts), or (running from sources under tsx) the `.ts`.
 */
export function startWorker(script: ThreadScript, workerData?: unknown): Worker {
  const fromSources = import.meta.url.endsWith('.ts');
  const url = new URL(`./${script}.${fromSources ? 'ts' : 'js'}`, import.meta.url);
  // Started as an eval'd import() of the script, not from the file: a thread started from a file refuses an inherited
  // --input-type (a `node --input-type=module -e …` caller's: ERR_INPUT_TYPE_NOT_ALLOWED), and an explicit execArgv
  // without it would make Node refuse others a worker accepts when inherited (--max-old-space-size, --stack-size…).
  // A script that fails to load is rethrown outside the promise, so it reaches the 'error' event whatever
  // --unhandled-rejections mode the thread inherits (under warn or none a rejected import() just ended the thread).
  if (!fromSources) return new Worker(`import(${JSON.stringify(url.href)})${RETHROW}`, { eval: true, workerData });
  // tsx's loader is not inherited by worker threads (privatenumber/tsx#354): register it in the thread first. Its
  // path is resolved here, from this module: an eval'd thread would look for it from the working directory.
  // Its register() starts Node's loader-hooks thread inside this one, and Node 20.20 and 24.9 (checked; 22.23.5 does
  // not) never drop that nested thread's port from the main thread's table when this one ends (only a nested thread's
  // own parent unregisters it): about 1.3 KiB of heap per thread started from sources, never freed (BENCHMARKS.md
  // "Soak"; benchmarks/children/thread-ports.mjs). The compiled worker is free of it.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })${RETHROW}`, { eval: true, execArgv: [], workerData });
}
