/**
 * Label-free thresholds and drift-test power / false alarms on real data, written to docs/DRIFT.md:
 *   npx tsx scripts/drift-experiments.ts [--train 60000] [--windows 200] [--clean-windows 1000] [--permutations 200]
 *     [--mmd-ref 500] [--fixed-windows 200] [--out docs/DRIFT.md]
 * Detector: feature-cluster, score 'shortfall', nCluster 10, layer '9', fitted on the first N MNIST train images
 * through the service (fitDetector). Every image goes through the model once (clean MNIST test, and each corrupted
 * copy of the window half); windows are index samples from those precomputed score/feature pools.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { DRIFT_TESTS, ksDrift, mmdDrift, type DriftTestName } from '../src/core/drift.js';
import { subsampleRows } from '../src/core/random.js';
import { toModelInput } from '../src/core/preprocess.js';
import { mulberry32 } from '../src/core/random.js';
import { binomialTestGreater } from '../src/core/stats.js';
import type { DecodedArray, Matrix, Tensor } from '../src/core/tensor.js';
import { applyThreshold } from '../src/core/threshold.js';
import { classSubsetIndices, CORRUPTIONS, IMBALANCE_CLASSES, SEVERITY_NAMES } from '../src/eval/corruptions.js';
import {
  binomialBand,
  conformalSplitStudy,
  expectedBandCoverage,
  FastMmd,
  gather,
  gatherRows,
  permutation,
  runDriftCell,
  sampleWithoutReplacement,
  type CellResult,
  type DriftPool,
} from '../src/eval/drift-experiment.js';
import { decodeIdx } from '../src/io/idx.js';
import { calibrateLabelFree, detectorFeatures, fitDetector, REFERENCE_ROWS } from '../src/service/detector-service.js';
import { closeExtractors } from '../src/service/extractor-cache.js';

const { values } = parseArgs({
  options: {
    train: { type: 'string', default: '60000' },
    windows: { type: 'string', default: '200' },
    'clean-windows': { type: 'string', default: '1000' },
    permutations: { type: 'string', default: '200' },
    'mmd-ref': { type: 'string', default: '500' },
    'fixed-windows': { type: 'string', default: '200' },
    out: { type: 'string', default: 'docs/DRIFT.md' },
  },
});
const nTrain = Number(values.train);
const nWindows = Number(values.windows);
const nCleanWindows = Number(values['clean-windows']);
const nPerm = Number(values.permutations);
const nMmdRef = Number(values['mmd-ref']);
const nFixedWindows = Number(values['fixed-windows']);
const ALPHA = 0.05;
const SIZES = [50, 100, 200] as const;
const SPLITS = 100;
/** Calibration / test sizes for the conformal study: the primary one first (chosen below, before running). */
const SPLIT_SIZES = [
  { nCal: 9500, nTest: 500 },
  { nCal: 9000, nTest: 1000 },
  { nCal: 9750, nTest: 250 },
] as const;
const argv = process.argv.slice(2).join(' ');
const command = `npx tsx scripts/drift-experiments.ts${argv ? ` ${argv}` : ''}`;

const SHARED = new URL('../../shared/datasets/', import.meta.url).pathname;
const bytes = (p: string) => new Uint8Array(readFileSync(SHARED + p));
const model = new Uint8Array(readFileSync(new URL('../models/lenet5.onnx', import.meta.url)));
const t0 = performance.now();
const timings: string[] = [];
let tPhase = t0;
const phase = (name: string) => {
  const now = performance.now();
  timings.push(`${name}: ${((now - tPhase) / 1000).toFixed(1)} s`);
  console.error(`[${((now - t0) / 1000).toFixed(0)} s] ${name} done (${((now - tPhase) / 1000).toFixed(1)} s)`);
  tPhase = now;
};

