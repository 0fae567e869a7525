/** Issue 5, part 2: the full imagedrift predict pipeline against a bare onnxruntime `session.run`. */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { conformalPValues } from '../../src/core/conformal.js';
import { planModelInput, toModelInput } from '../../src/core/preprocess.js';
import { applyThreshold } from '../../src/core/threshold.js';
import type { Tensor } from '../../src/core/tensor.js';
import { decodeBytes } from '../../src/io/load.js';
import { loadOrt } from '../../src/model/session.js';
import { calibrateDetector, detectorFeatures, fitDetector, predictData } from '../../src/service/detector-service.js';
import { prefillOffThread } from '../../src/service/prefill.js';
import { runChild } from '../lib/child.js';
import { labels, LAYER, N_CLUSTER, PATHS, PREPROCESS, readBytes, REPO } from '../lib/data.js';
import { topSelfTime } from '../lib/profile.js';
import type { BenchContext, Goal, SectionResult } from '../lib/report.js';
import { table } from '../lib/report.js';
import { fmtNum, fmtRatio, fmtSummary, summarise, type Summary } from '../lib/stats.js';

const N = 10_000;

async function bareSession(model: Uint8Array, threads?: number): Promise<InferenceSession> {
  const ort = await loadOrt();
  return ort.InferenceSession.create(model, { logSeverityLevel: 3, ...(threads ? { intraOpNumThreads: threads } : {}) });
}

