/**
 * A recording HTTP proxy on loopback in front of a real S3 endpoint (s3rver): every request is forwarded unchanged
 * (method, path and query, raw headers, body; both directions streamed, nothing buffered) and its method, path, query,
 * copy source and response status are recorded (with the names of its x-amz-* headers). Point code under test at `endpoint` instead of the upstream's to
 * learn which S3 calls it really makes (test/e2e/iam-coverage.test.ts maps them to IAM actions).
 *
 * The SDK signs the Host header it sends (the proxy's); s3rver runs with `allowMismatchedSignatures` and does not
 * check signatures, so forwarding the request as it came is enough.
 *
 * For fault injection it can also stop a client at an exact request and take the endpoint away: `holdFrom` holds
 * (neither forwards nor answers) the first request a predicate accepts and every one after it, and `down` drops every
 * connection and stops listening, so the client sees what a crashed server gives (its held request reset or hung up,
 * new connections refused) until `up` listens again on the same port (test/helpers/s3.ts `startRestartableS3`).
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
  /**
   * The upstream's status; 502 when the upstream could not be reached; 499 when the connection closed unanswered (the
   * client went away, or `down` dropped it); undefined while in flight.
   */
  status?: number;
}

export interface S3Recorder {
  /** `http://127.0.0.1:<port>`: use as S3_ENDPOINT. */
  readonly endpoint: string;
  /** Requests not answered yet. */
  inFlight(): number;
  /** Every request recorded since the last take (in arrival order), then forgets them. */
  take(): RecordedRequest[];
  /**
   * Arms the proxy: the first request from now on that `match` accepts is held, not forwarded and not answered, and so
   * is every later request, until `down()`. Resolves with that request as soon as its headers have arrived; rejects if
   * the proxy goes down first. One hold at a time.
   */
  holdFrom(match: (r: RecordedRequest) => boolean): Promise<RecordedRequest>;
  /** Holds every request from now on, as `holdFrom` does after its match (requests already forwarded go on). */
  freeze(): void;
  /**
   * Takes the endpoint away as a crashed server's would be: stops listening (connections are refused) and destroys
   * every open connection, held requests and requests in flight included (their clients see a reset or a hang-up,
   * never an answer). Resolves once they are all closed.
   */
  down(): Promise<void>;
  /** Forwards everything again, listening again on the same port after `down`. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3Recorder(upstream: string): Promise<S3Recorder> {
  const up = new URL(upstream);
  if (up.protocol !== 'http:') throw new Error(`s3-recorder: upstream must be http:, got ${upstream}`);
  let agent = new Agent({ keepAlive: true });
  let recorded: RecordedRequest[] = [];
  let pending = 0;
  /** Set by `freeze` or a `holdFrom` match, cleared by `up`: requests are held, and a failing upstream is not answered. */
  let frozen = false;
  let armed: { match: (r: RecordedRequest) => boolean; resolve: (r: RecordedRequest) => void; reject: (e: Error) => void } | undefined;

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
    if (!frozen && armed?.match(rec)) {
      frozen = true;
      armed.resolve(rec);
      armed = undefined;
    }
    if (frozen) {
      // Held: the body is not read, nothing is sent back; `down` destroys the connection.
      res.on('close', () => finish(499));
      return;
    }
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
      // Going down (the upstream killed under a frozen proxy): the client's connection drops, as the upstream's would.
      if (frozen) {
        res.destroy();
        return;
      }
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
  const listen = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    inFlight: () => pending,
    take() {
      const out = recorded;
      recorded = [];
      return out;
    },
    holdFrom(match) {
      if (armed) return Promise.reject(new Error('s3-recorder: a hold is already armed'));
      return new Promise<RecordedRequest>((resolve, reject) => (armed = { match, resolve, reject }));
    },
    freeze() {
      frozen = true;
    },
    async down() {
      frozen = true;
      armed?.reject(new Error('s3-recorder: went down before a request to hold arrived'));
      armed = undefined;
      // Not listening any more before the connections go, so that none is accepted in between.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      agent.destroy();
    },
    async up() {
      frozen = false;
      if (server.listening) return;
      agent = new Agent({ keepAlive: true });
      await listen();
    },
    async stop() {
      armed?.reject(new Error('s3-recorder: stopped before a request to hold arrived'));
      armed = undefined;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