function head(a: DecodedArray, n: number): DecodedArray {
  const per = a.shape.slice(1).reduce((x, y) => x * y, 1);
  return { ...a, data: a.data.subarray(0, n * per), shape: [n, ...a.shape.slice(1)] };
}
function rowsOf(t: Tensor, idx: ArrayLike<number>): Tensor {
  const per = t.shape.slice(1).reduce((x, y) => x * y, 1);
  const out = new Float32Array(idx.length * per);
  for (let i = 0; i < idx.length; i++) out.set(t.data.subarray(idx[i]! * per, (idx[i]! + 1) * per), i * per);
  return { data: out, shape: [idx.length, ...t.shape.slice(1)] };
}
/** A preprocessed NCHW [0,1] tensor as the service's input type (passes through preprocessing unchanged). */
const asDecoded = (t: Tensor): DecodedArray => ({ ...t, dtype: 'float32', layout: 'NCHW' });

// ---------------------------------------------------------------------------------------------------------------
// Data, detector, clean scores
const trainRaw = head(decodeIdx(bytes('mnist/train-images-idx3-ubyte.gz')), nTrain);
const testRaw = decodeIdx(bytes('mnist/t10k-images-idx3-ubyte.gz'));
const testLabels = decodeIdx(bytes('mnist/t10k-labels-idx1-ubyte.gz')).data;
const bundle = await fitDetector({ model, modelKey: 'models/lenet5.onnx', data: trainRaw, layer: '9', nCluster: 10, score: 'shortfall', seed: 0 });
const featureWidth = bundle.fitted.dim;
phase(`fit feature-cluster (shortfall, k=10, layer 9) on ${nTrain} MNIST train images`);
const testInput = toModelInput(testRaw, bundle.preprocess, 'test');
const testFeatures = await detectorFeatures(bundle, model, asDecoded(testInput));
const testScores = bundle.fitted.score(testFeatures);
phase('features and scores of the 10,000 MNIST test images');

// ---------------------------------------------------------------------------------------------------------------
// (a) Label-free threshold: repeated calibrate/test splits of the MNIST test scores
const studies = SPLIT_SIZES.map((s, i) => ({ ...s, study: conformalSplitStudy(testScores, { ...s, splits: SPLITS, alpha: ALPHA, seed: 1 + i }) }));
const coverageGrid = [250, 500, 750, 1000, 1500, 2000, 5000].map((m) => ({ m, bin: binomialBand(m, ALPHA).coverage, conf: expectedBandCoverage(10000 - m, m, ALPHA) }));
// Supplement: the same study with 10× more splits, to estimate the in-band share more precisely than 100 splits can.
const LONG_SPLITS = 1000;
const longStudy = conformalSplitStudy(testScores, { ...SPLIT_SIZES[0], splits: LONG_SPLITS, alpha: ALPHA, seed: 101 });
phase(`conformal study (${SPLITS} splits × ${SPLIT_SIZES.length} split sizes, and ${LONG_SPLITS} splits at the primary size)`);
// Calibration of the KS p-value itself: synthetic continuous data, a fresh 5,000-point reference for every draw.
const KS_DRAWS = 5000;
const ksSynthetic = [50, 200].map((m) => {
  const rnd = mulberry32(300 + m);
  let rej = 0;
  for (let i = 0; i < KS_DRAWS; i++) {
    const a = Float64Array.from({ length: 5000 }, rnd);
    const b = Float64Array.from({ length: m }, rnd);
    if (ksDrift(a, b, ALPHA).isDrift) rej++;
  }
  return { m, rate: rej / KS_DRAWS };
});
phase(`KS p-value check on synthetic data (${KS_DRAWS} draws per size)`);