/** Bare ORT: `session.run` over the already-preprocessed MNIST test tensor, in batches. */
async function bareRun(session: InferenceSession, input: Tensor, batch: number): Promise<void> {
  const ort = await loadOrt();
  const per = 32 * 32;
  const name = session.inputNames[0]!;
  for (let s = 0; s < N; s += batch) {
    const b = Math.min(batch, N - s);
    await session.run({ [name]: new ort.Tensor('float32', input.data.subarray(s * per, (s + b) * per), [b, 1, 32, 32]) });
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

/** How much of the second core ORT's default uses, judged by where its time sits between one and two intra-op threads. */
function threadShare(dflt: number, one: number, two: number): string {
  const share = (one - dflt) / (one - two); // 0: like one thread, 1: like two
  if (!(one > two) || !Number.isFinite(share)) return 'a second intra-op thread did not help in this run, so a second core is free for other work during a run';
  if (share >= 0.75) return 'the default uses the second core nearly as fully as two threads do, so moving preprocessing to a worker thread would mostly trade cores with ORT';
  if (share <= 0.25) return 'the default gains little over one thread, so a worker thread preprocessing the next batch during a run would find the second core mostly free';
  return 'the default uses the second core in part, so a worker thread preprocessing the next batch would share it with ORT';
}

const ips = (s: Summary) => `${fmtNum(N / s.median)} img/s (${fmtNum(N / s.max)}–${fmtNum(N / s.min)})`;

export async function ortSection(ctx: BenchContext): Promise<SectionResult> {
  const { model, runs, log, dir } = ctx;
  const bytes = readBytes(PATHS.mnistTest);
  const input = toModelInput(await decodeBytes(bytes, 't10k.gz'), PREPROCESS);
  const fitted = await fitDetector({ model, modelKey: 'model.onnx', data: ctx.a.w.train, layer: LAYER, nCluster: N_CLUSTER, score: 'mindarmour' });
  const { bundle } = await calibrateDetector(fitted, model, { data: ctx.a.w.eval, oodLabels: ctx.a.w.evalLabels, grid: 0.01 });
  const pipeline = (opts: { batchSize?: number; intraOpNumThreads?: number; offThread?: boolean } = {}) => {
    const { offThread, ...rest } = opts;
    return async () => predictData(bundle, model, await decodeBytes(bytes, 't10k-images-idx3-ubyte.gz'), { ...rest, ...(offThread ? { feeder: prefillOffThread } : {}) });
  };

  // 1. Headline: batch 256, ORT's default threads, interleaved.
  log(`ORT: bare vs pipeline, ${runs} interleaved runs`);
  const sess = await bareSession(model);
  await bareRun(sess, input, 256);
  await pipeline()();
  await pipeline({ offThread: true })();
  const bare: number[] = [];
  const pipe: number[] = [];
  const pipeOff: number[] = [];
  for (let r = 0; r < runs; r++) {
    bare.push(await timed(() => bareRun(sess, input, 256)));
    pipe.push(await timed(pipeline()));
    pipeOff.push(await timed(pipeline({ offThread: true })));
  }
  const [sb, sp, so] = [summarise(bare), summarise(pipe), summarise(pipeOff)];
  const ratioIn = sb.median / sp.median;
  const ratio = sb.median / so.median; // the goal's: the queue worker's pipeline

  // 2. Where the pipeline's time goes (same data, stage by stage).
  log('ORT: pipeline stages');
  const st = { decode: [] as number[], extract: [] as number[], score: [] as number[], threshold: [] as number[], preprocessOnly: [] as number[] };
  const plan = planModelInput(await decodeBytes(bytes, 't10k.gz'), bundle.preprocess);
  const buf = new Float32Array(256 * plan.perSample);
  for (let r = 0; r < runs; r++) {
    let t0 = performance.now();
    const data = await decodeBytes(bytes, 't10k-images-idx3-ubyte.gz');
    let t1 = performance.now();
    st.decode.push((t1 - t0) / 1000);
    const feats = await detectorFeatures(bundle, model, data);
    t0 = performance.now();
    st.extract.push((t0 - t1) / 1000);
    const scores = bundle.fitted.score(feats);
    t1 = performance.now();
    st.score.push((t1 - t0) / 1000);
    applyThreshold(scores, bundle.calibration!.threshold);
    conformalPValues(bundle.calibrationScores!, scores);
    st.threshold.push((performance.now() - t1) / 1000);
    t0 = performance.now();
    for (let i = 0; i < N; i += 256) plan.fill(buf, i, Math.min(N, i + 256));
    st.preprocessOnly.push((performance.now() - t0) / 1000);
  }
  const stageName: Record<keyof typeof st, string> = {
    decode: 'decode (gunzip + IDX → float32)',
    extract: 'preprocess + extract (28→32 bilinear, batches of 256 through ORT)',
    score: 'score (mindarmour)',
    threshold: 'threshold + conformal p-values',
    preprocessOnly: '… of which preprocessing alone (the same fills, without ORT)',
  };
  const stageRows = Object.entries(st).map(([k, v]) => {
    const s = summarise(v);
    return [stageName[k as keyof typeof st], fmtSummary(s), `${((100 * s.median) / sp.median).toFixed(0)}%`];
  });

  // 3. Intra-op threads and batch size.
  log('ORT: threads × batch size');
  const sweep: string[][] = [];
  const bare256: Record<number, number> = {}; // bare median time at batch 256, by intra-op threads
  for (const threads of [1, 2]) {
    const s = await bareSession(model, threads);
    for (const batch of [32, 256, 1024]) {
      await bareRun(s, input, batch);
      const tb: number[] = [];
      const tp: number[] = [];
      const to: number[] = [];
      const p = pipeline({ batchSize: batch, intraOpNumThreads: threads });
      const po = pipeline({ batchSize: batch, intraOpNumThreads: threads, offThread: true });
      await p();
      await po();
      for (let r = 0; r < runs; r++) {
        tb.push(await timed(() => bareRun(s, input, batch)));
        tp.push(await timed(p));
        to.push(await timed(po));
      }
      const [b, q, o] = [summarise(tb), summarise(tp), summarise(to)];
      sweep.push([String(threads), String(batch), ips(b), ips(q), fmtRatio(b.median / q.median), ips(o), fmtRatio(b.median / o.median)]);
      if (batch === 256) bare256[threads] = b.median;
    }
    await s.release();
  }
  await sess.release();

  // 4. Profile of the pipeline in a child process.
  log('ORT: node --cpu-prof of the pipeline');
  const profDir = join(dir, 'cpuprof-pipeline');
  mkdirSync(profDir, { recursive: true });
  await runChild(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--import', 'tsx', join(REPO, 'benchmarks/children/pipeline-profile.ts'), String(runs)], { cwd: REPO });
  const prof = topSelfTime(profDir, 10);

  // 5. Preprocessing through a process's first plan and through a later one (a fresh child process).
  log('ORT: preprocessing, first plan vs a later plan');
  const plans = JSON.parse((await runChild(process.execPath, ['--import', 'tsx', join(REPO, 'benchmarks/children/preprocess-plans.ts'), String(runs)], { cwd: REPO })).stdout) as { first: number[]; later: number[] };
  const [pFirst, pLater] = [summarise(plans.first), summarise(plans.later)];

  // What perfect overlap could reach: ORT's work (at least its one-thread time) plus everything else the pipeline does,
  // spread over every core, and never faster than bare ORT itself.
  const cores = availableParallelism();
  const rest = ['decode', 'score', 'threshold', 'preprocessOnly'].reduce((a, k) => a + summarise(st[k as keyof typeof st]).median, 0);
  const floor = Math.max(sb.median, (bare256[1]! + rest) / cores);

  const markdown = [
    `MNIST test set (${N.toLocaleString('en-US')} images). **Bare**: \`InferenceSession.create(lenet5.onnx)\` with ORT's default options and \`session.run\` on the already preprocessed 1×32×32 float32 tensor (preparing it is not timed). **Pipeline**: the gzipped IDX bytes → \`decodeBytes\` → \`predictData\` (preprocess → extract \`${LAYER}\` → mindarmour score → threshold → conformal p-values) with a fitted, calibrated detector and a warm, cached session. ${runs} interleaved runs.`,
    '',
    table(['', 'time median (min–max)', 'throughput'], [
      ['bare `session.run`, batch 256', fmtSummary(sb), ips(sb)],
      ['imagedrift predict pipeline, batch 256, preprocessing on the calling thread (the default)', fmtSummary(sp), ips(sp)],
      ['imagedrift predict pipeline, batch 256, preprocessing in a thread (`prefillOffThread`, the queue worker\'s)', fmtSummary(so), ips(so)],
      ['ratio, calling thread (pipeline ÷ bare throughput)', ratioIn.toFixed(3), ''],
      ['**ratio, thread** (the queue worker\'s pipeline ÷ bare throughput)', `**${ratio.toFixed(3)}**`, ''],
    ]),
    '',
    'Pipeline stages (same data, measured separately):',
    '',
    table(['stage', 'time median (min–max)', 'share of the pipeline median'], stageRows),
    '',
    '**Intra-op threads × batch size** (bare and pipeline each with that setting):',
    '',
    table(['intraOpNumThreads', 'batch', 'bare', 'pipeline, calling thread', 'ratio', 'pipeline, thread', 'ratio'], sweep),
    '',
    `**Profile** (\`node --cpu-prof\`, ${runs} warm pipeline runs plus set-up; self time, top 10):`,
    '',
    table(['function', 'self ms', 'share'], prof.map((p) => [`\`${p.fn}\``, p.ms.toFixed(0), `${(100 * p.share).toFixed(1)}%`])),
    '',
    `**${ratio >= 0.85 ? 'What the pipeline adds to inference.' : 'Why the ratio stays below 0.85.'}** The bare run is only ORT's inference; the pipeline adds decoding and, above all, preprocessing in JavaScript (${fmtSummary(summarise(st.preprocessOnly))} for the 10,000 28×28 → 32×32 bilinear resizes with range checks, on the row above) — together a large fraction of ORT's own ${fmtSummary(sb)}. onnxruntime-node runs \`session.run\` synchronously on the calling thread (inside a \`setImmediate\`), so preprocessing on that thread cannot overlap with inference (the queue worker's preprocessing thread, below, is the way around it). ORT's default ran at ${fmtNum(N / sb.median)} img/s here, against ${fmtNum(N / bare256[1]!)} with one intra-op thread and ${fmtNum(N / bare256[2]!)} with two (batch 256, the sweep below): ${threadShare(sb.median, bare256[1]!, bare256[2]!)}. What was done (all result-preserving; the tests compare bit for bit): (1) preprocessing is streamed per batch into one reused buffer (\`ModelInputPlan\`), which removed the 41 MB fresh input array whose page faults alone cost ~200 ms here; (2) the bilinear resize uses per-axis index/weight tables computed once per call; (3) the extractor no longer re-checks finiteness of what preprocessing already range-checked; (4) gunzip uses node:zlib instead of fflate; (5) the resize and the range-checked copy are functions of their own with every input an argument, not loops inside the per-plan closure (V8 optimises them far better there: preprocessing alone went from ~140 ms to ~60 ms, interleaved, same bytes; a separable row-then-column resize, also bit-identical, measured 1.6× slower than the direct one and was not kept). (6) the queue worker preprocesses in a thread, overlapped with inference (next paragraph). Measured once before changes (1)–(5), on this machine under load: pipeline ~1.1 s vs bare ~0.3 s, ratio 0.26–0.54 over 5 runs. In the profile, \`widen\` (uint8 → float32 in the IDX decoder) is large because the child decodes into fresh memory each time (31 MB, page faults); in this warm process decode measured as in the stage table.`,
    '',
    `**Why preprocessing alone is slower here than in a fresh process.** The stage table measures a plan made after others, as a server or worker makes one per request. In a fresh child process, the same fills took ${fmtSummary(pFirst)} through its first plan and ${fmtSummary(pLater)} through a second plan over the same data (${fmtRatio(pLater.median / pFirst.median)}). V8 specialises a closure's optimised code on the closure's context (the plan's geometry, tables and buffers become constants) only while it is the only closure made from that function; a second plan ends that, and every later plan runs the general code. Passing the geometry as arguments to a top-level function runs at the later speed for every plan (tried; not kept, as it only slows the first). The later figure is the steady state, so it is the one used above.`,
    '',
    `**What overlap could reach on this machine.** ORT's work is at least its one-thread time (${(bare256[1]! * 1000).toFixed(0)} ms, the sweep below), and decoding, preprocessing, scoring and thresholding add ${(rest * 1000).toFixed(0)} ms of single-threaded work (the stage table). Spread perfectly over ${cores} cores, and never faster than bare ORT, the pipeline cannot take less than ${(floor * 1000).toFixed(0)} ms: a ratio of at most ${(sb.median / floor).toFixed(2)} against bare ORT in this run${sb.median / floor < 0.85 ? ', below the 0.85 goal even with perfect overlap' : ''}. **Preprocessing in a thread** (\`feeder: prefillOffThread\`, src/service/prefill.ts; the queue worker's setting): a worker thread preprocesses batch j+1 while ORT runs batch j on the calling thread. Each batch's source values are copied into one of two buffers that go to the thread and come back with the model input (transferred, not shared: ORT refuses a tensor on a SharedArrayBuffer with "Invalid argument", and a transferred buffer cannot be reused before it is back); the decoded data itself is not copied. Features are bit-identical (test/service/prefill.test.ts, on this MNIST test set). In this run the pipeline took ${fmtSummary(so)} with the thread against ${fmtSummary(sp)} on the calling thread (ratio ${ratio.toFixed(3)} against ${ratioIn.toFixed(3)}; the sweep's last two columns compare the same at each setting). The gain needs a free core: in five other interleaved comparisons on 2026-11-29 with the machine's load average between 5 and 15 (other test runs on its 2 cores), it ranged from none (a \`--only ort\` run at load 11–15: 878 ms against 856 ms; preprocess + extract alone at load 11, 30 pairs: thread faster in 14) to 13% of the median (a run at load 9–10: 1.03 s against 1.18 s), and the fastest runs with the thread came close to bare ORT (preprocess + extract at load 5: 151 ms and 167 ms against 212 ms and 248 ms on the calling thread, medians 262 and 331 ms against 268 and 370 ms, 30 pairs each). With ORT's default threads, its second intra-op thread and the preprocessing thread share the second core. Tried on 2026-11-29 and not kept: keeping IDX/\`.npy\` uint8 data unwidened (a decoded array whose float32 \`data\` is made on first read) and preprocessing straight from the bytes without range checks, bit-identical; paired against the build before in 25 alternating runs at load 4–5.5, decode + preprocessing took 0.78× the time (faster in 24 of 25), but the whole pipeline 0.98× on the calling thread (faster in 13) and 0.87× with the preprocessing thread (18), not enough to justify an array type whose values change representation on first read. Not done: letting ORT resize inside the graph (its float32 arithmetic would change results in the last bits, breaking parity).`,
  ].join('\n');
  const goals: Goal[] = [{ section: '2', goal: 'Full predict pipeline ≥ 0.85 × bare onnxruntime throughput (batch 256, MNIST test)', met: ratio >= 0.85, measured: `${fmtNum(N / so.median)} vs ${fmtNum(N / sb.median)} img/s → ${ratio.toFixed(3)} (preprocessing in a thread; ${ratioIn.toFixed(3)} on the calling thread)` }];
  return { title: '2. Against bare onnxruntime', markdown, goals, data: { stages: st, plans } };
}
