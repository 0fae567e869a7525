/** API Gateway HTTP API (payload v2) events for calling handlers directly, as Lambda would. */
import type { HttpEvent, HttpResult } from '../../src/http/events.js';

export interface EventInit {
  readonly path: string;
  readonly method?: string;
  /** e.g. '/detectors/{id}/fit' */
  readonly route?: string;
  readonly pathParameters?: Record<string, string>;
  readonly query?: Record<string, string>;
  readonly headers?: Record<string, string>;
  /** JSON body (sets content-type application/json). */
  readonly json?: unknown;
  /** Raw string body. */
  readonly body?: string;
  /** Binary body: sent base64-encoded with isBase64Encoded, as API Gateway does for binary media. */
  readonly bytes?: Uint8Array;
}

export function httpEvent(init: EventInit): HttpEvent {
  const method = init.method ?? 'POST';
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  let body: string | undefined;
  let isBase64Encoded = false;
  if (init.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(init.json);
  } else if (init.bytes) {
    headers['content-type'] ??= 'application/octet-stream';
    body = Buffer.from(init.bytes).toString('base64');
    isBase64Encoded = true;
  } else if (init.body !== undefined) {
    body = init.body;
  }
  return {
    version: '2.0',
    routeKey: `${method} ${init.route ?? init.path}`,
    rawPath: init.path,
    headers,
    ...(init.query ? { queryStringParameters: init.query } : {}),
    ...(init.pathParameters ? { pathParameters: init.pathParameters } : {}),
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded,
    requestContext: { requestId: 'test', http: { method, path: init.path } },
  };
}

export interface ParsedResult {
  readonly status: number;
  readonly body: any;
}

export function parse(r: HttpResult): ParsedResult {
  return { status: r.statusCode, body: JSON.parse(r.body) };
}