// ---------------------------------------------------------------------------------------------------------------
// (b) Drift tests. Reference half R and window half W of MNIST test (seeded split).
const split = permutation(10000, mulberry32(2));
const R = split.slice(0, 5000);
const W = split.slice(5000);
// Binomial baseline: label-free calibration on R (held out from fitting) at α = 0.05, through the service.
const cal = await calibrateLabelFree(bundle, model, { idHoldout: asDecoded(rowsOf(testInput, R)), targetFpr: ALPHA });
const threshold = cal.bundle.calibration!.threshold;
const baselineRate = cal.bundle.calibration!.idFlaggedRate;
const refScores = gather(testScores, R);
for (let i = 0; i < R.length; i++) if (cal.scores[i] !== refScores[i]) throw new Error('calibration scores differ from the precomputed scores');
// MMD: the bank is all of R's layer-9 features; each window is tested against a fresh seeded subsample of nMmdRef rows.
const fastMmd = new FastMmd(gatherRows(testFeatures, R));
// What an audit tests against: the reference rows this calibration stored (REFERENCE_ROWS of R, seed 0).
const storedRef = cal.bundle.referenceFeatures!;
const auditRef = subsampleRows(R.length, REFERENCE_ROWS, 0);
const expectRef = gatherRows(fastMmd.bank, auditRef);
if (storedRef.rows !== REFERENCE_ROWS || storedRef.data.some((v, i) => v !== expectRef.data[i])) throw new Error('the stored reference is not subsampleRows(5000, REFERENCE_ROWS, 0) of R');
const reference = { threshold, baselineRate, scores: refScores, mmd: fastMmd, mmdReference: nMmdRef };
const wInput = rowsOf(testInput, W);
phase('reference split, label-free calibration on R, MMD bank distances (5,000 × 5,000)');

interface PoolEntry {
  readonly shift: string;
  readonly severity: string;
  readonly param: string;
  readonly flagRate: number;
  readonly medianScore: number;
  readonly medium: boolean;
  readonly clean: boolean;
  readonly cells: Map<number, CellResult>;
}
const median = (a: ArrayLike<number>) => {
  const s = Float64Array.from(a).sort();
  return s[s.length >> 1]!;
};
const allW = Int32Array.from({ length: W.length }, (_, i) => i);
const imbalanceIdx = classSubsetIndices(testLabels, W, IMBALANCE_CLASSES);
// classSubsetIndices returns test-set indices; the pool is indexed by position in W.
const posInW = new Map(Array.from(W, (t, i) => [t, i] as const));
const imbalancePos = Int32Array.from(imbalanceIdx, (t) => posInW.get(t)!);
const pools: PoolEntry[] = [];
let checks = 0;
let agree = 0;
const fixedRef = subsampleRows(R.length, nMmdRef, 0);

/** Runs every window size on one pool; cross distances live only while the pool is processed. */
function runPool(shift: string, severity: string, param: string, pool: DriftPool & { features: Matrix; cross: Float64Array }, medium: boolean, clean: boolean, check: boolean): PoolEntry {
  if (check) {
    // FastMmd reproduces the shipped mmdDrift on sample windows (every size).
    for (const m of SIZES) {
      const rnd = mulberry32(77 + m);
      for (let w = 0; w < 2; w++) {
        const idx = sampleWithoutReplacement(pool.indices, m, rnd);
        const fast = fastMmd.test(fixedRef, pool.features, pool.cross, idx, { permutations: nPerm, seed: w, alpha: ALPHA });
        const slow = mmdDrift(gatherRows(fastMmd.bank, fixedRef), gatherRows(pool.features, idx), { permutations: nPerm, seed: w, alpha: ALPHA });
        checks++;
        if (fast.pValue === slow.pValue && Math.abs(fast.statistic - slow.statistic) <= 1e-12 * Math.max(1, Math.abs(slow.statistic))) agree++;
      }
    }
  }
  const cells = new Map<number, CellResult>();
  for (const [zi, m] of SIZES.entries()) {
    cells.set(m, runDriftCell(reference, pool, { windowSize: m, windows: clean ? nCleanWindows : nWindows, alpha: ALPHA, seed: 500 + zi, tests: DRIFT_TESTS, permutations: nPerm }));
  }
  const s = gather(pool.scores, pool.indices);
  const flags = applyThreshold(s, threshold);
  const e = { shift, severity, param, medium, clean, cells, flagRate: flags.reduce((a, b) => a + b, 0) / flags.length, medianScore: median(s) };
  console.error(`  ${shift} ${severity}: ${SIZES.map((m) => DRIFT_TESTS.map((t) => cells.get(m)!.rate[t]!.toFixed(3)).join('/')).join('  ')}`);
  return e;
}

