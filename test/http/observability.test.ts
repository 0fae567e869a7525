/**
 * What an operator reads at 3 a.m.: the service's JSON log lines, as the real logger (src/log.ts) writes them, from the
 * real handlers, worker and audits over a real s3rver and Redis. Each line must carry the ids to correlate it (request
 * and Lambda ids, tenant, job, detector and version, audit), say how it ended, and never carry a secret.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { handler as audit } from '../../handlers/audit.js';
import { handler as checkObject } from '../../handlers/checkObject.js';
import { handler as fit } from '../../handlers/fit.js';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { loadConfig } from '../../src/config.js';
import { setDeps } from '../../src/http/deps.js';
import { getJobClient } from '../../src/http/queue-deps.js';
import { createLogger, repeatLimiter } from '../../src/log.js';
import { startWorker } from '../../src/queue/worker.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { httpEvent, parse } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { stopChild, until } from '../helpers/procs.js';
import { startRedisServer } from '../helpers/redis-server.js';
import { REDIS_URL } from '../helpers/redis.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';
import { startWorkerProcess, workerEnv } from '../helpers/workers.js';

/** A real logger (createLogger: its redaction, its base fields) whose raw lines are kept. */
function rawLog(role: string): { logger: ReturnType<typeof createLogger>; raw: string[]; lines: () => Record<string, any>[] } {
  const raw: string[] = [];
  const logger = createLogger('info', { role }, { write: (s: string) => void raw.push(s) } as never);
  return { logger, raw, lines: () => raw.map((s) => JSON.parse(s) as Record<string, any>) };
}

/** Top-level keys written more than once in a raw JSON line (JSON.parse keeps the last one silently). */
function duplicateKeys(raw: string): string[] {
  const obj = JSON.parse(raw) as Record<string, unknown>;
  return Object.keys(obj).filter((k) => raw.split(`"${k}":`).length - 1 > 1 && typeof obj[k] !== 'object');
}

test('a Redis password never reaches the log through an ioredis error (its failed command is attached to the error)', async () => {
  const srv = await startRedisServer({ appendonly: false, args: ['--requirepass', 'the-real-one'] });
  const log = rawLog('worker');
  const secret = 'wrong-pass-7f3a9c';
  const r = new Redis(`redis://:${secret}@127.0.0.1:${srv.port}`, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    // As the worker logs its connections' errors (src/queue/worker.ts) and errorResponse an unexpected one.
    r.on('error', (e) => log.logger.warn({ err: e }, 'coordinator redis connection lost; reconnecting'));
    await r.get('k').catch((e: unknown) => log.logger.error({ err: e }, 'unexpected error'));
    await until(async () => (log.raw.length >= 1 ? true : undefined), 5000, 'a logged error');
    const text = log.raw.join('');
    assert.match(text, /WRONGPASS/, 'the cause stays in the log');
    assert.doesNotMatch(text, new RegExp(secret), text);
    assert.match(text, /"command":\{"name":"hello","args":"\[redacted\]"\}/, 'the command name is kept, its arguments redacted');
  } finally {
    r.disconnect();
    await srv.stop();
  }
});

test('repeatLimiter: the first of each key at once, then one per interval with the count held back', () => {
  let now = 0;
  const allow = repeatLimiter(60_000, () => now);
  assert.equal(allow('ECONNREFUSED'), 0, 'the first is logged');
  assert.equal(allow('WRONGPASS'), 0, 'another message is logged at once too');
  for (let i = 0; i < 29; i++) {
    now += 2000; // ioredis' reconnect interval
    assert.equal(allow('ECONNREFUSED'), undefined, `repeat ${i + 1} is held back`);
  }
  now += 2000; // 60 s after the first
  assert.equal(allow('ECONNREFUSED'), 29, 'a minute later: logged, with the 29 held back');
  assert.equal(allow('ECONNREFUSED'), undefined);
  now += 60_000;
  assert.equal(allow('ECONNREFUSED'), 1);
});

