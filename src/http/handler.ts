import type { Deps } from './deps.js';
import { getDeps } from './deps.js';
import { authenticate } from './auth.js';
import type { HttpEvent, HttpResult } from './events.js';
import { checkBodySize, errorResponse, json } from './respond.js';
import { tenantStore } from '../storage/tenant-store.js';

/**
 * Wraps an HTTP handler body: authentication, the tenant's view of the bucket, the body-size limit, errors mapped to
 * `{error:{code,message,field?}}` with a status code, and one access-log line per request (tenant and key id, never
 * the key). The body stays "parse → service call → response".
 */
export interface RequestContext extends Deps {
  /** The authenticated tenant; `store` is its view of the bucket (`tenants/<tenant>/…`, src/storage/tenant-store.ts). */
  readonly tenant: string;
  readonly keyId: string;
}

export function httpHandler(fn: (event: HttpEvent, ctx: RequestContext) => Promise<HttpResult>): (event: HttpEvent) => Promise<HttpResult> {
  return async (event) => {
    let deps: Deps;
    try {
      deps = getDeps();
    } catch (e) {
      // A configuration problem is the operator's, not the caller's: 500, with the variable named in the log.
      process.stderr.write(`imagedrift: configuration error: ${(e as Error).message}\n`);
      return json(500, { error: { code: 'CONFIGURATION', message: 'the function is misconfigured' } });
    }
    const t0 = performance.now();
    const route = event.routeKey ?? `${event.requestContext?.http?.method ?? '?'} ${event.rawPath ?? '?'}`;
    let logger = deps.logger.child({ route, requestId: event.requestContext?.requestId });
    let res: HttpResult;
    try {
      const who = await authenticate(event, deps.config, deps.store, logger);
      logger = logger.child({ tenant: who.tenant, keyId: who.keyId });
      checkBodySize(event, deps.config.maxBodyBytes);
      res = await fn(event, { ...deps, logger, store: tenantStore(deps.store, who.tenant), tenant: who.tenant, keyId: who.keyId });
    } catch (e) {
      res = errorResponse(e, logger);
    }
    logger.info({ status: res.statusCode, ms: Math.round(performance.now() - t0) }, 'request');
    return res;
  };
}
