/**
 * Issue 5, part 4: the service path. A warm 1-image predict through the predict handler called directly and through
 * `serverless offline` over loopback HTTP (autocannon), and BullMQ throughput of one worker on a 10k-image predict job.
 * Uses the same fixtures as the handler and e2e tests (s3rver on loopback, the machine's Redis under a unique prefix).
 */
import { spawnSync } from 'node:child_process';
import autocannon from 'autocannon';
import { handler as predict } from '../../handlers/predict.js';
import { getJobClient } from '../../src/http/queue-deps.js';
import { encodeNpy } from '../../src/io/npy.js';
import { putDataset } from '../../src/service/datasets.js';
import { httpEvent, parse } from '../../test/helpers/http-event.js';
import { startChild, stopChild, type Child } from '../../test/helpers/procs.js';
import { startServiceFixture, type ServiceFixture } from '../../test/helpers/service.js';
import { workerEnv } from '../../test/helpers/workers.js';
import { PATHS, readBytes, REPO } from '../lib/data.js';
import { API_HEADERS, seedDetector, startOffline, type Offline } from '../lib/offline.js';
import { micro } from '../lib/micro.js';
import type { BenchContext, Goal, SectionResult } from '../lib/report.js';
import { table } from '../lib/report.js';
import { fmtNum, fmtSummary, fmtTime, summarise } from '../lib/stats.js';

const P50_GOAL_MS = 15;
const P99_GOAL_MS = 50;
const JOB_IMAGES = 10_000;

function redisUp(): boolean {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', '6379', 'ping'], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 && r.stdout.trim() === 'PONG';
}

/** One seed eval image (1×1×32×32 float32 in [0,1]) as a .npy, base64 — the request body of a 1-image predict. */
function oneImageBody(ctx: BenchContext): string {
  const ev = ctx.a.w.eval;
  return JSON.stringify({ images: [Buffer.from(encodeNpy(ev.data.slice(3 * 1024, 4 * 1024), [1, 1, 32, 32], 'float32')).toString('base64')] });
}

const latencyGoals = (where: string, p50ms: number | null, p99ms: number | null, why = ''): Goal[] => [
  { section: '4', goal: `Warm 1-image predict, ${where}: p50 ≤ ${P50_GOAL_MS} ms`, met: p50ms === null ? null : p50ms <= P50_GOAL_MS, measured: p50ms === null ? why : `p50 ${p50ms.toFixed(1)} ms` },
  { section: '4', goal: `Warm 1-image predict, ${where}: p99 ≤ ${P99_GOAL_MS} ms`, met: p99ms === null ? null : p99ms <= P99_GOAL_MS, measured: p99ms === null ? why : `p99 ${p99ms.toFixed(1)} ms` },
];

