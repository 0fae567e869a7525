/**
 * `npm run soak`: do the long-lived processes leak? Two phases, each sampled by benchmarks/children/soak-probe.mjs.
 *
 * - Worker: a real worker process, started as deployed (`node dist/infra/worker.js`, built by `npm run build`, plus
 *   `--expose-gc` and the probe; `--worker-from-sources`: `node --import tsx infra/worker.ts`), against a
 *   real s3rver and the machine's Redis, each behind a TCP fault proxy on loopback (benchmarks/lib/fault-proxy.ts)
 *   that injects a fault every `--drop-every` seconds, in turn: one Redis connection reset, one S3 connection reset, S3
 *   unreachable for 3 s, Redis unreachable for 3 s; so reconnects and retries (SDK, ioredis and BullMQ attempts)
 *   happen. None is injected in the 6 s before a sample. Rounds of fit, calibrate
 *   and predict jobs over 3 tenants × 6 detectors, on 6 distinct model files and two layers (12 ORT sessions, more
 *   than the 8 the extractor cache keeps, so it evicts). After each round, with the queue drained, the probe samples
 *   the worker (open fds, threads, heap after a forced GC, RSS, active handles and timers, ORT sessions open) and the
 *   driver counts the worker's Redis connections in CLIENT LIST.
 * - Functions: thousands of in-process predict calls through the predict handler (benchmarks/children/soak-functions.ts),
 *   over 12 detectors with 12 model files (more than the caches' 8), sampled the same way.
 *
 * Verdicts use the second half of each phase's samples (the first half is warm-up): the least-squares slope per 1,000
 * jobs (or calls). A count (fds, threads, Redis clients) fails when it grows: its slope is positive and even its lowest
 * value over the last quarter of the samples is above its median over the quarter before (a leak raises every later
 * sample; a socket open at one sample and closed at the next does not). The heap after GC fails
 * when its slope exceeds `--heap-bound` KiB per 1,000; the caches fail above their bound of 8. RSS is reported, not
 * judged (glibc keeps freed large buffers; see BENCHMARKS.md "Soak"). Exits 1 on any failed verdict, any failed job or
 * any predict call not answered 200.
 *
 *   node --import tsx benchmarks/soak.ts [--minutes 10] [--function-calls 3000] [--concurrency 2] [--drop-every 15]
 *                                        [--mmap-threshold <bytes>] [--heap-bound 1024] [--json <file>]
 *                                        [--heap-snapshots <jobs,…>] [--worker-from-sources]
 *
 * `--minutes` is the worker phase's length; the functions phase adds 2–3 minutes per 3,000 calls on this machine.
 * `--mmap-threshold` sets MALLOC_MMAP_THRESHOLD_ in both children's environment (glibc: allocations of that size or
 * more get their own mapping, returned to the system when freed). `--heap-snapshots 90,300` makes the worker write a
 * V8 heap snapshot (Node's --heapsnapshot-signal) at the first sample after each of those job counts and at its last
 * sample, into a directory that is logged and kept, to compare by constructor (BENCHMARKS.md "Soak"). From sources, each
 * fit's thread registers tsx's loader, whose nested hooks thread Node 20 never unregisters (src/service/threads.ts):
 * about 1.3 KiB of heap per fit that the deployed worker does not have. Do not run `npm run soak` in a clone whose
 * node_modules is a symlink to another checkout's (ensure-deps would reinstall it); call this file directly.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.js';
import { InputError } from '../src/core/errors.js';
import { mulberry32 } from '../src/core/random.js';
import { JobClient } from '../src/queue/client.js';
import type { JobName } from '../src/queue/names.js';
import { putDataset, putModel } from '../src/service/datasets.js';
import { tenantStore } from '../src/storage/tenant-store.js';
import { parseLogLines } from '../test/helpers/faults.js';
import { modelVariant } from '../test/helpers/model-variants.js';
import { sleep, stopChild, type Child } from '../test/helpers/procs.js';
import { cleanupPrefix, connectRedis, REDIS_URL } from '../test/helpers/redis.js';
import { startTestS3 } from '../test/helpers/s3.js';
import { startWorkerProcess, workerEnv } from '../test/helpers/workers.js';
import { runChild } from './lib/child.js';
import { PATHS, readBytes, REPO } from './lib/data.js';
import { startFaultProxy } from './lib/fault-proxy.js';
import { table } from './lib/report.js';
import { slope, summarise } from './lib/stats.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    'function-calls': { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '2' },
    'drop-every': { type: 'string', default: '15' },
    'mmap-threshold': { type: 'string' },
    'heap-bound': { type: 'string', default: '1024' },
    'heap-snapshots': { type: 'string' },
    'worker-from-sources': { type: 'boolean', default: false },
    json: { type: 'string' },
  },
});
/** A flag's value as a positive number (an integer where asked); anything else is an InputError naming the flag. */
function positive(flag: keyof typeof values, integer = false): number {
  const v = Number(values[flag]);
  if (!(v > 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) throw new InputError(`--${flag}`, `must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(values[flag])}`);
  return v;
}
const minutes = positive('minutes');
const functionCalls = positive('function-calls', true);
const heapBoundKiB = positive('heap-bound');
const concurrency = positive('concurrency', true);
const dropEverySeconds = positive('drop-every');
/** `--heap-snapshots 90,300`: the job counts after which the worker writes a heap snapshot (and once more at its last sample). */
const snapshotAt = (values['heap-snapshots'] ?? '').split(',').filter(Boolean).map((v) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InputError('--heap-snapshots', `must be job counts separated by commas, got ${JSON.stringify(values['heap-snapshots'])}`);
  return n;
});
const mallocEnv: Record<string, string> = values['mmap-threshold'] !== undefined ? { MALLOC_MMAP_THRESHOLD_: String(positive('mmap-threshold', true)) } : {};
const log = (m: string): void => void process.stderr.write(`soak: ${new Date().toISOString().slice(11, 19)} ${m}\n`);

