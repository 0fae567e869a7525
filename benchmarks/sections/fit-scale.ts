/** Issue 5, part 3: fit at 60k scale (time, peak RSS) and the k-means engines against scikit-learn. */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { FeatureClusterDetector } from '../../src/core/feature-cluster.js';
import { fitKMeans, kmeansPlusPlus, KMEANS_DEFAULTS, lloyd, meanVariance, type KMeansEngine } from '../../src/core/kmeans.js';
import { mlKmeansEngine } from '../lib/kmeans-ml.js';
import type { Matrix } from '../../src/core/tensor.js';
import { decodeNpy } from '../../src/io/npy.js';
import { SPREAD_MIN_WORK } from '../../src/service/fit-runner.js';
import { nodeWithRss, runChild } from '../lib/child.js';
import { LAYER, N_CLUSTER, PATHS, readBytes, REPO } from '../lib/data.js';
import { topSelfTime } from '../lib/profile.js';
import { runPythonJson, SKLEARN_SCRIPT, startPythonServer } from '../lib/python.js';
import type { BenchContext, Goal, SectionResult } from '../lib/report.js';
import { table } from '../lib/report.js';
import { fmtNum, fmtRatio, fmtSummary, fmtTime, quartiles, summarise, type Summary } from '../lib/stats.js';

interface SkOut {
  runs: { seconds: number; inertia: number; iterations: number }[];
  threads: { api: string; lib: string; threads: number }[] | null;
}


function loadMatrix(path: string): Matrix {
  const a = decodeNpy(readBytes(path));
  return { data: a.data, rows: a.shape[0]!, cols: a.shape[1]! };
}

/** 2.4e7 */
const sci = (n: number): string => n.toExponential(1).replace('e+', 'e');

function range(xs: number[]): string {
  const s = summarise(xs);
  return s.min === s.max ? fmtNum(s.min, 7) : `${fmtNum(s.min, 7)}–${fmtNum(s.max, 7)}`;
}

/** Median final inertia relative to scikit-learn's, as a signed percentage. */
function inertiaRel(r: EngineRow, sk: EngineRow): string {
  const d = summarise(r.inertia).median / summarise(sk.inertia).median - 1;
  return `${d >= 0 ? '+' : ''}${(100 * d).toFixed(3)}%`;
}

/** "Not clearly worse": median final inertia within 1% of scikit-learn's (k-means++ restarts differ by more than that). */
function inertiaOk(r: EngineRow, sk: EngineRow): boolean {
  return summarise(r.inertia).median <= 1.01 * summarise(sk.inertia).median;
}

interface EngineRow {
  readonly name: string;
  readonly time: Summary;
  readonly inertia: number[];
}

interface Engines {
  /** In table order. */
  readonly rows: EngineRow[];
  readonly sk: EngineRow;
  readonly sk1: EngineRow;
  readonly typed: EngineRow;
  /** The typed engine with its initialisations spread over threads, forced whatever the work (nInit > 1 only). */
  readonly spread?: EngineRow;
  /** What `fit` runs: `spread` from SPREAD_MIN_WORK up, else `typed`. */
  readonly asFit: EngineRow;
  readonly ml?: EngineRow;
  readonly threads: string;
}

