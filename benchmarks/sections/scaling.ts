/** Issue 5, part 5: fit and predict time against N and against nCluster. */
import { FeatureClusterDetector } from '../../src/core/feature-cluster.js';
import { fitKMeans, KMEANS_DEFAULTS } from '../../src/core/kmeans.js';
import { applyThreshold } from '../../src/core/threshold.js';
import type { Matrix } from '../../src/core/tensor.js';
import { calibrateDetector, fitDetector, predictData } from '../../src/service/detector-service.js';
import { LAYER, sliceRows } from '../lib/data.js';
import type { BenchContext, SectionResult } from '../lib/report.js';
import { table } from '../lib/report.js';
import { fmtSummary, fmtTime, logLogSlope, summarise, timeRuns, type Summary } from '../lib/stats.js';

const NS = [1000, 10_000, 60_000];
const KS = [10, 50, 100];
const K_SWEEP_N = 10_000;

function head(m: Matrix, n: number): Matrix {
  return { data: m.data.subarray(0, n * m.cols), rows: n, cols: m.cols };
}

function growth(slope: number): string {
  if (slope < 0.85) return `sub-linear (log-log slope ${slope.toFixed(2)})`;
  if (slope <= 1.15) return `linear (log-log slope ${slope.toFixed(2)})`;
  return `super-linear (log-log slope ${slope.toFixed(2)})`;
}

export async function scalingSection(ctx: BenchContext): Promise<SectionResult> {
  const { runs, log, model } = ctx;
  const train = ctx.b.f.train;
  const test = ctx.b.f.test;
  const fitDet = (x: Matrix, k: number, seed: number) => new FeatureClusterDetector({ nCluster: k, score: 'mindarmour', seed }).fit(x);

  // vs N: detector fit on N feature rows, detector predict (score + threshold) on N rows, and the whole pipeline.
  log('scaling: vs N');
  const nRows: string[][] = [];
  const series = { fit: [] as number[], predict: [] as number[], pFit: [] as number[], pPredict: [] as number[] };
  const bundle0 = (await calibrateDetector(await fitDetector({ model, modelKey: 'model.onnx', data: ctx.a.w.train, layer: LAYER, nCluster: 10, score: 'mindarmour' }), model, { data: ctx.a.w.eval, oodLabels: ctx.a.w.evalLabels, grid: 0.01 })).bundle;
  for (const n of NS) {
    const x = head(train, n);
    let seed = 0;
    const fit = summarise(await timeRuns(runs, () => fitDet(x, 10, seed++)));
    const det = fitDet(x, 10, 0);
    const pred = summarise(await timeRuns(runs, () => applyThreshold(det.score(x), 0.5)));
    const imgs = sliceRows(ctx.b.w.train, 0, n);
    const pFit = summarise(await timeRuns(runs, () => fitDetector({ model, modelKey: 'model.onnx', data: imgs, layer: LAYER, nCluster: 10, score: 'mindarmour' })));
    const pPred = summarise(await timeRuns(runs, () => predictData(bundle0, model, imgs)));
    series.fit.push(fit.median);
    series.predict.push(pred.median);
    series.pFit.push(pFit.median);
    series.pPredict.push(pPred.median);
    nRows.push([n.toLocaleString('en-US'), fmtSummary(fit), fmtSummary(pred), fmtSummary(pFit), fmtSummary(pPred)]);
  }

  // vs nCluster at N = 10k: fit, and predict (score + threshold) of the 20k workload-(b) test rows.
  log('scaling: vs nCluster');
  const kRows: string[][] = [];
  const kFit: number[] = [];
  const kPred: number[] = [];
  const x10k = head(train, K_SWEEP_N);
  for (const k of KS) {
    let seed = 0;
    const fit: Summary = summarise(await timeRuns(runs, () => fitDet(x10k, k, seed++)));
    const det = fitDet(x10k, k, 0);
    const pred = summarise(await timeRuns(runs, () => applyThreshold(det.score(test), 0.5)));
    const iters = fitKMeans(x10k, { nCluster: k, seed: 0, nInit: KMEANS_DEFAULTS.nInit, maxIterations: KMEANS_DEFAULTS.maxIterations, tolerance: KMEANS_DEFAULTS.tolerance }).iterations;
    kFit.push(fit.median);
    kPred.push(pred.median);
    kRows.push([String(k), fmtSummary(fit), String(iters), fmtSummary(pred)]);
  }
  const sN = { fit: logLogSlope(NS, series.fit), predict: logLogSlope(NS, series.predict), pFit: logLogSlope(NS, series.pFit), pPredict: logLogSlope(NS, series.pPredict) };
  const sK = { fit: logLogSlope(KS, kFit), predict: logLogSlope(KS, kPred) };
  const markdown = [
    `**Against N** (first N rows of the MNIST train set; layer \`${LAYER}\`, nCluster 10, mindarmour; ${runs} runs each). Detector = on extracted features; pipeline = images in (preprocess + extract + …).`,
    '',
    table(['N', 'detector fit', 'detector predict (score + threshold)', 'pipeline fit (`fitDetector`)', 'pipeline predict (`predictData`)'], nRows),
    '',
    `Growth 1k → 60k: detector fit ${growth(sN.fit)}; detector predict ${growth(sN.predict)}; pipeline fit ${growth(sN.pFit)}; pipeline predict ${growth(sN.pPredict)}.`,
    '',
    `**Against nCluster** (N = ${K_SWEEP_N.toLocaleString('en-US')} training rows — 60k × nCluster 100 × 4 initialisations would take minutes per run; predict = score + threshold of the 20,000 workload-(b) test rows):`,
    '',
    table(['nCluster', 'detector fit', 'Lloyd iterations (best init, seed 0)', 'detector predict'], kRows),
    '',
    `Growth 10 → 100: fit ${growth(sK.fit)}; predict ${growth(sK.predict)}.`,
    '',
    explain(sN, sK, series, NS),
  ].join('\n');
  return { title: '5. Scaling curves', markdown, goals: [], data: { sN, sK } };
}

function explain(sN: Record<string, number>, sK: Record<string, number>, series: Record<string, number[]>, ns: number[]): string {
  const lines: string[] = ['Why the curves deviate from a straight line where they do:'];
  lines.push(`- Detector predict is O(N·k·m) (m = min(nCluster, dim) top coordinates per centre) with no set-up, so it is linear in N; at 1k rows it takes ${fmtTime(series.predict[0]!)}, where timer and JIT noise weigh more.`);
  lines.push(`- Detector fit per Lloyd iteration is O(N·k·d), but the number of iterations and the share of points Hamerly's bounds can skip depend on the data, so fit time is only roughly linear in N; k-means++ adds (2 + ln k) candidate passes per centre.`);
  lines.push(`- Against nCluster, fit grows faster than k: each Lloyd iteration is O(N·k·d), more clusters need more iterations to converge (column above), and k-means++ does (k − 1)·(2 + ⌊ln k⌋) candidate passes. Predict is linear in k here: with 10-dimensional features the mindarmour score uses m = min(nCluster, 10) = 10 coordinates per centre (with wider features it would be O(k²)).`);
  lines.push(`- Pipeline fit/predict at small N include fixed costs (ORT session lookup, the model's sha256, the probe batch), so their slope from 1k is below 1; from 10k to 60k they follow the per-image cost of preprocessing and inference (slope ${logLogSlope(ns.slice(1), series.pPredict!.slice(1)).toFixed(2)} for predict).`);
  void sN;
  void sK;
  return lines.join('\n');
}