test('a configuration error of an HTTP function is a JSON line at error level, naming the variable', () => {
  const script = `const { handler } = await import('./handlers/fit.ts'); const r = await handler({ routeKey: 'POST /detectors/{id}/fit', headers: {} }); process.stdout.write(String(r.statusCode));`;
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_NO_WARNINGS: '1', S3_BUCKET: 'Not_A_Bucket' };
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(out.stdout, '500', out.stderr);
  const lines = out.stderr.split('\n').filter((l) => l.startsWith('{'));
  assert.equal(lines.length, 1, out.stderr);
  const line = JSON.parse(lines[0]!);
  assert.equal(line.level, 50);
  assert.equal(line.msg, 'configuration error');
  assert.match(line.err.message, /^S3_BUCKET: /);
});

describe('log lines of requests, jobs, checks and audits (real s3rver + Redis)', () => {
  let fx: ServiceFixture;
  const http = rawLog('function');
  before(async () => {
    fx = await startServiceFixture();
    setDeps({ config: fx.config, store: fx.s3.store, logger: http.logger });
    await putModel(fx.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(fx.store, { id: 'eval', name: 'eval.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
  });
  after(() => fx.stop());

  const fitEvent = (id: string, json: unknown) => httpEvent({ path: `/detectors/${id}/fit`, route: '/detectors/{id}/fit', pathParameters: { id }, json });

  test('the access line of a request: Lambda request id, detector, the enqueued job, and a 4xx error code, field and message', async () => {
    http.raw.length = 0;
    const bad = parse(await fit(fitEvent('d1', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 1 }), { awsRequestId: 'aws-1' }));
    assert.equal(bad.status, 400);
    const ok = parse(await fit(fitEvent('d1', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 10 }), { awsRequestId: 'aws-2' }));
    assert.equal(ok.status, 202);
    const missing = parse(await jobStatus(httpEvent({ method: 'GET', path: '/jobs/nope', route: '/jobs/{id}', pathParameters: { id: 'nope' } }), { awsRequestId: 'aws-3' }));
    assert.equal(missing.status, 404);
    const [l400, l202, l404] = http.lines().filter((l) => l.msg === 'request');
    assert.deepEqual(
      { awsRequestId: l400!.awsRequestId, level: l400!.level, detector: l400!.detector, tenant: l400!.tenant, status: l400!.status, error: l400!.error },
      { awsRequestId: 'aws-1', level: 30, detector: 'd1', tenant: fx.tenant, status: 400, error: { code: 'INVALID_INPUT', field: 'nCluster', message: bad.body.error.message } },
    );
    assert.deepEqual([l202!.awsRequestId, l202!.detector, l202!.jobId, l202!.error], ['aws-2', 'd1', ok.body.jobId, undefined]);
    assert.deepEqual([l404!.awsRequestId, l404!.jobId, l404!.error], ['aws-3', 'nope', { code: 'NOT_FOUND', field: 'id', message: missing.body.error.message }]);
    for (const raw of http.raw) assert.deepEqual(duplicateKeys(raw), [], raw);
    await getJobClient().queue.obliterate({ force: true });
  });

  test("the worker's job lines: each id once per line, and the version a job made on its 'job done'", async () => {
    const wlog = rawLog('worker');
    const w = await startWorker(loadConfig({ S3_BUCKET: fx.s3.s3.bucket, S3_ENDPOINT: fx.s3.s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, QUEUE_PREFIX: fx.queuePrefix }), { handleSignals: false, logger: wlog.logger });
    try {
      const jobId = parse(await fit(fitEvent('dw', { model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 10, seed: 0 }))).body.jobId as string;
      const done = await until(async () => wlog.raw.find((s) => s.includes('"msg":"job done"') && s.includes(jobId)), 60_000, 'job done');
      assert.deepEqual(duplicateKeys(done), [], done);
      const line = JSON.parse(done);
      assert.deepEqual([line.jobId, line.kind, line.tenant, line.detector, line.version], [jobId, 'fit', fx.tenant, 'dw', 1]);
      assert.ok(typeof line.seconds === 'number');
      for (const raw of wlog.raw) assert.deepEqual(duplicateKeys(raw), [], raw);
    } finally {
      await w.close();
    }
  });

  test('checkObject: one line per checked object (tenant, detector, version, outcome, duration); a rejection names code and field at warn', async () => {
    await fx.runJob('cal-fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 10, seed: 0 });
    await fx.runJob('cal-cal', 'calibrate', { detector: 'det', dataset: 'eval', oodLabels: [...Array(50).fill(0), ...Array(50).fill(1)] });
    const eval1 = await readFile(`${SEED}concept_test_lenet1.npy`);
    await fx.s3.store.put(`incoming/${fx.tenant}/det/ok.npy`, new Uint8Array(eval1));
    await fx.s3.store.put(`incoming/${fx.tenant}/det/bad.png`, new TextEncoder().encode('not a png'));
    http.raw.length = 0;
    const rec = (key: string) => ({ eventName: 'ObjectCreated:Put', s3: { bucket: { name: fx.s3.s3.bucket }, object: { key } } });
    const out = await checkObject({ Records: [rec(`incoming/${fx.tenant}/det/ok.npy`), rec(`incoming/${fx.tenant}/det/bad.png`)] }, { awsRequestId: 'aws-check' });
    assert.equal(out.processed.length, 1);
    const checked = http.lines().filter((l) => l.msg === 'incoming object checked');
    assert.equal(checked.length, 1, http.raw.join(''));
    const c = checked[0]!;
    assert.deepEqual(
      [c.level, c.awsRequestId, c.key, c.tenant, c.detector, c.detectorVersion, c.n, c.flagged],
      [30, 'aws-check', `incoming/${fx.tenant}/det/ok.npy`, fx.tenant, 'det', 2, 100, out.processed[0]!.flagged],
    );
    assert.ok(typeof c.ms === 'number');
    const [rj] = http.lines().filter((l) => l.msg === 'incoming object rejected');
    assert.deepEqual([rj!.level, rj!.awsRequestId, rj!.code, rj!.field], [40, 'aws-check', 'INVALID_INPUT', 'files[0]']);
  });

  test('audit: its done line names the detector and version it scored with, and how long it took', async () => {
    await fx.store.put('in/a/w.npy', new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)));
    await fx.store.put('audits/a1/config.json', new TextEncoder().encode(JSON.stringify({ detector: 'det', prefix: 'in/a/', alpha: 0.01 })));
    http.raw.length = 0;
    const r = await audit({ audit: 'a1' }, { awsRequestId: 'aws-audit', getRemainingTimeInMillis: () => 600_000 });
    assert.equal(r.audits[0]!.error, undefined);
    const [done] = http.lines().filter((l) => l.msg === 'audit run done');
    assert.deepEqual([done!.awsRequestId, done!.tenant, done!.audit, done!.detector, done!.detectorVersion], ['aws-audit', fx.tenant, 'a1', 'det', 2]);
    assert.ok(typeof done!.ms === 'number' && done!.ms >= 0);
  });
});

test('a worker process says which node and process it is on every line (a stalled job is reported by another worker)', async () => {
  const fx = await startServiceFixture();
  const c = await startWorkerProcess('obs-worker', workerEnv(fx.config));
  try {
    const ready = c.output().split('\n').find((l) => l.includes('"msg":"worker ready"'))!;
    const line = JSON.parse(ready);
    assert.equal(line.pid, c.proc.pid);
    assert.equal(typeof line.hostname, 'string');
    assert.ok(line.hostname.length > 0);
  } finally {
    await stopChild(c);
    await fx.stop();
  }
});