async function engines(ctx: BenchContext, path: string, nInit: number, mlRuns: number): Promise<Engines> {
  const x = loadMatrix(path);
  const { runs, log } = ctx;
  log(`k-means engines on ${x.rows}×${x.cols}, n_init ${nInit}`);
  const skArgs = ['--x', path, '--n-cluster', String(N_CLUSTER), '--n-init', String(nInit), '--repeat', String(runs)];
  const skOut = runPythonJson<SkOut>(SKLEARN_SCRIPT, skArgs);
  const sk1Out = runPythonJson<SkOut>(SKLEARN_SCRIPT, skArgs, { env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } });
  // An engine factory, so that ml-kmeans converts the rows to number[][] once per timed fit (as inside one call before).
  const run = (engine: () => 'typed' | KMeansEngine, n: number): { t: number[]; inertia: number[] } => {
    const t: number[] = [];
    const inertia: number[] = [];
    fitKMeans(x, { nCluster: N_CLUSTER, seed: 1000, nInit: 1, maxIterations: KMEANS_DEFAULTS.maxIterations, tolerance: KMEANS_DEFAULTS.tolerance, engine: engine() }); // warm-up
    for (let r = 0; r < n; r++) {
      const t0 = performance.now();
      const km = fitKMeans(x, { nCluster: N_CLUSTER, seed: r, nInit, maxIterations: KMEANS_DEFAULTS.maxIterations, tolerance: KMEANS_DEFAULTS.tolerance, engine: engine() });
      t.push((performance.now() - t0) / 1000);
      inertia.push(km.inertia);
    }
    return { t, inertia };
  };
  const typedRun = run(() => 'typed', runs);
  const sk: EngineRow = { name: 'scikit-learn KMeans (Lloyd, k-means++), default threads', time: summarise(skOut.runs.map((r) => r.seconds)), inertia: skOut.runs.map((r) => r.inertia) };
  const typed: EngineRow = { name: 'imagedrift `typed` (default engine, 1 thread)', time: summarise(typedRun.t), inertia: typedRun.inertia };
  let spread: EngineRow | undefined;
  if (nInit > 1) {
    // From the compiled package (dist/, as the worker and the CLI bundle run it: threads under tsx would spend their
    // start transpiling), on the raw-space (euclidean) detector, so nothing but KMeans and the thread traffic is timed;
    // fresh threads each fit, so their start-up and cold JIT are in the time.
    const { spreadKMeans } = (await import(join(REPO, 'dist/src/service/fit-runner.js'))) as typeof import('../../src/service/fit-runner.js');
    const threads = Math.min(availableParallelism(), nInit);
    log(`k-means engines: typed with initialisations spread over ${threads} threads`);
    const t: number[] = [];
    const inertia: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      const f = await spreadKMeans({ kind: 'feature-cluster', nCluster: N_CLUSTER, score: 'euclidean', seed: r, nInit }, x, { minWork: 0 });
      t.push((performance.now() - t0) / 1000);
      if (!f) throw new Error(`the fit did not spread (${availableParallelism()} cores)`);
      inertia.push(f.stats.inertia!);
    }
    spread = { name: `imagedrift \`typed\`, initialisations spread over ${threads} threads (forced; \`fit\` spreads from ${sci(SPREAD_MIN_WORK)} work up)`, time: summarise(t), inertia };
  }
  let ml: EngineRow | undefined;
  if (mlRuns > 0) {
    log(`k-means engines: ml-kmeans on ${x.rows}×${x.cols}, ${mlRuns} runs`);
    const mlRun = run(mlKmeansEngine, mlRuns);
    ml = { name: 'ml-kmeans 7 (`mlKmeansEngine`, 1 thread)', time: summarise(mlRun.t), inertia: mlRun.inertia };
  }
  const sk1: EngineRow = { name: 'scikit-learn KMeans, 1 thread (OMP_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1)', time: summarise(sk1Out.runs.map((r) => r.seconds)), inertia: sk1Out.runs.map((r) => r.inertia) };
  const threads = skOut.threads ? skOut.threads.map((t) => `${t.lib} ${t.threads}`).join(', ') : 'unknown';
  const asFit = spread && x.rows * x.cols * N_CLUSTER * nInit >= SPREAD_MIN_WORK ? spread : typed;
  return { rows: [sk, typed, ...(spread ? [spread] : []), ...(ml ? [ml] : []), sk1], sk, sk1, typed, ...(spread ? { spread } : {}), asFit, ...(ml ? { ml } : {}), threads };
}

/** Rounds of the interleaved detector-vs-scikit-learn comparison, at the least (more with --runs above 10). */
const FIT_ROUNDS_MIN = 21;

interface RatioSpread extends Summary {
  readonly q1: number;
  readonly q3: number;
}

/** "IQR 1.80–2.05×, min–max 1.6–2.4×" */
function ratioSpread(r: RatioSpread): string {
  return `IQR ${r.q1.toPrecision(3)}–${fmtRatio(r.q3)}, min–max ${r.min.toPrecision(3)}–${fmtRatio(r.max)}`;
}

function ratioSummary(num: readonly number[], den: readonly number[]): RatioSpread {
  const r = num.map((v, i) => v / den[i]!);
  return { ...summarise(r), ...quartiles(r) };
}

/**
 * `FeatureClusterDetector.fit` on the 60k×10 features against scikit-learn KMeans(n_init=4) with default threads and
 * with one, interleaved: each round fits once on every side with the round's seed, in an order that rotates between
 * rounds (so that no side always runs right after the same other one), and the ratios are taken within each round.
 * Two long-lived Python processes answer fit requests, so interpreter start and the array load stay out of the time,
 * as before.
 */
