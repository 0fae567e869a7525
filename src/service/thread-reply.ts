/**
 * The fit threads' side of src/service/fit-runner.ts's protocol: runs the thread's task and posts its result, or its
 * error as plain data (an imagedrift error by code, field and detail; anything else by name, message and stack), for
 * fit-runner to rethrow on the calling thread with its class.
 */
import { parentPort } from 'node:worker_threads';
import { isImagedriftError } from '../core/errors.js';

export function replyWith(task: () => object): void {
  try {
    parentPort!.postMessage({ ok: true, ...task() });
  } catch (e) {
    parentPort!.postMessage({
      ok: false,
      error: isImagedriftError(e)
        ? { code: e.code, field: e.field, detail: e.detail }
        : e instanceof Error
          ? { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}) }
          : { name: 'Error', message: String(e) },
    });
  }
}
