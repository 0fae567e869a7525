/**
 * HTTP plumbing of src/http/respond.ts that no fast test pinned (found by mutation testing): body size in bytes as
 * sent with an inclusive limit, the rest of the error → status mapping in the module's doc comment, raw Redis
 * failures as 503, unexpected errors saying nothing, unknown fields, JSON content types and path parameters.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { InputError, ModelError } from '../../src/core/errors.js';
import type { HttpEvent } from '../../src/http/events.js';
import { bodyBytes, checkBodySize, errorResponse, isJsonRequest, isRedisUnavailable, jsonBody, parseWith, pathParam, PayloadTooLargeError } from '../../src/http/respond.js';

const body = (r: { body: string }) => JSON.parse(r.body) as { error: { code: string; message: string; field?: string } };
const tooLarge = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof PayloadTooLargeError && e.field === 'body');

describe('body size: bytes as sent, limit inclusive', () => {
  it('a body of exactly the limit passes; one byte more is 413', () => {
    const at: HttpEvent = { body: 'x'.repeat(1000) };
    const over: HttpEvent = { body: 'x'.repeat(1001) };
    checkBodySize(at, 1000);
    assert.equal(bodyBytes(at, 1000).byteLength, 1000);
    tooLarge(() => checkBodySize(over, 1000));
    tooLarge(() => bodyBytes(over, 1000));
  });

  it('a text body counts UTF-8 bytes, not characters', () => {
    const ev: HttpEvent = { body: 'é'.repeat(600) }; // 600 characters, 1200 bytes
    tooLarge(() => checkBodySize(ev, 1000));
    tooLarge(() => bodyBytes(ev, 1000));
  });

  it('an empty body is the empty object', () => {
    assert.deepEqual(jsonBody({}), {});
    assert.deepEqual(jsonBody({ body: '' }), {});
    assert.deepEqual(jsonBody({ body: null }), {});
  });
});

describe('errorResponse: the mapping in the module doc', () => {
  it('MODEL_ERROR is 422 and names the problem', () => {
    const r = errorResponse(new ModelError('model', 'cannot be loaded: not an ONNX file'));
    assert.equal(r.statusCode, 422);
    assert.deepEqual(body(r).error, { code: 'MODEL_ERROR', message: 'model: cannot be loaded: not an ONNX file', field: 'model' });
  });

  it('an unexpected error is a 500 that says nothing of it', () => {
    const r = errorResponse(new TypeError('cannot read s3://imagedrift-prod/tenants/t1/x: secret detail'));
    assert.equal(r.statusCode, 500);
    assert.deepEqual(body(r), { error: { code: 'INTERNAL', message: 'internal error' } });
  });

  it('ioredis connection failures (plain Errors) are 503 UNAVAILABLE with Retry-After', () => {
    const failures = [
      Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' }),
      Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('x'), { code: 'ECONNRESET' }),
      Object.assign(new Error('x'), { code: 'ETIMEDOUT' }),
      new Error('Connection is closed.'),
      new Error("Stream isn't writeable and enableOfflineQueue options is false"),
      new Error('connect ECONNREFUSED 127.0.0.1:6379'),
    ];
    for (const e of failures) {
      assert.equal(isRedisUnavailable(e), true, `${e.name} ${e.message}`);
      const r = errorResponse(e);
      assert.equal(r.statusCode, 503, e.message);
      assert.equal(body(r).error.code, 'UNAVAILABLE');
      assert.equal(r.headers['retry-after'], '5');
    }
    assert.equal(isRedisUnavailable(new Error('ERR wrong number of arguments')), false);
    assert.equal(isRedisUnavailable(undefined), false);
  });
});

describe('parseWith', () => {
  it('an unknown field is named as the field, "is not a known field"', () => {
    const schema = z.object({ model: z.string() }).strict();
    assert.throws(
      () => parseWith(schema, { model: 'm', colour: 'blue' }),
      (e: unknown) => e instanceof InputError && e.field === 'colour' && e.message === 'colour: is not a known field',
    );
  });
});

describe('isJsonRequest', () => {
  it('application/json and application/*+json, any case, with parameters', () => {
    for (const t of ['application/json', 'Application/JSON', 'application/json; charset=utf-8', 'application/vnd.api+json']) {
      assert.equal(isJsonRequest({ headers: { 'content-type': t } }), true, t);
    }
    assert.equal(isJsonRequest({ headers: { 'Content-Type': 'application/json' } }), true, 'header names are case-insensitive');
    for (const t of ['text/plain', 'application/octet-stream', 'application/jsonp']) assert.equal(isJsonRequest({ headers: { 'content-type': t } }), false, t);
    assert.equal(isJsonRequest({}), false);
  });
});

describe('pathParam', () => {
  it('decodes percent-encoding, and returns a value that is not valid percent-encoding as it is', () => {
    assert.equal(pathParam({ pathParameters: { id: 'a%2Fb' } }, 'id'), 'a/b');
    assert.equal(pathParam({ pathParameters: { id: '%' } }, 'id'), '%');
    assert.equal(pathParam({ pathParameters: { id: '%zz' } }, 'id'), '%zz');
    assert.equal(pathParam({ pathParameters: {} }, 'id'), undefined);
  });
});
