import type { Deps } from './deps.js';
import { getDeps } from './deps.js';
import type { HttpEvent, HttpResult } from './events.js';
import { errorResponse, json } from './respond.js';

/**
 * Wraps an HTTP handler body: dependencies in, errors mapped to `{error:{code,message,field?}}` with a status code.
 * The body stays "parse → service call → response".
 */
export function httpHandler(fn: (event: HttpEvent, deps: Deps) => Promise<HttpResult>): (event: HttpEvent) => Promise<HttpResult> {
  return async (event) => {
    let deps: Deps;
    try {
      deps = getDeps();
    } catch (e) {
      // A configuration problem is the operator's, not the caller's: 500, with the variable named in the log.
      process.stderr.write(`imagedrift: configuration error: ${(e as Error).message}\n`);
      return json(500, { error: { code: 'CONFIGURATION', message: 'the function is misconfigured' } });
    }
    try {
      return await fn(event, deps);
    } catch (e) {
      return errorResponse(e, deps.logger);
    }
  };
}
