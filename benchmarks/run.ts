/**
 * `npm run bench`: issue 5's benchmarks. Writes BENCHMARKS.md at the repository root.
 *
 *   node --import tsx benchmarks/run.ts [--runs 5] [--only reference,ort,fit,scaling,drift,service] [--out BENCHMARKS.md] [--keep]
 *
 * Exits 1 when a section crashes or a correctness check inside it fails (the same-output check against the MindArmour
 * port); BENCHMARKS.md is written in any case.
 * Never a performance assertion: goals are reported as met / not met.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { closeExtractors } from '../src/service/extractor-cache.js';
import { exportFeatures, extractFeatures, model, REPO, workloadA, workloadB, writeMatrix } from './lib/data.js';
import { cpuDescription, firstTouchMsPer40MB, machineInfo } from './lib/machine.js';
import { ensurePythonDeps } from './lib/python.js';
import type { BenchContext, Goal, SectionResult } from './lib/report.js';
import { carriedOver, keptSections, metText, table } from './lib/report.js';
import { summarise } from './lib/stats.js';
import { driftSection } from './sections/drift.js';
import { fitScaleSection } from './sections/fit-scale.js';
import { ortSection } from './sections/ort.js';
import { referenceSection } from './sections/reference.js';
import { scalingSection } from './sections/scaling.js';
import { serviceSection } from './sections/service.js';

const SECTIONS = {
  reference: { title: '1. Against the reference algorithm (port of MindArmour)', run: referenceSection, goals: ['1'] },
  ort: { title: '2. Against bare onnxruntime', run: ortSection, goals: ['2'] },
  fit: { title: '3. Fit at scale', run: fitScaleSection, goals: ['3'] },
  service: { title: '4. Service path', run: serviceSection, goals: ['4'] },
  scaling: { title: '5. Scaling curves', run: scalingSection, goals: [] },
  drift: { title: '6. Drift tests at audit size', run: driftSection, goals: ['6'] },
} as const;
type SectionName = keyof typeof SECTIONS;
/** Run order: the service path last (it depends on handlers/ and src/queue/). */
const ORDER: SectionName[] = ['reference', 'ort', 'fit', 'scaling', 'drift', 'service'];

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, only: { type: 'string' }, out: { type: 'string', default: join(REPO, 'BENCHMARKS.md') }, keep: { type: 'boolean', default: false } } });
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a positive integer, got ${values.runs}`);
const only = values.only ? (values.only.split(',') as SectionName[]) : ORDER;
for (const s of only) if (!(s in SECTIONS)) throw new Error(`--only: unknown section ${s}; expected ${ORDER.join(',')}`);

const started = performance.now();
const log = (s: string) => process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s] ${s}\n`);
const dir = mkdtempSync(join(tmpdir(), 'imagedrift-bench-'));
log(`scratch directory ${dir}`);

const python = ensurePythonDeps(log);
const machine = machineInfo();
const touch = summarise(firstTouchMsPer40MB());
log('decoding workloads and extracting features (layer output; layer 10 for the 84-column k-means comparison)');
const m = model();
const [wa, wb] = [workloadA(), workloadB()];
const [fa, fb] = [await extractFeatures(wa, m), await extractFeatures(wb, m)];
const fc2 = await extractFeatures({ ...wb, eval: wa.eval, test: wa.test }, m, '10');
const ctx: BenchContext = {
  dir,
  model: m,
  runs,
  python,
  log,
  a: { w: wa, f: fa, files: exportFeatures(dir, wa, fa) },
  b: { w: wb, f: fb, files: exportFeatures(dir, wb, fb) },
  bFc2Train: writeMatrix(join(dir, 'wb-fc2-train.npy'), fc2.train),
};

const results: SectionResult[] = [];
for (const name of ORDER.filter((s) => only.includes(s))) {
  const sec = SECTIONS[name];
  log(`section ${sec.title}`);
  try {
    results.push(await sec.run(ctx));
  } catch (e) {
    log(`section ${name} failed: ${(e as Error).stack ?? String(e)}`);
    results.push({ title: sec.title, markdown: `**Not measured: the section failed** — \`${String((e as Error).message ?? e).slice(0, 800)}\``, goals: [], failed: `${name}: ${(e as Error).message}` });
  }
}
await closeExtractors();

