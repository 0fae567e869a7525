/** API Gateway HTTP API (payload v2) events for calling handlers directly, as Lambda would. */
import { generateApiKey } from '../../src/auth/api-keys.js';
import type { HttpEvent, HttpResult } from '../../src/http/events.js';

/** The key `httpEvent` sends unless told otherwise; test/helpers/service.ts puts its hash in the keyring. */
export const TEST_API_KEY = generateApiKey();
export const TEST_TENANT = 'test-tenant';

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
  /** The API key to send as x-api-key (default TEST_API_KEY); null sends none. */
  readonly apiKey?: string | null;
}

export function httpEvent(init: EventInit): HttpEvent {
  const method = init.method ?? 'POST';
  const apiKey = init.apiKey === undefined ? TEST_API_KEY : init.apiKey;
  const headers: Record<string, string> = { ...(apiKey !== null ? { 'x-api-key': apiKey } : {}), ...(init.headers ?? {}) };
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