const cleanFeatures = gatherRows(testFeatures, W);
const cleanScores = gather(testScores, W);
const cleanCross = fastMmd.crossDistances(cleanFeatures);
pools.push(runPool('clean', '—', '—', { scores: cleanScores, features: cleanFeatures, cross: cleanCross, indices: allW }, false, true, true));
// Supplementary: false alarms with one fixed MMD reference (a deployed monitor's situation), several subsamples.
const FIXED = [...[0, 1, 2, 3, 4].map((seed) => ({ rows: nMmdRef, seed })), ...[0, 1, 2, 3, 4].map((seed) => ({ rows: REFERENCE_ROWS, seed }))];
const fixedFar = FIXED.map(({ rows, seed }) => {
  const r = runDriftCell({ ...reference, mmdReference: subsampleRows(R.length, rows, seed) }, { scores: cleanScores, features: cleanFeatures, cross: cleanCross, indices: allW }, {
    windowSize: 200, windows: nFixedWindows, alpha: ALPHA, seed: 900, tests: ['mmd'], permutations: nPerm,
  });
  console.error(`  fixed reference ${rows} rows seed ${seed}: ${r.rate.mmd!.toFixed(3)}`);
  return { rows, seed, ...r };
});
pools.push(runPool('class imbalance', '—', `digits ${IMBALANCE_CLASSES.join(', ')} only (${imbalanceIdx.length} of ${W.length})`, { scores: cleanScores, features: cleanFeatures, cross: cleanCross, indices: imbalancePos }, true, false, false));
phase('clean and class-imbalance windows, fixed-reference MMD false alarms');
for (const [ci, c] of CORRUPTIONS.entries()) {
  for (const [si, v] of c.severities.entries()) {
    const x = c.apply(wInput, v, 1000 + 10 * ci + si);
    const f = await detectorFeatures(bundle, model, asDecoded(x));
    const pool = { scores: bundle.fitted.score(f), features: f, cross: fastMmd.crossDistances(f), indices: allW };
    pools.splice(pools.length - 1, 0, runPool(c.name, SEVERITY_NAMES[si]!, `${c.param} = ${v}`, pool, si === 1, false, c.name === 'rotation' && si === 1));
  }
  phase(`${c.name}: corrupt, features, scores, MMD cross distances, windows`);
}
const results = new Map(pools.map((e) => [e, e.cells] as const));
await closeExtractors();

// ---------------------------------------------------------------------------------------------------------------
// Report
/** Smallest flagged count k with binomialTestGreater(k, m, baseline) < α. */
const binomialCritical = (m: number) => {
  let k = 0;
  while (k <= m && binomialTestGreater(k, m, baselineRate) >= ALPHA) k++;
  return k;
};
const pct = (x: number, d = 1) => `${(100 * x).toFixed(d)}%`;
const f3 = (x: number) => x.toFixed(3);
const primary = studies[0]!;
const conformalRows = studies.map(({ nCal, nTest, study: s }) => {
  const p05 = s.pValueShares.find((x) => x.level === ALPHA)!;
  return `| ${nCal.toLocaleString('en')} / ${nTest.toLocaleString('en')} | ${pct(s.mean, 2)} | ${pct(s.min)}–${pct(s.max)} | [${s.band.lo}, ${s.band.hi}] = [${pct(s.band.loRate)}, ${pct(s.band.hiRate)}] (${pct(s.band.binomialCoverage)}) | ${pct(s.expectedCoverage)} | **${s.inBand}/${SPLITS}** | ${pct(p05.share, 2)} |`;
});
const pvRows = primary.study.pValueShares.map((x) => `| p ≤ ${x.level} | ${pct(x.share, 2)} | ${pct(x.min)}–${pct(x.max)} |`);
const deciles = Array.from(primary.study.pValueDeciles, (v, i) => `(${(i / 10).toFixed(1)}, ${((i + 1) / 10).toFixed(1)}]: ${pct(v, 1)}`).join(' · ');

