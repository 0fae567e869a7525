/**
 * A recording HTTP proxy on loopback in front of a real S3 endpoint (s3rver): every request is forwarded unchanged
 * (method, path and query, raw headers, body; both directions streamed, nothing buffered) and its method, path, query,
 * copy source and response status are recorded (with the names of its x-amz-* headers). Point code under test at `endpoint` instead of the upstream's to
 * learn which S3 calls it really makes (test/e2e/iam-coverage.test.ts maps them to IAM actions).
 *
 * The SDK signs the Host header it sends (the proxy's); s3rver runs with `allowMismatchedSignatures` and does not
 * check signatures, so forwarding the request as it came is enough.
 */
import { createServer, request, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  /** The request target's path, still URL-encoded, e.g. `/bucket/tenants/t/a%20b.json`. */
  readonly path: string;
  /** Query parameters in order, decoded (`list-type=2`, `prefix=…`, `X-Amz-Signature=…`). */
  readonly query: readonly (readonly [string, string])[];
  /** `x-amz-copy-source`, when sent (CopyObject, UploadPartCopy). */
  readonly copySource?: string;
  /** Names (lower case) of the `x-amz-*` headers sent: some need permissions of their own (x-amz-acl, x-amz-tagging, …). */
  readonly amzHeaders?: readonly string[];
  /** The upstream's status; 502 when the upstream could not be reached; undefined while in flight. */
  status?: number;
}

export interface S3Recorder {
  /** `http://127.0.0.1:<port>`: use as S3_ENDPOINT. */
  readonly endpoint: string;
  /** Requests not answered yet. */
  inFlight(): number;
  /** Every request recorded since the last take (in arrival order), then forgets them. */
  take(): RecordedRequest[];
  stop(): Promise<void>;
}

export async function startS3Recorder(upstream: string): Promise<S3Recorder> {
  const up = new URL(upstream);
  if (up.protocol !== 'http:') throw new Error(`s3-recorder: upstream must be http:, got ${upstream}`);
  const agent = new Agent({ keepAlive: true });
  let recorded: RecordedRequest[] = [];
  let pending = 0;

  const forward = (req: IncomingMessage, res: ServerResponse, expectsContinue = false): void => {
    const target = req.url ?? '/';
    const u = new URL(target, 'http://proxy.invalid');
    const copy = req.headers['x-amz-copy-source'];
    const amz = Object.keys(req.headers).filter((h) => h.startsWith('x-amz-'));
    const rec: RecordedRequest = {
      method: req.method ?? 'GET',
      path: u.pathname,
      query: [...u.searchParams.entries()],
      ...(typeof copy === 'string' ? { copySource: copy } : {}),
      ...(amz.length ? { amzHeaders: amz.sort() } : {}),
    };
    recorded.push(rec);
    pending++;
    let done = false;
    const finish = (status: number): void => {
      if (done) return;
      done = true;
      rec.status ??= status;
      pending--;
    };
    // The raw header list (names and values exactly as sent, duplicates kept) goes out unchanged, Host included.
    const out = request({ host: up.hostname, port: up.port, method: req.method, path: target, headers: req.rawHeaders, agent });
    out.on('response', (r) => {
      rec.status = r.statusCode;
      res.writeHead(r.statusCode ?? 502, r.statusMessage, r.rawHeaders);
      r.pipe(res);
      r.on('end', () => finish(r.statusCode ?? 502));
      r.on('error', () => res.destroy());
    });
    out.on('error', () => {
      if (!res.headersSent) {
        rec.status = 502;
        res.writeHead(502, { 'content-type': 'text/plain' }).end('s3-recorder: upstream unreachable');
      } else res.destroy();
      finish(502);
    });
    // The client went away: so does the upstream request.
    res.on('close', () => {
      if (!res.writableFinished) out.destroy();
      finish(rec.status ?? 499);
    });
    if (expectsContinue) {
      // The client waits for the upstream's 100 Continue before it sends the body: send the headers now, relay it.
      out.on('continue', () => res.writeContinue());
      out.flushHeaders();
    }
    req.pipe(out);
  };

  const server: Server = createServer(forward);
  // Expect: 100-continue is answered by the upstream (the header is forwarded); Node would otherwise answer it here.
  server.on('checkContinue', (req, res) => forward(req, res, true));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    inFlight: () => pending,
    take() {
      const out = recorded;
      recorded = [];
      return out;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