async function interleavedFit(ctx: BenchContext, rounds: number): Promise<{ detector: number[]; sk: number[]; sk1: number[]; vsSk: RatioSpread; vsSk1: RatioSpread; vsBest: RatioSpread }> {
  const x = ctx.b.f.train;
  const args = ['--x', ctx.b.files.train, '--n-cluster', String(N_CLUSTER), '--n-init', String(KMEANS_DEFAULTS.nInit), '--serve'];
  const sk = await startPythonServer(SKLEARN_SCRIPT, args);
  const sk1 = await startPythonServer(SKLEARN_SCRIPT, args, { env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' } });
  try {
    const t: [number[], number[], number[]] = [[], [], []];
    const sides: ((seed: number) => Promise<number>)[] = [
      async (seed) => {
        const t0 = performance.now();
        new FeatureClusterDetector({ nCluster: N_CLUSTER, score: 'mindarmour', seed }).fit(x);
        return (performance.now() - t0) / 1000;
      },
      async (seed) => (await sk.request<{ seconds: number }>(String(seed))).seconds,
      async (seed) => (await sk1.request<{ seconds: number }>(String(seed))).seconds,
    ];
    for (const side of sides) await side(1000); // warm-up (JIT; scikit-learn's thread pools and lazy imports)
    for (let r = 0; r < rounds; r++) {
      for (let s = 0; s < sides.length; s++) {
        const i = (r + s) % sides.length;
        t[i]!.push(await sides[i]!(r));
      }
    }
    const [detector, skT, sk1T] = t;
    // The verdict's reference: scikit-learn's faster configuration in each round. Under load its two threads can take
    // several times its one (830 against 198 ms seen), which would flatter a comparison with the default alone.
    const best = skT.map((v, i) => Math.min(v, sk1T[i]!));
    return { detector, sk: skT, sk1: sk1T, vsSk: ratioSummary(detector, skT), vsSk1: ratioSummary(detector, sk1T), vsBest: ratioSummary(detector, best) };
  } finally {
    await Promise.all([sk.close(), sk1.close()]);
  }
}

export async function fitScaleSection(ctx: BenchContext): Promise<SectionResult> {
  const { dir, runs, log } = ctx;
  // 1. The CLI fit on the 60k MNIST train .gz, in a child process, with its peak RSS.
  log(`fit at scale: CLI fit on 60k MNIST train, ${runs} child processes`);
  const wall: number[] = [];
  const fitOnly: number[] = [];
  const rss: number[] = [];
  const maxRss: number[] = [];
  for (let r = 0; r < runs; r++) {
    const { args, rssFile } = nodeWithRss(dir, 'fit60k');
    const out = join(dir, `fit60k-${r}`);
    const res = await runChild(process.execPath, [...args, join(REPO, 'bin/imagedrift.js'), 'fit', '--model', join(REPO, 'models/lenet5.onnx'), '--train', PATHS.mnistTrain, '--layer', LAYER, '--n-cluster', String(N_CLUSTER), '--score', 'mindarmour', '--out', out, '--json'], { rssFile });
    wall.push(res.seconds);
    fitOnly.push((JSON.parse(res.stdout) as { seconds: number }).seconds);
    rss.push(res.peakRssMiB!);
    maxRss.push(res.maxRssMiB!);
  }
  const [w, f, m] = [summarise(wall), summarise(fitOnly), summarise(rss)];

  // 2. Engines on the same arrays.
  const e10 = await engines(ctx, ctx.b.files.train, KMEANS_DEFAULTS.nInit, runs);
  const e84 = await engines(ctx, ctx.bFc2Train, KMEANS_DEFAULTS.nInit, 0);
  const e84one = await engines(ctx, ctx.bFc2Train, 1, runs);

  // Where the typed engine's time goes: k-means++ vs Lloyd per initialisation, and a CPU profile of the detector fit.
  log('typed engine: k-means++ vs Lloyd split, node --cpu-prof of the detector fit');
  const x10 = ctx.b.f.train;
  const tol = KMEANS_DEFAULTS.tolerance * meanVariance(x10);
  const ppT: number[] = [];
  const llT: number[] = [];
  const its: number[] = [];
  for (let r = 0; r < 4 * runs; r++) {
    const t0 = performance.now();
    const init = kmeansPlusPlus(x10, N_CLUSTER, r);
    const t1 = performance.now();
    its.push(lloyd(x10, init, N_CLUSTER, KMEANS_DEFAULTS.maxIterations, tol).iterations);
    ppT.push((t1 - t0) / 1000);
    llT.push((performance.now() - t1) / 1000);
  }
  const profDir = join(dir, 'cpuprof-fit');
  mkdirSync(profDir, { recursive: true });
  await runChild(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--import', 'tsx', join(REPO, 'benchmarks/children/fit-profile.ts'), ctx.b.files.train, String(runs)], { cwd: REPO });
  const prof = topSelfTime(profDir, 6);

  // 3. The one-time detector fit (what `fit` pays after extraction) against scikit-learn at the same n_init. 60k×10 is
  // below SPREAD_MIN_WORK, so `fit` runs it on one thread, as `FeatureClusterDetector.fit`.
  const rounds = Math.max(FIT_ROUNDS_MIN, 2 * runs + 1);
  log(`detector fit (feature-cluster, 60k×10) against scikit-learn, ${rounds} interleaved rounds`);
  const fit = await interleavedFit(ctx, rounds);
  const det = summarise(fit.detector);
  const fitRatio = fit.vsBest.median;
  const fitThreads = Math.min(availableParallelism(), KMEANS_DEFAULTS.nInit);
  const fitWork = ctx.b.f.train.rows * ctx.b.f.train.cols * N_CLUSTER * KMEANS_DEFAULTS.nInit;
  if (fitWork >= SPREAD_MIN_WORK) throw new Error('the one-time fit would spread: time fitSpread here');

  const engineTable = (title: string, e: Engines, nInit: number, note = '') =>
    [
      `**${title}**, n_init ${nInit} in every row (scikit-learn default threads: ${e.threads})${note}:`,
      '',
      table(['engine', 'time median (min–max)', '÷ scikit-learn', 'final inertia (over runs)'], e.rows.map((r) => [r.name, fmtSummary(r.time), fmtRatio(r.time.median / e.sk.time.median), range(r.inertia)])),
    ].join('\n');
  const ml84 = e84one.ml!;
  const ml10 = e10.ml!;
  const markdown = [
    `**Fit on the full 60k MNIST train set** — \`imagedrift fit --train train-images-idx3-ubyte.gz --layer output --n-cluster 10 --score mindarmour\` as a child process, ${runs} runs. Peak memory is read inside the child at exit by a preload (benchmarks/children/rss-preload.mjs): \`VmHWM\` from /proc/self/status, and \`process.resourceUsage().maxRSS\` for reference. maxRSS is not usable here: Linux carries the high-water mark of the pre-exec address space — a copy of the parent's at fork time — into the child, so a child of this benchmark process (over 1 GB with all workloads loaded) reports the parent's size.`,
    '',
    table(['', 'median (min–max)'], [
      ['wall time, whole command (start-up, gunzip + decode, preprocess + extract, KMeans, save)', fmtSummary(w)],
      ['of which the fit itself (CLI `seconds`: preprocess + extract + KMeans)', fmtSummary(f)],
      ['peak RSS (VmHWM)', `${m.median.toFixed(0)} MiB (${m.min.toFixed(0)}–${m.max.toFixed(0)})`],
      ['process.resourceUsage().maxRSS (includes the parent, see above)', `${summarise(maxRss).median.toFixed(0)} MiB`],
    ]),
    '',
    'Features are streamed: `fitDetector` hands the extractor a `ModelInputPlan` (src/core/preprocess.ts), which preprocesses one batch of 256 images at a time into a reused buffer, instead of materialising the 60000×1×32×32 float32 input (246 MB) first. Before this change the same command measured 10.6 s and 580 MiB peak on this machine (one run, under similar load).',
    '',
    engineTable('60k × 10 (layer `output`)', e10, KMEANS_DEFAULTS.nInit),
    '',
    engineTable('60k × 84 (layer `10`, fc2)', e84, KMEANS_DEFAULTS.nInit),
    '',
    engineTable('60k × 84, one initialisation', e84one, 1, '; time per k-means++ start, and the final inertia depends on which start each run drew (different seeds per run)'),
    '',
    `The \`typed\` engine (greedy k-means++ and Lloyd over one Float32Array) was written because ml-kmeans converts rows to \`number[][]\` and was far slower; ml-kmeans here: ${fmtRatio(ml84.time.median / e84one.sk.time.median)} scikit-learn's time on 60k×84, ${fmtRatio(ml10.time.median / e10.sk.time.median)} on 60k×10. In this issue it was made faster again without changing any result: k-means++ scores all candidates of a step in one pass and skipped points the triangle inequality proves unaffected (dropped since, see below), and Lloyd uses Hamerly's bounds (one upper, one lower bound per point) to skip distance scans that cannot change an assignment; the final inertia comes from the same bounded pass. The distance and centre-sum loops are unrolled by four with the additions in the original order (same rounding), and the bound slack is computed once per fit (on 2026-11-28, 60k×84, nInit 4, median of 5 on one machine: 1.82 s → 1.24 s, identical results). Elkan's bounds (a lower bound per point and centre) were tried then: 1.10 s on 60k×84 but 0.33 s against 0.27 s on 60k×10, where the n·k bound upkeep costs more than the 10-wide distances it saves, so Hamerly's stayed. Skips use a 1e-9·scale slack, so every assignment, centre, iteration count and inertia is bit-identical to the plain algorithm: test/benchmarks/speed-fixes-identity.test.ts checks this against the plain algorithms (seed features at two layers, exact ties, empty clusters; k 2–50), and it was checked once during this work on the MNIST 60k×10 and 20k×84 features for k up to 100. Later (2026-11-29) Lloyd was made to start from k-means++\'s assignment: k-means++ already knows each point\'s nearest chosen centre and its squared distance, computed as Lloyd\'s first full scan computes them, so that scan (one of ~8 passes over the data, and the only one with no point skipped) is gone, with 0 as every point\'s first lower bound. And the full scans compute two distances at once (two centres, or two k-means++ candidates, against one read of the row), each summed in the original order, so the CPU overlaps two chains of additions. Interleaved in one process, CPU time, median of 10 fits (seeds 0–9) each: 60k×10, nInit 4, 347 → 267 ms and 388 → 318 ms in two runs (0.77×, 0.82×); 60k×84, 1.40 s → 1.20 s (0.86×, 4 fits); centres, iterations and inertia identical in every fit (and in the identity test, which runs \`fit\`\'s path too). Then k-means++ stopped skipping points: the skip saved ~40% of its distances on 60k×10, but whether a point is skipped changes unpredictably from one point to the next, and the mispredicted branches cost more than the distances saved; it now computes each point\'s distances to all candidates of a step together (four chains of additions at once, each in the original order), as Lloyd\'s full scans now do for four centres at once. Interleaved in one process, CPU time of the same fits: 60k×10, nInit 4, median of 30 (seeds 0–9, three times), 288 → 254 ms (0.88×; 0.82× in an earlier run); 60k×84, 1.29 → 1.17 s (0.91×, 10 fits); every initialisation\'s centres, iterations and inertia identical on both (k 3, 10 and 25, 112 initialisations compared). The k-means++ vs Lloyd split below calls \`kmeansPlusPlus\` and \`lloyd\` separately, so its Lloyd still makes the first scan.`,
    '',
    `**One-time detector fit** (\`FeatureClusterDetector.fit\`, 60k×10, nInit 4: KMeans + validation + the mindarmour index sets; its work, ${sci(fitWork)}, is below SPREAD_MIN_WORK, so \`fit\` runs it on one thread): ${fmtSummary(det)}, vs scikit-learn KMeans(n_init=4) ${fmtSummary(summarise(fit.sk))} → ${fmtRatio(fit.vsSk.median)} scikit-learn's time (${ratioSpread(fit.vsSk)}); against scikit-learn restricted to one thread (${fmtSummary(summarise(fit.sk1))}): ${fmtRatio(fit.vsSk1.median)} (${ratioSpread(fit.vsSk1)}); **against the faster of the two in each round (the goal's measure): ${fmtRatio(fitRatio)}** (${ratioSpread(fit.vsBest)}). Measured interleaved, as ${rounds} rounds of one fit on each side with the same seed (seeds 0–${rounds - 1}), the three in a rotating order, against two long-lived scikit-learn processes (benchmarks/reference/sklearn_kmeans.py --serve, default threads and 1 thread; each times \`fit\` only, as this process does); the ratio is the median of the rounds' ratios, so load that comes and goes during the section hits both sides of a round alike (separate batches of 5, medians compared, gave 1.85× and 2.69× in two runs 8 minutes apart on a quiet machine).`,
    '',
    `Where the typed engine's time goes (60k×10, per initialisation, ${4 * runs} initialisations): k-means++ ${fmtSummary(summarise(ppT))}, Lloyd ${fmtSummary(summarise(llT))} (${summarise(its).median} iterations median). CPU profile of ${runs} detector fits (\`node --cpu-prof\`, self time):`,
    '',
    table(['function', 'self ms', 'share'], prof.map((p) => [`\`${p.fn}\``, p.ms.toFixed(0), `${(100 * p.share).toFixed(1)}%`])),
    '',
    `The time splits between k-means++ (\`seedCentres\`, the larger part in \`fit\` now that Lloyd starts from its assignment) and Lloyd, both plain scalar loops in one JavaScript thread. scikit-learn restricted to one thread is about as fast as with two (its 1-thread rows), so the gap is per-core efficiency, not parallelism: scikit-learn computes the distances of both phases as float32 matrix products (BLAS GEMM over 256-row chunks, vectorised), where JavaScript does one float64 multiply-add at a time. Under heavy machine load (load average 5–7, earlier runs during this work) the ratio on 60k×10 was 1.4–1.5×, because scikit-learn\'s threads suffer more from contention. The initialisations are independent, so \`fit\` (\`fitSpread\` in the CLI, \`fitOffThread\` in the worker) runs them on up to nInit threads from a work of ${sci(SPREAD_MIN_WORK)} (rows × dim × nCluster × nInit) up, keeping the core \`fit\` synchronous: the calling thread prepares the space and plans the seeds, threads run their share on the features in shared memory, and the winner is picked by the same rule, so results do not depend on the thread count (test/service/fit-runner.test.ts). Each fresh thread starts cold (its first 60k×10 initialisation took 230–310 ms against ~75 ms warm when this was measured), so below that work spreading is slower, as the forced rows on 60k×10 show; the goal rows use what \`fit\` runs. Not done: distances by the ‖x‖² − 2x·c + ‖c‖² expansion (fewer operations, but different rounding, so assignments could differ from the current results in near-ties).`,
  ].join('\n');
  const goals: Goal[] = [
    { section: '1', goal: 'One-time fit within 2× of scikit-learn KMeans on the same features (60k×10, n_init 4)', met: fitRatio <= 2, measured: `${fmtRatio(fitRatio)} the time of scikit-learn's faster configuration in each round (median of ${rounds} interleaved per-round ratios; ${ratioSpread(fit.vsBest)}); ${fmtTime(det.median)} vs ${fmtTime(summarise(fit.sk).median)} with its default 2 threads (${fmtRatio(fit.vsSk.median)}) and ${fmtTime(summarise(fit.sk1).median)} on 1 thread (${fmtRatio(fit.vsSk1.median)})` },
    { section: '3', goal: 'Fit on 60k MNIST train ≤ 20 s', met: w.median <= 20, measured: `${fmtTime(w.median)} whole command (${fmtTime(w.min)}–${fmtTime(w.max)})` },
    { section: '3', goal: 'Fit on 60k MNIST train peak RSS ≤ 600 MB', met: m.max * 1.048576 <= 600, measured: `${m.median.toFixed(0)} MiB median, ${m.max.toFixed(0)} MiB max (= ${(m.max * 1.048576).toFixed(0)} MB)` },
    { section: '3', goal: 'k-means engine (default `typed`) not > 3× slower than scikit-learn and not clearly worse in inertia (60k×84 and 60k×10; ml-kmeans was, hence `typed`)', met: [e84, e10].every((e) => e.asFit.time.median <= 3 * e.sk.time.median && inertiaOk(e.asFit, e.sk)), measured: `typed (n_init 4) as \`fit\` runs it: ${fmtRatio(e84.asFit.time.median / e84.sk.time.median)} scikit-learn's time (84, ${e84.asFit === e84.typed ? 'one thread' : `spread over ${fitThreads} threads`}), ${fmtRatio(e10.asFit.time.median / e10.sk.time.median)} (10, ${e10.asFit === e10.typed ? 'one thread' : `spread over ${fitThreads} threads`}); one thread: ${fmtRatio(e84.typed.time.median / e84.sk.time.median)} (84), ${fmtRatio(e10.typed.time.median / e10.sk.time.median)} (10); median inertia ${inertiaRel(e84.typed, e84.sk)} (84) / ${inertiaRel(e10.typed, e10.sk)} (10) vs scikit-learn; ml-kmeans: ${fmtRatio(ml84.time.median / e84one.sk.time.median)} (84, n_init 1), ${fmtRatio(ml10.time.median / e10.sk.time.median)} (10)` },
  ];
  return { title: '3. Fit at scale', markdown, goals };
}