const cleanCells = results.get(pools[0]!)!;
const farRows = DRIFT_TESTS.map((t) => {
  const cells = SIZES.map((m) => {
    const r = cleanCells.get(m)!;
    const rate = r.rate[t]!;
    return `${f3(rate)} (${r.rejections[t]}/${r.windows})${rate <= ALPHA + 0.02 ? '' : ' ✗'}`;
  });
  return `| ${t} | ${cells.join(' | ')} |`;
});
const farOk = DRIFT_TESTS.every((t) => SIZES.every((m) => cleanCells.get(m)!.rate[t]! <= ALPHA + 0.02));

const powerRows = pools.map((e) => {
  const c = results.get(e)!;
  const cells = DRIFT_TESTS.flatMap((t) => SIZES.map((m) => {
    const v = c.get(m)!.rate[t]!;
    const s = f3(v);
    return e.medium && m === 200 && e.shift !== 'class imbalance' ? (v >= 0.95 ? `**${s}**` : `**${s}** ✗`) : s;
  }));
  return `| ${e.shift} | ${e.severity} | ${e.param} | ${pct(e.flagRate)} | ${f3(e.medianScore)} | ${cells.join(' | ')} |`;
});
const mediums = pools.filter((e) => e.medium && e.shift !== 'class imbalance');
const acceptance = DRIFT_TESTS.map((t) => {
  const per = mediums.map((e) => `${e.shift} ${f3(results.get(e)!.get(200)!.rate[t]!)}`);
  const met = mediums.every((e) => results.get(e)!.get(200)!.rate[t]! >= 0.95);
  const imb = results.get(pools.find((p) => p.shift === 'class imbalance')!)!.get(200)!.rate[t]!;
  return `| ${t} | ${per.join(' · ')} | ${met ? '**met**' : '**not met**'} | ${f3(imb)} |`;
});