const PROBE = join(REPO, 'benchmarks/children/soak-probe.mjs');
const TENANTS = ['soak-a', 'soak-b', 'soak-c'];
const MODELS = 6;
const DETECTORS_PER_TENANT = 6;
const OOD_LABELS = Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1));

/** One probe line (soak-probe.mjs `sample()`), plus where in the run it was taken. */
interface Sample {
  readonly x: number;
  readonly fds: number;
  readonly threads: number;
  readonly heapUsed: number;
  readonly heapCode: number;
  readonly external: number;
  readonly rss: number;
  readonly handles: number;
  readonly timers: number;
  readonly ortSessions: number | null;
  readonly detectorCache: { versions: number; models: number } | null;
  readonly redisClients?: number;
}

// ---- verdicts ----

const median = (xs: readonly number[]): number => summarise(xs).median;

interface Verdict {
  readonly metric: string;
  readonly first: string;
  readonly last: string;
  readonly range: string;
  readonly slope: string;
  readonly rule: string;
  readonly pass: boolean | null;
}

type Kind = { kind: 'count' } | { kind: 'heap' } | { kind: 'info'; unit: 'MiB' | 'n' } | { kind: 'bound'; max: number };

function verdict(samples: readonly Sample[], metric: string, get: (s: Sample) => number | null | undefined, how: Kind, per: string): Verdict | undefined {
  const all = samples.map((s) => ({ x: s.x, y: get(s) })).filter((p): p is { x: number; y: number } => typeof p.y === 'number' && Number.isFinite(p.y));
  if (all.length < 4) return undefined;
  const half = all.slice(Math.floor(all.length / 2));
  const ys = half.map((p) => p.y);
  const s = 1000 * slope(half.map((p) => p.x), ys);
  const mib = how.kind === 'heap' || (how.kind === 'info' && how.unit === 'MiB');
  const fmt = (v: number): string => (mib ? `${(v / 2 ** 20).toFixed(1)} MiB` : String(v));
  const base = { metric, first: fmt(all[0]!.y), last: fmt(all.at(-1)!.y), range: `${fmt(Math.min(...ys))}–${fmt(Math.max(...ys))}`, slope: mib ? `${(s / 1024).toFixed(1)} KiB ${per}` : `${s.toFixed(2)} ${per}` };
  if (how.kind === 'count') {
    const q = Math.max(1, Math.floor(half.length / 2));
    const before = median(ys.slice(0, ys.length - q));
    const after = Math.min(...ys.slice(-q));
    const grows = s > 0 && after > before;
    return { ...base, rule: `grows: slope > 0 and lowest of last quarter (${after}) > median of the quarter before (${before})`, pass: !grows };
  }
  if (how.kind === 'heap') return { ...base, rule: `slope ≤ ${heapBoundKiB} KiB ${per}`, pass: s / 1024 <= heapBoundKiB };
  if (how.kind === 'bound') {
    const max = Math.max(...all.map((p) => p.y));
    return { ...base, rule: `≤ ${how.max} at every sample (max ${max})`, pass: max <= how.max };
  }
  return { ...base, rule: 'reported', pass: null };
}