// A partial run (--only) replaces the sections it measured and carries the others over from the previous file, marked.
const previous = existsSync(values.out!) ? readFileSync(values.out!, 'utf8') : '';
const skipped = ORDER.filter((s) => !only.includes(s)).map((s) => SECTIONS[s].title);
const carried = carriedOver(previous, skipped, new Set(results.flatMap((r) => r.goals.map((g) => g.goal))));
results.push(...carried.sections);
results.sort((x, y) => x.title.localeCompare(y.title)); // report in section order (they ran service last)
const goals: Goal[] = [...results.flatMap((r) => r.goals), ...carried.goals].sort((x, y) => x.section.localeCompare(y.section));
const elapsed = (performance.now() - started) / 1000;
const loadEnd = loadavg().map((x) => x.toFixed(2));
const md = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench\` (benchmarks/run.ts) for issue 5 on ${machine.date.slice(0, 10)}; ${skipped.length ? `a partial run (\`--only ${only.join(',')}\`; the other sections and their goal rows are carried over from earlier runs and marked so) took` : 'the whole run took'} ${(elapsed / 60).toFixed(1)} min. Every time is a median over ${runs} runs or more with its min–max spread; every ratio compares two numbers measured in this same run. Nothing here is asserted by the tests.`,
  '',
  '## Machine',
  '',
  table(['', ''], [
    ['CPU', cpuDescription(machine)],
    ['memory', `${machine.memoryGiB.toFixed(1)} GiB`],
    ['Node', `${machine.node}, onnxruntime-node ${machine.ort}`],
    ['Python (reference)', `/usr/bin/python3 ${machine.python}, numpy ${machine.numpy}, scikit-learn ${machine.sklearn} (Debian packages)`],
    ['load average (1, 5, 15 min)', `${machine.loadAvgStart.join(', ')} at the start, ${loadEnd.join(', ')} at the end`],
    ['first touch of fresh memory', `${touch.median.toFixed(0)} ms per 40 MB (${touch.min.toFixed(0)}–${touch.max.toFixed(0)}): page faults here cost ~${((touch.median / 10240) * 1000).toFixed(0)} µs per 4 KiB page`],
  ]),
  '',
  `**This is a shared, noisy 2-core virtual machine.** Other processes (other developers' test runs, scripts, services) may run during the measurement; the load average above shows how busy it was${Math.max(...machine.loadAvgStart, ...loadEnd.map(Number)) >= machine.cores ? ' — at or above the core count, i.e. oversubscribed' : ''}. Under a load of 5–7 (seen during this work) absolute times were 2–3× higher than on an idle machine; the ratios move less because both sides of each comparison are measured in the same run, interleaved where practical, though scikit-learn and onnxruntime (2 threads each) suffer more from contention than single-threaded JavaScript does. Page faults are unusually expensive on this VM (row above), which penalises any code that allocates large fresh arrays.`,
  '',
  '## Goals',
  '',
  table(['§', 'goal', 'status', 'measured'], goals.map((g) => [g.section, g.goal, metText(g.met), g.measured])),
  '',
  ...results.flatMap((r) => [`## ${r.title}`, '', r.markdown, '']),
].join('\n');
// Keep the load run's and the soak's sections (benchmarks/load.ts, benchmarks/soak.ts), which this script does not measure.
writeFileSync(values.out!, md + keptSections(previous));
log(`wrote ${values.out} (${(elapsed / 60).toFixed(1)} min)`);
if (!values.keep) rmSync(dir, { recursive: true, force: true });
const failed = results.filter((r) => r.failed);
if (failed.length) {
  process.stderr.write(`bench: FAILED: ${failed.map((r) => r.failed).join('; ')}\n`);
  process.exitCode = 1;
}
// Lingering handles (ORT thread pools, sockets of finished children) must not keep `npm run bench` alive.
process.exit();