export async function serviceSection(ctx: BenchContext): Promise<SectionResult> {
  const { runs, log } = ctx;
  if (!redisUp()) {
    const why = 'not measured yet: Redis is not answering on 127.0.0.1:6379';
    return { title: '4. Service path', markdown: `**${why}.**`, goals: [...latencyGoals('direct handler call', null, null, why), ...latencyGoals('serverless-offline HTTP', null, null, why), { section: '4', goal: `BullMQ, one worker: ≥ 5,000 images/s on a ${JOB_IMAGES.toLocaleString('en-US')}-image predict job`, met: null, measured: why }] };
  }
  const md: string[] = [];
  const goals: Goal[] = [];
  let fx: ServiceFixture | undefined;
  let offline: Offline | undefined;
  let worker: Child | undefined;
  try {
    log('service: s3rver + Redis fixture, fit + calibrate a detector (seed example, output, mindarmour)');
    fx = await startServiceFixture();
    const store = fx.store; // the fixture tenant's view, which its API key reaches
    await seedDetector(fx, ctx.model, ctx.a.w.evalLabels);
    await putDataset(store, { id: 'mnist-test', name: 't10k-images-idx3-ubyte.gz', bytes: readBytes(PATHS.mnistTest) });
    const body = oneImageBody(ctx);

    // 1. Direct handler call (as Lambda would invoke it), warm.
    log('service: direct handler call, tinybench');
    const event = httpEvent({ path: '/detectors/det/predict', route: '/detectors/{id}/predict', pathParameters: { id: 'det' }, body, headers: { 'content-type': 'application/json' } });
    const first = parse(await predict(event));
    if (first.status !== 200) throw new Error(`predict handler answered ${first.status}: ${JSON.stringify(first.body)}`);
    const direct = (await micro({ handler: async () => { await predict(event); } }, { timeMs: 5000, iterations: 200 })).handler!;
    goals.push(...latencyGoals('direct handler call', direct.median * 1000, direct.p99 * 1000));
    md.push(
      '**Warm 1-image predict, direct handler call** (`handlers/predict.ts` `handler(event)` with an API Gateway v2 event; body: one 1×1×32×32 float32 `.npy`, base64 in JSON; the detector is read from s3rver on each call, the ORT session is cached): tinybench, ≥ 200 calls over ≥ 5 s after warm-up.',
      '',
      table(['p50', 'p99', 'min', 'max', 'calls'], [[fmtTime(direct.median), fmtTime(direct.p99), fmtTime(direct.min), fmtTime(direct.max), String(direct.n)]]),
      '',
    );

    // 2. serverless offline over loopback HTTP, autocannon with one connection (latency, not throughput).
    log('service: serverless offline (esbuild bundling, may take a minute)');
    offline = await startOffline(fx);
    const url = `${offline.base}/detectors/det/predict`;
    const headers = { ...API_HEADERS };
    const warm = await fetch(url, { method: 'POST', body, headers });
    if (warm.status !== 200) throw new Error(`serverless offline predict answered ${warm.status}: ${(await warm.text()).slice(0, 500)}`);
    for (let i = 0; i < 20; i++) await (await fetch(url, { method: 'POST', body, headers })).arrayBuffer();
    log('service: autocannon, 1 connection, 15 s');
    const ac = await autocannon({ url, method: 'POST', body, headers, connections: 1, duration: 15 });
    const errors = ac.errors + ac.non2xx;
    goals.push(...latencyGoals('serverless-offline HTTP', ac.latency.p50, ac.latency.p99));
    md.push(
      `**Warm 1-image predict through \`serverless offline\`** (serverless-offline + serverless-esbuild, the function bundled as for Lambda; loopback HTTP): autocannon, 1 connection, 15 s after 21 warm-up requests; ${ac.requests.total} requests, ${errors} errors or non-2xx.`,
      '',
      table(['p50', 'p90', 'p99', 'max', 'mean', 'req/s'], [[`${ac.latency.p50} ms`, `${ac.latency.p90} ms`, `${ac.latency.p99} ms`, `${ac.latency.max} ms`, `${ac.latency.mean.toFixed(1)} ms`, fmtNum(ac.requests.average)]]),
      '',
      'autocannon reports whole milliseconds. The gap to the direct call is serverless-offline\'s own per-request work (API Gateway emulation, Lambda context, its worker-thread invocation) on top of the handler.',
      '',
    );
    await offline.stop();
    offline = undefined;

    // 3. BullMQ: one worker process, a 10k-image predict job (the MNIST test set, gzipped IDX in the bucket).
    log('service: BullMQ worker, 10k-image predict jobs');
    // started here rather than with test/helpers' startWorkerProcess, so that `finally` stops it even if it never gets ready
    worker = startChild(process.execPath, ['--import', 'tsx', 'infra/worker.ts'], { cwd: REPO, env: workerEnv(fx.config, { WORKER_CONCURRENCY: '1' }), name: 'bench worker' });
    await worker.waitFor(/"msg":"worker ready"/, 120_000);
    const client = getJobClient();
    const runJob = async (): Promise<number> => {
      const t0 = performance.now();
      const id = await client.enqueue('predict', { detector: 'det', dataset: 'mnist-test' }, fx!.tenant);
      for (;;) {
        const s = await client.status(id, store, fx!.tenant);
        if (s.state === 'completed') break;
        if (s.state === 'failed') throw new Error(`predict job failed: ${JSON.stringify(s.error)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return (performance.now() - t0) / 1000;
    };
    await runJob(); // warm-up: the worker loads the model and creates its ORT session
    const jobT: number[] = [];
    for (let r = 0; r < runs; r++) jobT.push(await runJob());
    const js = summarise(jobT);
    const rate = JOB_IMAGES / js.median;
    goals.push({ section: '4', goal: `BullMQ, one worker: ≥ 5,000 images/s on a ${JOB_IMAGES.toLocaleString('en-US')}-image predict job`, met: rate >= 5000, measured: `${fmtNum(rate)} images/s (${fmtNum(JOB_IMAGES / js.max)}–${fmtNum(JOB_IMAGES / js.min)}); job ${fmtTime(js.median)}` });
    md.push(
      `**BullMQ throughput, one worker** (\`infra/worker.ts\` child process, concurrency 1): a predict job over the ${JOB_IMAGES.toLocaleString('en-US')} MNIST test images stored as gzipped IDX in s3rver, timed from \`enqueue\` to the job's \`completed\` state (10 ms polling), ${runs} jobs after a warm-up job. The job reads the dataset and detector from S3, decodes, preprocesses, extracts, scores, thresholds and writes \`jobs/<id>/result.json\`.`,
      '',
      table(['job time', 'throughput'], [[fmtSummary(js), `${fmtNum(rate)} images/s`]]),
      '',
    );
  } catch (e) {
    const why = `not measured yet: ${(e as Error).message.split('\n')[0]!.slice(0, 300)}`;
    log(`service section: ${why}`);
    md.push(`**${why}**`);
    const have = new Set(goals.map((g) => g.goal));
    for (const g of [...latencyGoals('direct handler call', null, null, why), ...latencyGoals('serverless-offline HTTP', null, null, why), { section: '4', goal: `BullMQ, one worker: ≥ 5,000 images/s on a ${JOB_IMAGES.toLocaleString('en-US')}-image predict job`, met: null, measured: why }]) {
      if (!have.has(g.goal)) goals.push(g);
    }
  } finally {
    await offline?.stop();
    await stopChild(worker);
    await fx?.stop();
  }
  return { title: '4. Service path', markdown: md.join('\n'), goals };
}