function verdicts(samples: readonly Sample[], per: string, phase: 'worker' | 'functions'): Verdict[] {
  const withRedis = phase === 'worker';
  const withDetectorCache = phase === 'functions'; // the worker loads detectors through the repository, not this cache
  return [
    verdict(samples, 'open fds', (s) => s.fds, { kind: 'count' }, per),
    verdict(samples, 'threads', (s) => s.threads, { kind: 'count' }, per),
    withRedis ? verdict(samples, 'Redis clients (CLIENT LIST)', (s) => s.redisClients, { kind: 'count' }, per) : undefined,
    verdict(samples, 'heap used after GC', (s) => s.heapUsed, { kind: 'heap' }, per),
    verdict(samples, 'heap: compiled code (in heap used)', (s) => s.heapCode, { kind: 'info', unit: 'MiB' }, per),
    verdict(samples, 'external (ArrayBuffers, ORT tensors)', (s) => s.external, { kind: 'info', unit: 'MiB' }, per),
    verdict(samples, 'RSS', (s) => s.rss, { kind: 'info', unit: 'MiB' }, per),
    verdict(samples, 'active handles', (s) => s.handles, { kind: 'info', unit: 'n' }, per),
    verdict(samples, 'active timers', (s) => s.timers, { kind: 'info', unit: 'n' }, per),
    verdict(samples, 'ORT sessions open', (s) => s.ortSessions, { kind: 'bound', max: 8 }, per),
    withDetectorCache ? verdict(samples, 'cached detector versions', (s) => s.detectorCache?.versions, { kind: 'bound', max: 8 }, per) : undefined,
    withDetectorCache ? verdict(samples, 'cached models', (s) => s.detectorCache?.models, { kind: 'bound', max: 8 }, per) : undefined,
  ].filter((v): v is Verdict => v !== undefined);
}

function verdictTable(vs: readonly Verdict[]): string {
  return table(['metric', 'first', 'last', 'second half', 'slope (2nd half)', 'rule', 'verdict'], vs.map((v) => [v.metric, v.first, v.last, v.range, v.slope, v.rule, v.pass === null ? '—' : v.pass ? 'pass' : '**FAIL**']));
}

/** At most `n` samples, evenly spaced, first and last included. */
function thin<T>(xs: readonly T[], n: number): T[] {
  if (xs.length <= n) return [...xs];
  return Array.from({ length: n }, (_, i) => xs[Math.round((i * (xs.length - 1)) / (n - 1))]!);
}