const totalS = (performance.now() - t0) / 1000;
const md = `# Label-free thresholds and drift tests on MNIST

Produced by \`${command}\` — ${totalS.toFixed(0)} s in total on ${cpus().length} cores (shared with other jobs; load average at the end ${loadavg()
  .map((x) => x.toFixed(1))
  .join(' / ')}).

Detector: feature-cluster, score \`shortfall\`, nCluster 10, layer \`9\` (${featureWidth} features), KMeans seed 0, fitted with
\`fitDetector\` on the first ${nTrain.toLocaleString('en')} MNIST train images. Model: the converted seed LeNet5
(\`models/lenet5.onnx\`). Every image goes through the model once; windows are index samples from the precomputed
score and feature pools. Timings: ${timings.join('; ')}.

## (a) Label-free threshold (split conformal) at target α = ${ALPHA}

The 10,000 MNIST test images are scored once. For each of ${SPLITS} seeded random splits, \`conformalThreshold\` is fitted
on the calibration part and the realised false-alarm rate (share of the test part with score ≥ threshold) is measured on
the test part. The band is the exact central binomial 95% band of Bin(n_test, 0.05) for the test-part size: the
largest lo with P(X < lo) ≤ 2.5% and the smallest hi with P(X > hi) ≤ 2.5%, computed with \`binomialTestGreater\`
(its own coverage, above 95% because of discreteness, in brackets).

| calibrate / test | mean realised FPR | min–max | binomial 95% band (counts = rates) | expected share in band | splits in band | share with conformal p ≤ 0.05 |
|---|---|---|---|---|---|---|
${conformalRows.join('\n')}

**Acceptance (primary split ${primary.nCal.toLocaleString('en')} / ${primary.nTest}):** mean ${pct(primary.study.mean, 2)} ${primary.study.mean >= 0.04 && primary.study.mean <= 0.06 ? 'is' : 'is NOT'} in [4%, 6%];
${primary.study.inBand}/${SPLITS} splits inside the band — ${primary.study.shareInBand >= 0.95 ? '**met**' : '**not met**'} (goal ≥ 95%; expected ${pct(primary.study.expectedCoverage)}, with a
standard deviation of about ${(100 * Math.sqrt(primary.study.expectedCoverage * (1 - primary.study.expectedCoverage) / SPLITS)).toFixed(1)} splits over ${SPLITS} splits).
Supplement, same split sizes, ${LONG_SPLITS} splits (seed 101): mean ${pct(longStudy.mean, 2)}, min–max ${pct(longStudy.min)}–${pct(longStudy.max)},
**${longStudy.inBand}/${LONG_SPLITS} = ${pct(longStudy.shareInBand)}** inside the band (predicted ${pct(longStudy.expectedCoverage)}). The acceptance itself is stated for
100 splits, and is reported above as measured.

**Why these split sizes.** The realised rate varies for two reasons: the test part's own binomial sampling and the
calibration part's randomness (the conformal threshold is an order statistic). With a calibration part of n and a test
part of m exchangeable ID samples, the number flagged is exactly BetaBinomial(m, n+1−r, r), r = ⌈(n+1)(1−α)⌉
(\`conformalCountPmf\`), with mean m·(n+1−r)/(n+1) ≤ mα and variance equal to the binomial one times (n+1+m)/(n+2). The share of splits
expected inside the binomial band ("expected share in band" above) can therefore be computed before running, and was
used to choose the split: it is below 95% whenever the test part is large relative to the calibration part.
For a 10,000-image pool (calibration = 10,000 − m):

| test part m | binomial band's own coverage | expected share in band with conformal calibration |
|---|---|---|
${coverageGrid.map((g) => `| ${g.m} | ${pct(g.bin)} | ${pct(g.conf)} |`).join('\n')}

9,000 / 1,000 is expected to put only ${pct(expectedBandCoverage(9000, 1000, ALPHA))} of splits in the band, so the acceptance would be
met by luck about half the time; 9,500 / 500 (${pct(expectedBandCoverage(9500, 500, ALPHA))}) was chosen as the primary split before running,
and the other two rows are reported for transparency. Even at 95.5% expected coverage, the observed count over 100
splits has a standard deviation of about 2 splits, and the splits share one 10,000-image pool (they are not
independent), so the share is a noisy check; the mean and the beta-binomial prediction are the sharper evidence.

**Conformal p-values of fresh ID data** (\`conformalPValues\`, test part against the calibration part, pooled over the
${SPLITS} primary splits; uniform would give p ≤ x with probability x). "p ≤ 0.05" is the same event as being flagged
at the α = 0.05 threshold, so its share equals the mean realised FPR.

| level | share (mean over splits) | min–max over splits |
|---|---|---|
${pvRows.join('\n')}

Deciles of the pooled p-values (10% each if uniform): ${deciles}.

## (b) Drift tests: false alarms and power

- Split: MNIST test is split (seeded) into a reference half R (5,000) and a window half W (5,000).
- Binomial (exact, one-sided): the detector is calibrated label-free on R with \`calibrateLabelFree\` at α = 0.05
  (threshold ${threshold.toPrecision(6)}, baseline flag rate ${pct(baselineRate, 2)} = the share of R flagged, as the service
  records it); each window's flag count is tested against that baseline with \`binomialDrift\`.
- KS: \`ksDrift\` on detector scores, R (5,000 scores) vs the window.
- MMD: RBF kernel, median-heuristic bandwidth, ${nPerm} permutations, layer-9 features. Reference: for every window a fresh
  seeded subsample of ${nMmdRef} of R's 5,000 rows (the \`maxReference\` subsampling of \`driftCheck\`, with a different
  subsample per window); permutation seed = window number. Why a fresh subsample: see "Fixed vs fresh MMD reference"
  below. The windows are evaluated with \`FastMmd\` (src/eval/drift-experiment.ts), which computes exactly
  \`mmdDrift\`'s statistic and p-value (same distances, bandwidth, kernel and permutation sequence) but precomputes the
  reference distances once and evaluates each permutation in O(m²) instead of O(N²); the shipped \`mmdDrift\` takes
  ~0.3–0.7 s per 700-row test on this machine, 10–30× too slow for ~11,000 windows in the time budget. Check in this run:
  **${agree}/${checks}** sample windows (clean and rotation-medium, every size, fixed reference) gave an identical p-value
  and statistic with \`mmdDrift\` (the unit tests check the same on synthetic data).
- All tests at α = ${ALPHA}, drift when p < α. Windows of 50, 100 and 200 images drawn without replacement from W: clean
  (${nCleanWindows} windows per size, for a precise false-alarm estimate) and shifted (${nWindows} windows per cell; the same window index
  sets for every corruption). Corruptions are applied to W's preprocessed 32×32 inputs (values in [0, 1], clipped):
  ${CORRUPTIONS.map((c) => `${c.name} ${c.param} ${c.severities.join(' / ')}`).join('; ')} (low / medium / high, fixed before measuring).
  Class imbalance: windows drawn only from W's images of digits ${IMBALANCE_CLASSES.join(', ')} (no corruption).

### False alarms on clean windows (goal ≤ α + 0.02 = ${f3(ALPHA + 0.02)})

| test | window 50 | window 100 | window 200 |
|---|---|---|---|
${farRows.join('\n')}

${farOk ? '**Met** for every test and window size.' : '**Not met** where marked ✗.'} (With ${nCleanWindows} windows the standard error of a rate near 0.05 is ≈ ${f3(Math.sqrt(0.05 * 0.95 / nCleanWindows))}.)
Against the stricter wording of the issue's scope ("at or below the nominal α"): ${DRIFT_TESTS.map((t) => `${t} ${SIZES.map((m) => f3(cleanCells.get(m)!.rate[t]!)).join(' / ')}`).join('; ')}
(windows 50 / 100 / 200). Values above 0.05 should be read against that standard error: the KS p-value itself is calibrated (synthetic continuous data with a fresh 5,000-point reference per draw,
${KS_DRAWS} draws: false-alarm rate ${ksSynthetic.map((k) => `${f3(k.rate)} at m = ${k.m}`).join(', ')}), so an excess here is chance or the fixed
reference half R (the conditional effect explained under "Fixed vs fresh MMD reference").

### Power (share of windows flagged)

"flag rate" = share of the pool flagged at the calibrated threshold (baseline ${pct(baselineRate, 2)}); "median score" = the pool's
median detector score (clean R: ${f3(median(refScores))}). Bold: the acceptance cells (medium severity, window 200).

| shift | severity | parameter | flag rate | median score | binomial 50 | binomial 100 | binomial 200 | ks 50 | ks 100 | ks 200 | mmd 50 | mmd 100 | mmd 200 |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
${powerRows.join('\n')}

### Acceptance: power ≥ 0.95 at window 200, medium severity, every corruption

| test | power per corruption (window 200, medium) | acceptance | class imbalance (window 200) |
|---|---|---|---|
${acceptance.join('\n')}

### Fixed vs fresh MMD reference (false alarms at window 200, clean, ${nFixedWindows} windows each)

A permutation test controls the false-alarm rate on average over both samples. A deployed monitor compares every
window with one fixed reference, and its false-alarm rate is then conditional on that reference: a reference subsample
that happens to sit off-centre is "far" from every clean window. Measured with the same clean windows:

| MMD reference | false-alarm rate |
|---|---|
${fixedFar.map((r) => `| fixed: \`subsampleRows(5000, ${r.rows}, ${r.seed})\`${r.rows === REFERENCE_ROWS && r.seed === 0 ? ' = the rows the calibration on R stored, which an audit tests against' : ''} | ${f3(r.rate.mmd!)} (${r.rejections.mmd}/${r.windows})${r.rate.mmd! <= ALPHA + 0.02 ? '' : ' ✗'} |`).join('\n')}
| fresh ${nMmdRef}-row subsample per window (main table) | ${f3(cleanCells.get(200)!.rate.mmd!)} (${cleanCells.get(200)!.rejections.mmd}/${cleanCells.get(200)!.windows}) |

