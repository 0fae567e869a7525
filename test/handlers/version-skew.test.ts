/**
 * Rolling deploys: old and new code against one bucket and one queue. A detector saved by another imagedrift version
 * is loaded with a logged warning by the functions too, and a job only a newer function could have enqueued fails on
 * an older worker with an error saying so (the client's request was valid).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { handler as jobStatus } from '../../handlers/jobStatus.js';
import { handler as predict } from '../../handlers/predict.js';
import { loadConfig } from '../../src/config.js';
import { setDeps } from '../../src/http/deps.js';
import { getJobClient } from '../../src/http/queue-deps.js';
import { decodeNpy } from '../../src/io/npy.js';
import { createLogger } from '../../src/log.js';
import { startWorker } from '../../src/queue/worker.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { httpEvent, parse } from '../helpers/http-event.js';
import { REPO, SEED } from '../helpers/paths.js';
import { until } from '../helpers/procs.js';
import { REDIS_URL } from '../helpers/redis.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

describe('version skew between functions, workers and stored state (real s3rver + Redis)', () => {
  let fx: ServiceFixture;
  before(async () => {
    fx = await startServiceFixture();
    await putModel(fx.store, { id: 'lenet5', bytes: new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`)) });
    await putDataset(fx.store, { id: 'eval', name: 'eval.npy', bytes: new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)) });
  });
  after(() => fx.stop());

  test('a sync predict logs, once per version, that the detector was saved by another imagedrift', async () => {
    await fx.runJob('skew-fit', 'fit', { detector: 'old', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, seed: 0 });
    // As an older release wrote it: the same manifest, stamped with its version.
    const key = 'detectors/old/v1/manifest.json';
    const m = JSON.parse(new TextDecoder().decode(await fx.store.get(key)));
    await fx.store.put(key, new TextEncoder().encode(JSON.stringify({ ...m, libraryVersion: '0.0.9' })));
    // The real logger's raw lines: the request's logger binds the path's detector, and a warning that named it again
    // would write `"detector"` twice (JSON.parse keeps the last one silently).
    const raw: string[] = [];
    const logger = createLogger('warn', { role: 'function' }, { write: (s: string) => void raw.push(s) } as never);
    setDeps({ config: fx.config, store: fx.s3.store, logger });
    const a = decodeNpy(new Uint8Array(await readFile(`${SEED}concept_test_lenet1.npy`)));
    const px = Uint8Array.from(a.data.subarray(0, 1024), (v) => Math.round(v * 255));
    const png = Buffer.from(await sharp(Buffer.from(px), { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer()).toString('base64');
    const ev = httpEvent({ path: '/detectors/old/predict', route: '/detectors/{id}/predict', pathParameters: { id: 'old' }, json: { images: [png], threshold: 1 } });
    for (let i = 0; i < 2; i++) assert.equal(parse(await predict(ev)).status, 200);
    const warned = raw.filter((l) => /detector was saved by imagedrift 0\.0\.9; this is /.test(l)).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(warned.length, 1, raw.join(''));
    assert.equal(warned[0]!.detector, 'old');
    assert.equal(warned[0]!.version, 1);
    const line = raw.find((l) => l.includes('detector was saved by imagedrift 0.0.9'))!;
    assert.equal(line.split('"detector":').length - 1, 1, `one "detector" key: ${line}`);
  });

  test('a job with a field or name this worker does not know fails saying a newer imagedrift enqueued it', async () => {
    const w = await startWorker(
      loadConfig({ S3_BUCKET: fx.s3.s3.bucket, S3_ENDPOINT: fx.s3.s3.endpoint, S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER', REDIS_URL, QUEUE_PREFIX: fx.queuePrefix, LOG_LEVEL: 'silent' }),
      { handleSignals: false, logger: createLogger('silent') },
    );
    try {
      // Added to the queue as a newer function's JobClient would: its own schema accepted these.
      const q = getJobClient().queue;
      const newer = await q.add('fit', { detector: 'n', model: 'lenet5', dataset: 'eval', layer: 'output', nCluster: 5, whitening: 'zca', tenant: fx.tenant }, { jobId: 'skew-field' });
      const renamed = await q.add('drift', { detector: 'n', dataset: 'eval', tenant: fx.tenant }, { jobId: 'skew-name' });
      for (const [job, field, said] of [
        [newer, 'payload', /holds "whitening", which this worker does not know; the job was enqueued by a newer imagedrift than this worker: upgrade every worker before the functions/],
        [renamed, 'job.name', /unknown job 'drift'; this worker runs fit, calibrate and predict \(the job was enqueued by a newer imagedrift/],
      ] as const) {
        const s = await until(async () => ((await q.getJobState(job.id!)) === 'failed' ? parse(await jobStatus(httpEvent({ method: 'GET', path: `/jobs/${job.id}`, pathParameters: { id: job.id! } }))) : undefined), 30_000, `${job.id} to fail`);
        assert.equal(s.body.error.code, 'INVALID_INPUT');
        assert.equal(s.body.error.field, field);
        assert.match(s.body.error.message, said);
      }
      assert.deepEqual((await fx.keys()).filter((k) => k.startsWith('detectors/n/')), [], 'nothing fitted');
    } finally {
      await w.close();
    }
  });
});