function sampleTable(samples: readonly Sample[], xName: string, extra: (s: Sample) => string[] = () => [], extraHead: string[] = []): string {
  const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
  return table(
    [xName, 'fds', 'threads', ...extraHead, 'heap MiB', 'external MiB', 'RSS MiB', 'handles', 'timers', 'ORT sessions'],
    thin(samples, 12).map((s) => [String(s.x), String(s.fds), String(s.threads), ...extra(s), mib(s.heapUsed), mib(s.external), mib(s.rss), String(s.handles), String(s.timers), String(s.ortSessions ?? 'n/a')]),
  );
}

// ---- worker phase ----

interface WorkerPhase {
  readonly samples: Sample[];
  readonly jobs: Record<string, number>;
  readonly failed: number;
  readonly firstFailure?: string;
  readonly faults: { redisDrops: number; s3Drops: number; redisOutages: number; s3Outages: number };
  readonly attemptFailures: number;
  readonly stalls: number;
  readonly seconds: number;
  readonly exit: string;
}

async function workerPhase(): Promise<WorkerPhase> {
  const t0 = Date.now();
  const s3 = await startTestS3({ bucket: 'imagedrift-soak' });
  const redisProxy = await startFaultProxy(Number(new URL(REDIS_URL).port || 6379));
  const s3Proxy = await startFaultProxy(Number(new URL(s3.s3.endpoint).port));
  const queuePrefix = `imagedrift-soak:${randomUUID()}`;
  const redis = connectRedis();
  const conn = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const client = new JobClient({ connection: conn, prefix: queuePrefix, attempts: 8, backoffMs: 200, maxJobsPerTenant: 100 });
  const dir = mkdtempSync(join(tmpdir(), 'imagedrift-soak-'));
  const probeFile = join(dir, 'probe.jsonl');
  writeFileSync(probeFile, '');
  let worker: Child | undefined;
  let faults: NodeJS.Timeout | undefined;
  try {
    // Every tenant stores the 6 model files and the seed data sets (directly, not through the fault proxy).
    const lenet = readBytes(join(REPO, 'models/lenet5.onnx'));
    const models = Array.from({ length: MODELS }, (_, i) => modelVariant(lenet, i));
    for (const t of TENANTS) {
      const view = tenantStore(s3.store, t);
      for (let i = 0; i < MODELS; i++) await putModel(view, { id: `m${i}`, bytes: models[i]! });
      await putDataset(view, { id: 'train', name: 'train.npy', bytes: readBytes(PATHS.seedTrain) });
      await putDataset(view, { id: 'eval', name: 'eval.npy', bytes: readBytes(PATHS.seedEval) });
      await putDataset(view, { id: 'test', name: 'test.npy', bytes: readBytes(PATHS.seedTest) });
    }
    // Detector j of tenant k: model (j mod 6); layer `output` for tenants a and c, `9` for b: 12 extractor keys.
    const detectors = TENANTS.flatMap((tenant, k) => Array.from({ length: DETECTORS_PER_TENANT }, (_, j) => ({ tenant, id: `d${j}`, model: `m${j % MODELS}`, layer: k % 2 ? '9' : 'output' })));
    const payload = (d: (typeof detectors)[number], kind: JobName): Record<string, unknown> =>
      kind === 'fit'
        ? { detector: d.id, model: d.model, dataset: 'train', layer: d.layer, nCluster: 10, seed: 0 }
        : kind === 'calibrate'
          ? { detector: d.id, dataset: 'eval', oodLabels: OOD_LABELS }
          : { detector: d.id, dataset: 'test' };

    const workerConfig = loadConfig({
      S3_BUCKET: s3.s3.bucket,
      S3_ENDPOINT: `http://127.0.0.1:${s3Proxy.port}`,
      S3_ACCESS_KEY_ID: s3.s3.credentials.accessKeyId,
      S3_SECRET_ACCESS_KEY: s3.s3.credentials.secretAccessKey,
      REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
      QUEUE_PREFIX: queuePrefix,
    });
    const env = workerEnv(workerConfig, {
      LOG_LEVEL: 'info',
      WORKER_CONCURRENCY: String(concurrency),
      // A job whose worker lost Redis mid-way runs again soon, not after the default minute.
      WORKER_LOCK_DURATION_MS: '10000',
      WORKER_STALLED_INTERVAL_MS: '5000',
      IMAGEDRIFT_SOAK_PROBE_FILE: probeFile,
      ...mallocEnv,
    });
    // Heap snapshots (`--heap-snapshots`) are Node's own (--heapsnapshot-signal), written to a directory kept after the run.
    const snapshotDir = snapshotAt.length ? mkdtempSync(join(tmpdir(), 'imagedrift-soak-heap-')) : undefined;
    const snapshotArgs = snapshotDir ? ['--heapsnapshot-signal=SIGUSR1', `--diagnostic-dir=${snapshotDir}`] : [];
    worker = await startWorkerProcess('soak-worker', env, ['--expose-gc', ...snapshotArgs, '--import', PROBE], { compiled: !values['worker-from-sources'] });
    const w = worker;
    // The worker's log, counted as it comes (the child keeps only its last megabyte or two of output).
    const logCounts = { attemptFailures: 0, stalls: 0 };
    let partial = '';
    const onLog = (b: Buffer): void => {
      const text = partial + b.toString();
      const cut = text.lastIndexOf('\n');
      partial = text.slice(cut + 1);
      for (const l of parseLogLines(text.slice(0, cut + 1))) {
        if (l.msg.startsWith('job attempt failed')) logCounts.attemptFailures++;
        if (l.msg.startsWith('job stalled')) logCounts.stalls++;
      }
    };
    w.proc.stdout!.on('data', onLog);
    w.proc.stderr!.on('data', onLog);
    log(`worker ${w.proc.pid} ready (concurrency ${values.concurrency}${values['mmap-threshold'] ? `, MALLOC_MMAP_THRESHOLD_=${values['mmap-threshold']}` : ''})`);

    const jobs: Record<string, number> = { fit: 0, calibrate: 0, predict: 0 };
    let failed = 0;
    let firstFailure: string | undefined;
    let done = 0;
    const runRound = async (list: { d: (typeof detectors)[number]; kind: JobName }[]): Promise<void> => {
      const ids = await Promise.all(list.map(({ d, kind }) => client.enqueue(kind, payload(d, kind) as never, d.tenant)));
      const pending = new Set(ids);
      const end = Date.now() + 300_000;
      while (pending.size) {
        for (const id of [...pending]) {
          const state = await client.queue.getJobState(id);
          if (state !== 'completed' && state !== 'failed') continue;
          pending.delete(id);
          if (state === 'failed') {
            failed++;
            firstFailure ??= (await client.queue.getJob(id))?.failedReason;
          }
        }
        if (Date.now() > end) throw new Error(`a round did not finish in 300 s (${pending.size} jobs pending)\n${w.output().slice(-3000)}`);
        if (pending.size) await sleep(100);
      }
      for (const { kind } of list) jobs[kind]!++;
      done += list.length;
    };
    const samples: Sample[] = [];
    // No fault while a sample is taken, and none in the 6 s before it (a 3 s outage, then reconnecting).
    let sampling = false;
    let lastFaultAt = 0;
    const takeSample = async (final = false): Promise<void> => {
      sampling = true;
      try {
        await sleep(lastFaultAt + 6000 - Date.now());
        const snapshot = snapshotDir !== undefined && (final || (pendingSnapshots.length > 0 && done >= pendingSnapshots[0]!));
        while (snapshot && pendingSnapshots.length > 0 && done >= pendingSnapshots[0]!) pendingSnapshots.shift();
        await probeAndCount(snapshot);
      } finally {
        sampling = false;
      }
    };
    const pendingSnapshots = [...snapshotAt].sort((a, b) => a - b);
    const probeAndCount = async (snapshot = false): Promise<void> => {
      // The snapshot is written in the worker's SIGUSR1 handler before the probe's SIGUSR2 one runs (in order, on its
      // main thread), so the probe's answer also says the snapshot is complete.
      if (snapshot) process.kill(w.proc.pid!, 'SIGUSR1');
      const before = readFileSync(probeFile, 'utf8').split('\n').filter(Boolean).length;
      process.kill(w.proc.pid!, 'SIGUSR2');
      let lines: string[] = [];
      for (const end = Date.now() + 20_000; Date.now() < end; await sleep(20)) {
        lines = readFileSync(probeFile, 'utf8').split('\n').filter(Boolean);
        if (lines.length > before) break;
      }
      if (lines.length <= before) throw new Error(`the probe did not answer within 20 s\n${w.output().slice(-3000)}`);
      const upstream = redisProxy.upstreamPorts();
      const list = String(await redis.call('CLIENT', 'LIST'));
      const redisClients = list.split('\n').filter((l) => upstream.has(Number(/ addr=[^ ]*:(\d+) /.exec(` ${l}`)?.[1]))).length;
      samples.push({ x: done, ...(JSON.parse(lines.at(-1)!) as Omit<Sample, 'x'>), redisClients });
      if (snapshot) log(`heap snapshot at ${done} jobs in ${snapshotDir}`);
    };

    // Warm-up: fit, then calibrate, every detector.
    await runRound(detectors.map((d) => ({ d, kind: 'fit' })));
    await runRound(detectors.map((d) => ({ d, kind: 'calibrate' })));
    await takeSample();
    const rnd = mulberry32(20261129);
    // In turn: a Redis connection reset, an S3 connection reset, S3 unreachable for 3 s, Redis unreachable for 3 s.
    const faultList = [() => redisProxy.dropOne(rnd), () => s3Proxy.dropOne(rnd), () => s3Proxy.outage(3000), () => redisProxy.outage(3000)];
    let turn = 0;
    faults = setInterval(() => {
      if (sampling) return;
      lastFaultAt = Date.now();
      faultList[turn++ % faultList.length]!();
    }, dropEverySeconds * 1000);
    // Each detector goes fit → calibrate → predict → fit …, one job per detector per round.
    const kinds: JobName[] = ['predict', 'fit', 'calibrate'];
    const deadline = t0 + minutes * 60_000;
    for (let r = 0; Date.now() < deadline; r++) {
      await runRound(detectors.map((d, j) => ({ d, kind: kinds[(r + j) % 3]! })));
      await takeSample(Date.now() >= deadline);
      if (r % 5 === 0) log(`${done} jobs, ${failed} failed; heap ${(samples.at(-1)!.heapUsed / 2 ** 20).toFixed(1)} MiB, RSS ${(samples.at(-1)!.rss / 2 ** 20).toFixed(0)} MiB, fds ${samples.at(-1)!.fds}, Redis clients ${samples.at(-1)!.redisClients}`);
    }
    clearInterval(faults);
    faults = undefined;
    await stopChild(w, 30_000);
    const ex = await w.exited();
    return {
      samples,
      jobs,
      failed,
      ...(firstFailure ? { firstFailure } : {}),
      faults: { redisDrops: redisProxy.stats.dropped, s3Drops: s3Proxy.stats.dropped, redisOutages: redisProxy.stats.outages, s3Outages: s3Proxy.stats.outages },
      ...logCounts,
      seconds: (Date.now() - t0) / 1000,
      exit: ex.signal ?? String(ex.code),
    };
  } finally {
    if (faults) clearInterval(faults);
    await stopChild(worker, 10_000);
    await client.close().catch(() => undefined);
    conn.disconnect();
    await cleanupPrefix(redis, queuePrefix);
    await redis.quit();
    await redisProxy.close();
    await s3Proxy.close();
    await s3.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- functions phase ----

async function functionsPhase(): Promise<{ samples: Sample[]; calls: number; non200: number; seconds: number; firstError?: unknown }> {
  const t0 = Date.now();
  const r = await runChild(process.execPath, ['--expose-gc', '--import', 'tsx', 'benchmarks/children/soak-functions.ts', '--calls', String(functionCalls), '--every', String(Math.max(1, Math.round(functionCalls / 24)))], {
    cwd: REPO,
    env: { NODE_NO_WARNINGS: '1', ...mallocEnv },
    timeoutMs: 1_800_000,
  });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const end = lines.find((l) => l.done) as { calls: number; non200: number; firstError?: unknown } | undefined;
  if (!end) throw new Error(`the functions phase did not finish:\n${r.stderr.slice(-3000)}`);
  const samples = lines.filter((l) => typeof l.calls === 'number' && !l.done).map((l) => ({ ...(l as unknown as Omit<Sample, 'x'>), x: l.calls as number }));
  return { samples, calls: end.calls, non200: end.non200, seconds: (Date.now() - t0) / 1000, ...(end.firstError ? { firstError: end.firstError } : {}) };
}

// ---- run ----

const load0 = loadavg()[0]!;
log(`worker phase: ${minutes} min`);
const wp = await workerPhase();
log(`functions phase: ${functionCalls} predict calls`);
const fp = await functionsPhase();
const wv = verdicts(wp.samples, 'per 1,000 jobs', 'worker');
const fv = verdicts(fp.samples, 'per 1,000 calls', 'functions');
const totalJobs = Object.values(wp.jobs).reduce((a, b) => a + b, 0);
// Fewer than 4 samples in a phase give no verdicts: such a run (too short) judges nothing and does not pass.
const tooShort = wp.samples.length < 4 || fp.samples.length < 4;
const ok = !tooShort && [...wv, ...fv].every((v) => v.pass !== false) && wp.failed === 0 && fp.non200 === 0;
const md = [
  `Worker phase: ${(wp.seconds / 60).toFixed(1)} min, ${totalJobs} jobs (${wp.jobs.fit} fit, ${wp.jobs.calibrate} calibrate, ${wp.jobs.predict} predict; 3 tenants, 18 detectors, 6 model files × 2 layers), concurrency ${values.concurrency}, ${values['worker-from-sources'] ? 'from sources (tsx)' : 'compiled (dist/)'}${values['mmap-threshold'] ? `, MALLOC_MMAP_THRESHOLD_=${values['mmap-threshold']}` : ''}; faults every ${values['drop-every']} s in turn: ${wp.faults.redisDrops} Redis and ${wp.faults.s3Drops} S3 connections reset, ${wp.faults.s3Outages} S3 and ${wp.faults.redisOutages} Redis outages of 3 s; ${wp.attemptFailures} failed attempts retried, ${wp.stalls} stalled jobs rerun, ${wp.failed} jobs failed${wp.firstFailure ? ` (first: ${wp.firstFailure})` : ''}; the worker exited ${wp.exit} on SIGTERM. ${cpus().length} cores; load average ${load0.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end.`,
  '',
  sampleTable(wp.samples, 'jobs', (s) => [String(s.redisClients ?? 'n/a')], ['Redis clients']),
  '',
  verdictTable(wv),
  '',
  `Functions phase: ${(fp.seconds / 60).toFixed(1)} min, ${fp.calls} in-process predict calls (1–4 images each) over 12 detectors with 12 model files, ${fp.non200} not 200${fp.firstError ? ` (first: ${JSON.stringify(fp.firstError)})` : ''}.`,
  '',
  sampleTable(fp.samples, 'calls', (s) => [`${s.detectorCache?.versions ?? 'n/a'}/${s.detectorCache?.models ?? 'n/a'}`], ['cached versions/models']),
  '',
  verdictTable(fv),
  '',
  `Verdict: **${ok ? 'no leak found' : 'FAILED'}**${tooShort ? ' (too few samples to judge: run longer)' : ''}.`,
].join('\n');
process.stdout.write(`${md}\n`);
if (values.json) appendFileSync(values.json, `${JSON.stringify({ args: values, worker: wp, functions: fp, workerVerdicts: wv, functionVerdicts: fv, ok, load: [load0, loadavg()[0]] })}\n`);
process.exit(ok ? 0 : 1);
