import type { Deps } from './deps.js';
import { functionLogBindings, getDeps } from './deps.js';
import { authenticate } from './auth.js';
import type { HttpEvent, HttpResult, LambdaContext } from './events.js';
import { checkBodySize, errorJson, errorResponse } from './respond.js';
import { tenantStore } from '../storage/tenant-store.js';
import { createLogger } from '../log.js';

/**
 * Wraps an HTTP handler body: authentication, the tenant's view of the bucket, the body-size limit, errors mapped to
 * `{error:{code,message,field?}}` with a status code, and one access-log line per request (tenant and key id, never
 * the key). The body stays "parse → service call → response".
 *
 * The access line says what an operator needs to find and explain a request from the log alone: the API Gateway
 * request id and Lambda's awsRequestId (its START/REPORT and timeout lines), the detector or job the path names, the
 * job a 202 enqueued, and for a 4xx/5xx the error code and field the client read (a 4xx's message too, cut short: a
 * client mistake is explained here, at info, never at error; a 5xx's cause is its own error line just before).
 */
export interface RequestContext extends Deps {
  /** The authenticated tenant; `store` is its view of the bucket (`tenants/<tenant>/…`, src/storage/tenant-store.ts). */
  readonly tenant: string;
  readonly keyId: string;
}

export function httpHandler(fn: (event: HttpEvent, ctx: RequestContext) => Promise<HttpResult>): (event: HttpEvent, context?: LambdaContext) => Promise<HttpResult> {
  return async (event, context) => {
    let deps: Deps;
    try {
      deps = getDeps();
    } catch (e) {
      // A configuration problem is the operator's, not the caller's: 500, with the variable named in the log (a JSON
      // line at error like every other, so alarms on the log's level see it; the messages never echo a secret's value).
      createLogger('error', functionLogBindings(process.env)).error({ err: e, route: event.routeKey ?? event.rawPath }, 'configuration error');
      return errorJson(500, { code: 'CONFIGURATION', message: 'the function is misconfigured' });
    }
    const t0 = performance.now();
    const route = event.routeKey ?? `${event.requestContext?.http?.method ?? '?'} ${event.rawPath ?? '?'}`;
    let logger = deps.logger.child({ route, requestId: event.requestContext?.requestId, ...(context?.awsRequestId ? { awsRequestId: context.awsRequestId } : {}), ...pathIds(event) });
    let res: HttpResult;
    try {
      const who = await authenticate(event, deps.config, deps.store, logger);
      logger = logger.child({ tenant: who.tenant, keyId: who.keyId });
      checkBodySize(event, deps.config.maxBodyBytes);
      res = await fn(event, { ...deps, logger, store: tenantStore(deps.store, who.tenant), tenant: who.tenant, keyId: who.keyId });
    } catch (e) {
      res = errorResponse(e, logger);
    }
    logger.info({ status: res.statusCode, ms: Math.round(performance.now() - t0), ...outcome(res) }, 'request');
    return res;
  };
}

/** Longest path id or error message an access line carries (both can be whatever the client sent). */
const MAX_LOGGED_CHARS = 200;
const cut = (s: string): string => (s.length > MAX_LOGGED_CHARS ? `${s.slice(0, MAX_LOGGED_CHARS)}…` : s);

/** The detector (`/detectors/{id}/…`) or job (`/jobs/{id}`) the path names, as sent. */
function pathIds(event: HttpEvent): Record<string, string> {
  const id = event.pathParameters?.id;
  if (id === undefined) return {};
  const path = event.routeKey ?? event.rawPath ?? '';
  if (path.includes('/detectors/')) return { detector: cut(id) };
  if (path.includes('/jobs/')) return { jobId: cut(id) };
  if (path.includes('/uploads/')) return { uploadId: cut(id) };
  return {};
}

/** The job a 202 enqueued, or the error a 4xx/5xx answered (the bodies are small JSON; a 200's is not read). */
function outcome(res: HttpResult): Record<string, unknown> {
  if (res.statusCode !== 202 && res.statusCode < 400) return {};
  let body: { jobId?: unknown; error?: { code?: unknown; field?: unknown; message?: unknown } };
  try {
    body = JSON.parse(res.body) as typeof body;
  } catch {
    return {};
  }
  if (res.statusCode === 202) return typeof body.jobId === 'string' ? { jobId: body.jobId } : {};
  const e = body.error;
  if (!e || typeof e.code !== 'string') return {};
  return {
    error: {
      code: e.code,
      ...(typeof e.field === 'string' ? { field: cut(e.field) } : {}),
      ...(res.statusCode < 500 && typeof e.message === 'string' ? { message: cut(e.message) } : {}),
    },
  };
}
