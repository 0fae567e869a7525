/**
 * `npm run load` (issue 6): autocannon against the local HTTP predict route — `serverless offline` serving the
 * bundled functions, a calibrated seed detector in s3rver, the machine's Redis — with one warm image per request,
 * 32 connections for 60 s. Passes with zero errors, zero timeouts and zero 5xx. Writes the result into BENCHMARKS.md
 * between `<!-- load:begin -->` and `<!-- load:end -->` (which `npm run bench` keeps).
 *
 *   node --import tsx benchmarks/load.ts [--connections 32] [--seconds 60] [--out BENCHMARKS.md]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { decodeNpy, encodeNpy } from '../src/io/npy.js';
import { startServiceFixture } from '../test/helpers/service.js';
import { PATHS, readBytes, REPO } from './lib/data.js';
import { API_HEADERS, seedDetector, startOffline } from './lib/offline.js';
import { LOAD_BEGIN, LOAD_END, table } from './lib/report.js';

const { values } = parseArgs({ options: { connections: { type: 'string', default: '32' }, seconds: { type: 'string', default: '60' }, out: { type: 'string', default: join(REPO, 'BENCHMARKS.md') } } });
const connections = Number(values.connections);
const seconds = Number(values.seconds);
const log = (m: string) => process.stderr.write(`load: ${m}\n`);

const fx = await startServiceFixture();
let exit = 1;
try {
  log('seeding a calibrated detector (seed example, layer output)');
  await seedDetector(fx, readBytes(join(REPO, 'models/lenet5.onnx')), Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1)));
  const one = decodeNpy(readBytes(PATHS.seedEval)).data.slice(3 * 1024, 4 * 1024);
  const body = JSON.stringify({ images: [Buffer.from(encodeNpy(one, [1, 1, 32, 32], 'float32')).toString('base64')] });
  log('starting serverless offline');
  const offline = await startOffline(fx);
  try {
    const url = `${offline.base}/detectors/det/predict`;
    // Warm every Lambda instance serverless offline will use (it starts one per concurrent request), ramping up so
    // that not all of them load onnxruntime at once.
    for (let c = 1; c <= connections; c = c === connections ? c + 1 : Math.min(connections, c * 2)) {
      log(`warming: ${c} concurrent requests`);
      const statuses = await Promise.all(
        Array.from({ length: c }, async () => {
          try {
            return (await fetch(url, { method: 'POST', body, headers: API_HEADERS })).status;
          } catch (e) {
            return `${(e as Error).message} (${String((e as { cause?: unknown }).cause)})`;
          }
        }),
      );
      const bad = statuses.filter((s) => s !== 200);
      if (bad.length) throw new Error(`warm-up answered ${bad.join(', ')}\n${offline.child.output().slice(-3000)}`);
    }
    const load0 = loadavg()[0]!;
    log(`autocannon: ${connections} connections, ${seconds} s`);
    const r = await autocannon({ url, method: 'POST', body, headers: { ...API_HEADERS }, connections, duration: seconds, timeout: 30 });
    const ok = r.errors === 0 && r.timeouts === 0 && r['5xx'] === 0 && r.non2xx === 0;
    const date = new Date().toISOString().slice(0, 10);
    const md = [
      LOAD_BEGIN,
      '## Load: warm 1-image predict under 32 connections (issue 6)',
      '',
      `Written by \`npm run load\` (benchmarks/load.ts) on ${date}: autocannon against \`POST /detectors/det/predict\` served by \`serverless offline\` on loopback (the bundled predict function, API-key authenticated, a calibrated seed detector read from s3rver), one 1×1×32×32 image per request, ${connections} connections for ${seconds} s after warming every function instance. ${cpus().length} cores; load average ${load0.toFixed(2)} at the start, ${loadavg()[0]!.toFixed(2)} at the end.`,
      '',
      table(['requests', 'errors', 'timeouts', '5xx', 'non-2xx', 'p50', 'p90', 'p99', 'max', 'throughput'], [[
        String(r.requests.total), String(r.errors), String(r.timeouts), String(r['5xx']), String(r.non2xx),
        `${r.latency.p50} ms`, `${r.latency.p90} ms`, `${r.latency.p99} ms`, `${r.latency.max} ms`, `${r.requests.average.toFixed(1)} req/s`,
      ]]),
      '',
      `Goal (issue 6): zero errors and zero 5xx — **${ok ? 'met' : 'NOT met'}**. Latency here is mostly queueing: ${connections} requests in flight share the cores (by Little's law the mean latency is about ${connections} / throughput), and other processes on this shared machine take their share (the load average above).`,
      LOAD_END,
    ].join('\n');
    const path = values.out!;
    const old = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
    const i = old.indexOf(LOAD_BEGIN);
    const j = old.indexOf(LOAD_END);
    writeFileSync(path, i >= 0 && j > i ? old.slice(0, i) + md + old.slice(j + LOAD_END.length) : `${old.trimEnd()}\n\n${md}\n`);
    log(`${r.requests.total} requests, ${r.errors} errors, ${r.timeouts} timeouts, ${r['5xx']} 5xx; p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ${r.requests.average.toFixed(1)} req/s; wrote ${path}`);
    exit = ok ? 0 : 1;
  } finally {
    await offline.stop();
  }
} finally {
  await fx.stop();
}
process.exit(exit);