The first run of this script used one fixed 500-row subsample (seed 0) for all windows and measured clean false-alarm
rates of 0.08–0.12 for MMD (0.12 at window 200), failing the ≤ α + 0.02 goal. The table shows that the rate with a
fixed reference depends on which subsample it is (the spread between the fixed rows), while averaging over subsamples
(fresh per window) gives ≈ α, as the permutation test promises. Hence the main tables use a fresh subsample per window. For deployment this means:
use a large reference (calibration stores ${REFERENCE_ROWS.toLocaleString('en')} in-distribution rows by default, \`REFERENCE_ROWS\`, and audits and
\`drift\` without \`--reference\` test against them; \`maxReference\` is ${REFERENCE_ROWS.toLocaleString('en')}), or vary the subsample seed between checks,
and judge one fixed reference's false-alarm rate on held-out clean windows. Verified in this run: the calibration on R
stored exactly the rows \`subsampleRows(5000, ${REFERENCE_ROWS}, 0)\` of R. KS uses all 5,000 reference scores, so the
effect is much smaller there (its clean rates are in the table above); the binomial test compares with the calibrated baseline rate, whose own
uncertainty (±${pct(Math.sqrt(baselineRate * (1 - baselineRate) / 5000), 2)} s.e. with 5,000 calibration images) is small against a window's.

### Notes

- The binomial test is one-sided on the OOD flag rate: it detects shifts that raise the detector's score. Class
  imbalance (digits ${IMBALANCE_CLASSES.join(', ')} only) flags ${pct(pools.find((p) => p.shift === 'class imbalance')!.flagRate)} of its pool against the ${pct(baselineRate, 2)} baseline, so the
  binomial test cannot see it; KS on scores sees it partly (the score distribution changes shape), MMD on features
  sees it fully. Class imbalance has no severities and is not part of the power acceptance.
- Low severities (noise σ = 0.1, blur σ = 0.5 px) change the scores little (pool flag rates ${pct(pools.find((p) => p.shift === 'gaussian-noise' && p.severity === 'low')!.flagRate)} and
  ${pct(pools.find((p) => p.shift === 'gaussian-blur' && p.severity === 'low')!.flagRate)}): weak power for every test, as expected.
- Binomial power follows the pool flag rate: at window 200 the test rejects when about ${binomialCritical(200)} or more of 200 images are
  flagged (baseline ${pct(baselineRate, 2)}), i.e. it needs a window flag rate of ≈ ${pct(binomialCritical(200) / 200)}.
- Rates are estimated from ${nWindows} windows per shifted cell (s.e. ≤ ${f3(Math.sqrt(0.25 / nWindows))}; ≈ ${f3(Math.sqrt(0.05 * 0.95 / nWindows))} near 0.95).
`;
writeFileSync(values.out!, md);
console.error(md);
