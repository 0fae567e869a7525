/** S3Store specifics over a real s3rver: location, content type, presigned PUT, error mapping (real HTTP servers). */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { ConflictError, InputError, isTransientError, StorageError, TransientStorageError } from '../../src/core/errors.js';
import { createS3Client, S3Store } from '../../src/storage/s3-store.js';
import { startTestS3, type TestS3 } from '../helpers/s3.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A loopback HTTP server that answers every request with `status` and an S3-style XML error. */
async function errorServer(status: number, code: string): Promise<{ endpoint: string; hits: () => number; close(): Promise<void> }> {
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    req.resume();
    res.writeHead(status, { 'content-type': 'application/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} from the test server</Message></Error>`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, hits: () => hits, close: () => new Promise((r) => server.close(() => r())) };
}

function storeAt(endpoint: string, bucket = 'b'): S3Store {
  return new S3Store({ client: createS3Client({ endpoint, forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' }, maxAttempts: 1 }), bucket });
}

describe('S3Store over s3rver', () => {
  let t: TestS3;
  before(async () => {
    t = await startTestS3();
  });
  after(async () => {
    await t?.stop();
  });

  it('names its location s3://bucket', () => {
    assert.equal(t.store.location, 's3://test-bucket');
  });

  it('stores the content type', async () => {
    const key = `${t.prefix()}m.json`;
    await t.store.put(key, enc('{}'), { contentType: 'application/json' });
    const res = await t.store.client.send(new HeadObjectCommand({ Bucket: t.store.bucket, Key: key }));
    assert.equal(res.ContentType, 'application/json');
  });

  it('lists more keys than one page when no limit is given, and limit caps a listing', async () => {
    const p = t.prefix();
    await Promise.all(Array.from({ length: 12 }, (_, i) => t.store.put(`${p}${String(i).padStart(2, '0')}`, enc('x'))));
    assert.equal((await t.store.list(p)).length, 12);
    assert.deepEqual((await t.store.list(p, { limit: 3 })).map((o) => o.key.slice(p.length)), ['00', '01', '02']);
    assert.deepEqual((await t.store.list(p, { limit: 3, after: `${p}10` })).map((o) => o.key.slice(p.length)), ['11']);
  });

  it('presignPut gives a URL that a plain HTTP PUT can use', async () => {
    const key = `${t.prefix()}uploaded.bin`;
    const body = new Uint8Array([1, 2, 3, 250, 251]);
    const url = await t.store.presignPut(key, { expiresIn: 60, contentLength: body.length });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/test-bucket\//);
    assert.match(url, /X-Amz-Signature=/);
    assert.match(url, /X-Amz-Expires=60/);
    const res = await fetch(url, { method: 'PUT', body });
    assert.equal(res.status, 200, await res.text());
    assert.deepEqual(Array.from((await t.store.get(key))!), Array.from(body));
  });

  it('presignPut validates the key and expiry', async () => {
    await assert.rejects(t.store.presignPut('../x', { expiresIn: 60 }), InputError);
    await assert.rejects(t.store.presignPut('ok/key', { expiresIn: 0 }), (e: unknown) => e instanceof InputError && e.field === 'expiresIn');
  });

  it('a missing bucket is a non-transient StorageError, not "missing object"', async () => {
    const other = new S3Store({ client: t.store.client, bucket: 'no-such-bucket' });
    const err = await other.get('a/b').then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StorageError && !isTransientError(err), String(err));
    assert.match((err as StorageError).message, /NoSuchBucket/);
  });

  it('ifNoneMatch on an existing key is a ConflictError', async () => {
    const key = `${t.prefix()}once`;
    await t.store.put(key, enc('1'), { ifNoneMatch: true });
    await assert.rejects(t.store.put(key, enc('2'), { ifNoneMatch: true }), ConflictError);
  });

  it('ifMatch sends If-Match with the quoted ETag, for AWS S3 to enforce atomically (s3rver ignores it)', async () => {
    const key = `${t.prefix()}ptr.json`;
    await t.store.put(key, enc('{"v":1}'));
    const etag = (await t.store.head(key))!.etag!;
    const sent: Record<string, string>[] = [];
    t.store.client.middlewareStack.add(
      (next) => async (args) => {
        const req = args.request as { method?: string; headers?: Record<string, string> };
        if (req.method === 'PUT') sent.push({ ...req.headers });
        return next(args);
      },
      { step: 'finalizeRequest', name: 'capturePutHeaders' },
    );
    try {
      await t.store.put(key, enc('{"v":2}'), { ifMatch: etag });
    } finally {
      t.store.client.middlewareStack.remove('capturePutHeaders');
    }
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!['if-match'], `"${etag}"`);
  });
});

describe('S3Store error mapping against real HTTP endpoints', () => {
  it('connection refused is transient', async () => {
    const srv = await errorServer(500, 'InternalError');
    const endpoint = srv.endpoint;
    await srv.close(); // nothing listens on this port any more
    const err = await storeAt(endpoint).get('a/b').then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof TransientStorageError, String(err));
    assert.equal(err.transient, true);
    assert.equal(err.code, 'STORAGE_ERROR');
    assert.match(err.message, /ECONNREFUSED/);
  });

  for (const [status, code, transient] of [
    [503, 'SlowDown', true],
    [500, 'InternalError', true],
    [403, 'AccessDenied', false],
  ] as const) {
    it(`HTTP ${status} ${code} is ${transient ? '' : 'not '}transient (get, put, list)`, async () => {
      const srv = await errorServer(status, code);
      try {
        const store = storeAt(srv.endpoint);
        for (const call of [() => store.get('a/b'), () => store.put('a/b', enc('x')), () => store.list('a/')]) {
          const err = await call().then(
            () => assert.fail('expected an error'),
            (e: unknown) => e,
          );
          assert.ok(err instanceof StorageError, String(err));
          assert.equal(isTransientError(err), transient, (err as Error).message);
          assert.match((err as Error).message, new RegExp(`${code}|${status}`));
        }
        assert.ok(srv.hits() >= 3);
      } finally {
        await srv.close();
      }
    });
  }

  it("S3's 412 to a conditional PUT is a ConflictError saying the object changed (a server that enforces If-Match)", async () => {
    // HEAD answers the ETag the writer holds (so the check before the write passes); the PUT loses the race, as on AWS
    // when another write lands between the two.
    const server: Server = createServer((req, res) => {
      req.resume();
      if (req.method === 'HEAD') {
        res.writeHead(200, { etag: '"abc"', 'content-length': '7' }).end();
        return;
      }
      res.writeHead(req.headers['if-match'] === '"abc"' ? 412 : 500, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const store = storeAt(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      await assert.rejects(store.put('a/ptr.json', enc('{"v":2}'), { ifMatch: 'abc' }), (e: unknown) => e instanceof ConflictError && /a\/ptr\.json: changed since it was read/.test(e.message));
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a 404 on get/head is "missing", not an error', async () => {
    const srv = await errorServer(404, 'NoSuchKey');
    try {
      const store = storeAt(srv.endpoint);
      assert.equal(await store.get('a/b'), undefined);
      assert.equal(await store.head('a/b'), undefined);
    } finally {
      await srv.close();
    }
  });
});
