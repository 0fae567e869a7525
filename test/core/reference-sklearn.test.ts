/**
 * Independent cross-check of the maths against scikit-learn and scipy on REAL LeNet5 features, value by value.
 *
 * Features come from the shipped model (models/lenet5.onnx) on real images: the first 2,000 MNIST test digits (1,500 to
 * fit, 500 in-distribution to score) and the first 500 CIFAR-10 test images (OOD), both read with the public `loadData`,
 * plus the seed example's files (concept_train_lenet.npy to fit, concept_test_lenet2.npy: 200 MNIST + 200 CIFAR-10) for
 * the 1,176-dimensional layer `3`. imagedrift fits and scores; the features (float32 .npy) and the score vectors it
 * produced go to Debian's /usr/bin/python3, which recomputes every quantity with the standard libraries
 * (scipy.special.logsumexp/softmax, sklearn.covariance.LedoitWolf/ShrunkCovariance, sklearn.neighbors.NearestNeighbors,
 * sklearn.cluster.KMeans, sklearn.preprocessing.StandardScaler, sklearn.metrics, scipy.stats.ks_2samp/kstwobign/binomtest)
 * or, where no library function exists (MindArmour's and the shortfall score, the MMD statistic, the conformal p-value),
 * with a few lines of numpy written from the documented formula. Each `it` prints the largest differences it saw.
 *
 * Conventions checked as documented (README "Detectors", "Drift tests"), not as scipy's defaults:
 * - kNN `score` treats every row as a new query: a training row in the bank is its own nearest neighbour (distance 0),
 *   as scikit-learn's `kneighbors(X)` with X given (not `kneighbors()`, which leaves each point out).
 * - KS p-value: the asymptotic Kolmogorov distribution with Stephens' correction, kstwobign.sf((√N + 0.12 + 0.11/√N)·D),
 *   not scipy's default exact p-value (which the test also prints).
 * - MMD bandwidth: the upper median (⌊L/2⌋+1-th smallest) of the L = N(N−1)/2 pooled pairwise squared distances; for an
 *   even L, np.median would average it with the one below.
 *
 * Needs /usr/bin/python3 with numpy, scipy and scikit-learn (Debian's python3-numpy, python3-scipy, python3-sklearn; .ci/run
 * installs them). Skipped, saying so, only when `import sklearn, scipy` fails there.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { subsampleRows } from '../../src/core/random.js';
import type { Matrix } from '../../src/core/tensor.js';
import {
  binomialDrift,
  conformalPValues,
  conformalThreshold,
  createDetector,
  defaultPreprocess,
  detectionMetrics,
  encodeNpy,
  ksDrift,
  loadData,
  mmdDrift,
  toModelInput,
  type DecodedArray,
  type DetectorSpec,
  type FittedDetector,
} from '../../src/index.js';
import { argmaxRows, FeatureExtractor } from '../../src/model/extract.js';
import { DATASETS, REPO, SEED } from '../helpers/paths.js';

const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import sklearn, scipy'], { encoding: 'utf8' });
// Skipped only outside CI: .ci/run installs the packages, so under CI=true a missing one fails the test instead.
const skip =
  probe.status === 0 || process.env.CI
    ? false
    : `${PYTHON} cannot import sklearn and scipy (${(probe.error?.message ?? probe.stderr.trim().split('\n').pop() ?? `exit ${probe.status}`).trim()}); install python3-numpy python3-scipy python3-sklearn (.ci/run does)`;

/** The Python side: reads input.json and the .npy features, writes the reference values as JSON on stdout. */
const REFERENCE_PY = String.raw`
import json, sys, heapq
from fractions import Fraction
import numpy as np
from scipy import stats
from scipy.special import logsumexp, softmax
from sklearn.covariance import LedoitWolf, ShrunkCovariance, ledoit_wolf_shrinkage
from sklearn.neighbors import NearestNeighbors
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import roc_auc_score, average_precision_score, roc_curve

d = sys.argv[1]
J = json.load(open(d + '/input.json'))
F = lambda name: np.load(d + '/' + name + '.npy').astype(np.float64)
out = {}

# logits: energy and MSP
for key, T in J['energy'].items():
    x = F(key.split('@')[0])
    out['energy:' + key] = (-T * logsumexp(x / T, axis=1)).tolist()
for key in J['msp']:
    out['msp:' + key] = (-softmax(F(key), axis=1).max(axis=1)).tolist()

# Mahalanobis: class means over the given classes, tied covariance of the class-centred rows
for key, c in J['mahalanobis'].items():
    X = F(c['train']); cls = np.asarray(c['classes'])
    ids = np.unique(cls)
    mu = np.stack([X[cls == k].mean(axis=0) for k in ids])
    Xc = X - mu[np.searchsorted(ids, cls)]
    if c['shrinkage'] == 'ledoit-wolf':
        est = LedoitWolf(assume_centered=True).fit(Xc)
        out['lw:' + key] = [float(ledoit_wolf_shrinkage(Xc, assume_centered=True)), float(est.shrinkage_)]
    else:
        est = ShrunkCovariance(shrinkage=c['shrinkage'], assume_centered=True).fit(Xc)
    for q in c['queries']:
        Z = F(q)
        out['maha:' + key + ':' + q] = np.min([est.mahalanobis(Z - m) for m in mu], axis=0).tolist()

# kNN: the k-th nearest distance, brute force, on the raw rows (sklearn's cosine normalises itself)
for key, c in J['knn'].items():
    X = F(c['train'])
    if c['bank'] is not None: X = X[np.asarray(c['bank'])]
    nn = NearestNeighbors(n_neighbors=c['k'], algorithm='brute', metric='cosine' if c['metric'] == 'cosine' else 'euclidean').fit(X)
    for q in c['queries']:
        dist, _ = nn.kneighbors(F(q), c['k'])
        out['knn:' + key + ':' + q] = dist[:, c['k'] - 1].tolist()
        out['knnmean:' + key + ':' + q] = dist.mean(axis=1).tolist()
    if c.get('selfRows'):
        dist, _ = nn.kneighbors(None, c['k'])  # each training row left out of its own neighbours
        out['knnloo:' + key] = dist[:c['selfRows'], c['k'] - 1].tolist()
        dist, _ = nn.kneighbors(X[:c['selfRows']], c['k'])  # X given: the row itself counts
        out['knnself:' + key] = dist[:, c['k'] - 1].tolist()

# feature-cluster: scores given imagedrift's centres; KMeans started at them must stay put
for key, c in J['cluster'].items():
    X = F(c['train']); C = F(key + '.centres'); mode = c['score']
    if mode == 'standardized':
        sc = StandardScaler().fit(X)
        out['scaler:' + key] = [sc.mean_.tolist(), (1 / sc.scale_).tolist()]
        mean, inv = F(key + '.mean'), F(key + '.invStd')
        space = lambda Z: (Z - mean) * inv
    elif mode == 'cosine':
        space = lambda Z: Z / np.linalg.norm(Z, axis=1, keepdims=True)
    else:
        space = lambda Z: Z
    if mode == 'mindarmour':  # the tutorial's own index sets: list(c).index over heapq.nlargest(nCluster, list(c))
        top = [[list(cj).index(v) for v in heapq.nlargest(len(C), list(cj))] for cj in C]
    for q in c['queries']:
        Z = space(F(q))
        if mode in ('euclidean', 'standardized'):
            s = np.sqrt(((Z[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)).min(axis=1)
        elif mode == 'cosine':
            s = 1 - (Z @ C.T).max(axis=1)
        elif mode == 'mindarmour':
            s = np.min([np.abs(cj[t] - Z[:, t]).sum(axis=1) / np.abs(cj[t]).sum() for cj, t in zip(C, top)], axis=0)
        else:  # shortfall
            s = np.min([np.maximum(cj[cj > 0] - Z[:, cj > 0], 0).sum(axis=1) / cj[cj > 0].sum() for cj in C], axis=0)
        out['fc:' + key + ':' + q] = s.tolist()
    if mode in ('euclidean', 'standardized'):
        S = space(X)
        d2 = ((S[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)
        km = KMeans(n_clusters=len(C), init=C, n_init=1, max_iter=300, tol=1e-4).fit(S)
        out['kmeans:' + key] = dict(inertiaAtCentres=float(d2.min(axis=1).sum()), inertia=float(km.inertia_), nIter=int(km.n_iter_),
                                    centreShift=float(np.abs(km.cluster_centers_ - C).max()), centreScale=float(np.abs(C).max()),
                                    sameLabels=bool((km.labels_ == d2.argmin(axis=1)).all()))

# detection metrics, OOD = positive class
for key, c in J['metrics'].items():
    i, o = np.asarray(c['id']), np.asarray(c['ood'])
    y = np.r_[np.zeros(len(i)), np.ones(len(o))]; s = np.r_[i, o]
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    j = int(np.argmax(tpr >= 0.95))
    out['metrics:' + key] = dict(auroc=roc_auc_score(y, s), auprOut=average_precision_score(y, s), auprIn=average_precision_score(1 - y, -s),
                                 fpr95=float(fpr[j]), threshold95=float(thr[j]), detectionAccuracy=float(1 - (0.5 * fpr + 0.5 * (1 - tpr)).min()),
                                 ties=int(len(s) - len(np.unique(s))))

# KS: statistic, Stephens-corrected asymptotic p (imagedrift's), and scipy's exact/asymp p for the record
for key, c in J['ks'].items():
    a, b = np.asarray(c['a']), np.asarray(c['b'])
    ex = stats.ks_2samp(a, b, method='exact'); asy = stats.ks_2samp(a, b, method='asymp')
    en = np.sqrt(len(a) * len(b) / (len(a) + len(b)))
    out['ks:' + key] = dict(d=float(ex.statistic), stephens=float(stats.kstwobign.sf((en + 0.12 + 0.11 / en) * ex.statistic)), exact=float(ex.pvalue), asymp=float(asy.pvalue))

for key, c in J['binomial'].items():
    out['binom:' + key] = float(stats.binomtest(c['k'], c['n'], c['p'], alternative='greater').pvalue)

# MMD², biased V-statistic, RBF exp(−‖x−y‖²/med), med = upper median of the pooled pairwise squared distances
for key, c in J['mmd'].items():
    R, W = F(c['ref']), F(c['data']); X = np.r_[R, W]; n = len(R)
    D2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    off = np.sort(D2[np.triu_indices(len(X), 1)])
    upper = float(off[len(off) // 2]); npmed = float(np.median(off))
    K = np.exp(-D2 / upper)
    Kn = np.exp(-D2 / npmed)
    v = lambda K: float(K[:n, :n].mean() + K[n:, n:].mean() - 2 * K[:n, n:].mean())
    out['mmd:' + key] = dict(bandwidthSq=upper / 2, statistic=v(K), npMedianBandwidthSq=npmed / 2, npMedianStatistic=v(Kn), pairs=len(off))

# conformal: p = (1 + #{cal ≥ s}) / (n + 1); threshold = next float above the ⌈(n+1)(1−α)⌉-th smallest (α as written)
for key, c in J['conformal'].items():
    cal = np.asarray(c['cal']); n = len(cal); srt = np.sort(cal)
    res = dict(pValues=[(1 + int((cal >= s).sum())) / (n + 1) for s in c['scores']], thresholds=[])
    for a in c['alphas']:
        f = (n + 1) * (1 - Fraction(repr(a)))
        k = f.numerator // f.denominator + (f.numerator % f.denominator != 0)
        res['thresholds'].append(dict(rank=int(k), threshold=float(np.nextafter(srt[k - 1], np.inf)), invertedCdfNext=float(np.nextafter(np.quantile(cal, k / n, method='inverted_cdf'), np.inf)), higher=float(np.quantile(cal, k / n, method='higher'))))
    out['conformal:' + key] = res

json.dump(out, sys.stdout)
`;

const take = (a: DecodedArray, from: number, to: number): DecodedArray => {
  const per = a.data.length / a.shape[0]!;
  return { ...a, data: a.data.slice(from * per, to * per), shape: [to - from, ...a.shape.slice(1)] };
};
const rowsOf = (m: Matrix, from: number, to: number): Matrix => ({ data: m.data.slice(from * m.cols, to * m.cols), rows: to - from, cols: m.cols });
const stack = (a: Matrix, b: Matrix): Matrix => ({ data: Float32Array.from([...a.data, ...b.data]), rows: a.rows + b.rows, cols: a.cols });
const round = (v: ArrayLike<number>, digits: number) => Array.from(v, (x) => Math.round(x * 10 ** digits) / 10 ** digits);

/** Largest |a − b| and |a − b| / |b| over paired values; fails naming the worst pair beyond `abs + rel·|b|`. */
function close(t: TestContext, what: string, ours: ArrayLike<number>, ref: ArrayLike<number>, tol: { rel?: number; abs?: number }): { abs: number; rel: number } {
  assert.equal(ours.length, ref.length, `${what}: ${ours.length} values against ${ref.length}`);
  assert.ok(ref.length > 0, `${what}: nothing to compare`);
  let maxAbs = 0;
  let maxRel = 0;
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < ref.length; i++) {
    const a = ours[i]!;
    const b = ref[i]!;
    assert.ok(Number.isFinite(a) && Number.isFinite(b), `${what}[${i}]: ${a} vs ${b}`);
    const d = Math.abs(a - b);
    maxAbs = Math.max(maxAbs, d);
    if (b !== 0) maxRel = Math.max(maxRel, d / Math.abs(b));
    const excess = d - ((tol.abs ?? 0) + (tol.rel ?? 0) * Math.abs(b));
    if (excess > worstExcess) [worst, worstExcess] = [i, excess];
  }
  t.diagnostic(`${what}: max abs ${maxAbs.toExponential(2)}, max rel ${maxRel.toExponential(2)} (n=${ref.length})`);
  assert.ok(worst < 0, `${what}[${worst}]: imagedrift ${ours[worst]} vs reference ${ref[worst]} (|diff| ${Math.abs(ours[worst]! - ref[worst]!)}, allowed abs ${tol.abs ?? 0} + rel ${tol.rel ?? 0})`);
  return { abs: maxAbs, rel: maxRel };
}

describe('cross-check against scikit-learn / scipy on real LeNet5 features (MNIST, CIFAR-10, seed files)', { skip }, () => {
  let dir: string;
  let ref: Record<string, any>;
  const ours: Record<string, any> = {};
  const input: Record<string, any> = { energy: {}, msp: [], mahalanobis: {}, knn: {}, cluster: {}, metrics: {}, ks: {}, binomial: {}, mmd: {}, conformal: {} };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'imagedrift-sklearn-'));
    const pp = defaultPreprocess({ channels: 1, height: 32, width: 32 });
    const mnist = toModelInput(take(await loadData(join(DATASETS, 'mnist/t10k-images-idx3-ubyte.gz')), 0, 2000), pp);
    const cifar = toModelInput(take(await loadData(join(DATASETS, 'cifar-10/test_batch.bin')), 0, 500), pp);
    const seedTrain = toModelInput(await loadData(join(SEED, 'concept_train_lenet.npy')), pp);
    const seedTest = toModelInput(await loadData(join(SEED, 'concept_test_lenet2.npy')), pp);
    const model = new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx')));
    const feats: Record<string, Matrix> = {};
    for (const layer of ['output', '9', '3']) {
      const ex = await FeatureExtractor.create(model, { layer });
      try {
        if (layer !== '3') {
          const m = await ex.extract(mnist);
          feats[`train${layer}`] = rowsOf(m, 0, 1500);
          feats[`id${layer}`] = rowsOf(m, 1500, 2000);
          feats[`ood${layer}`] = await ex.extract(cifar);
        }
        if (layer !== '9') {
          feats[`seedTrain${layer}`] = await ex.extract(seedTrain);
          feats[`seedTest${layer}`] = await ex.extract(seedTest);
        }
      } finally {
        await ex.close();
      }
    }
    const save = (name: string, m: Matrix | Float32Array, shape?: number[]) => {
      const data = m instanceof Float32Array ? m : m.data;
      writeFileSync(join(dir, `${name}.npy`), encodeNpy(data, shape ?? [(m as Matrix).rows, (m as Matrix).cols], 'float32'));
    };
    for (const [k, m] of Object.entries(feats)) save(k, m);
    const fit = (spec: DetectorSpec, train: string, classes?: Int32Array): FittedDetector => createDetector(spec).fit(feats[train]!, classes ? { classes } : {});

    // logits
    for (const T of [1, 2.5]) {
      const det = fit({ kind: 'energy', temperature: T }, 'trainoutput');
      for (const q of ['idoutput', 'oodoutput']) {
        input.energy[`${q}@${T}`] = T;
        ours[`energy:${q}@${T}`] = det.score(feats[q]!);
      }
    }
    const msp = fit({ kind: 'msp' }, 'trainoutput');
    for (const q of ['idoutput', 'oodoutput']) {
      input.msp.push(q);
      ours[`msp:${q}`] = msp.score(feats[q]!);
    }

    // Mahalanobis over the model's predicted classes
    const predicted = { trainoutput: argmaxRows(feats.trainoutput!), seedTrainoutput: argmaxRows(feats.seedTrainoutput!) };
    const maha: [string, string, string, 'ledoit-wolf' | number, string[]][] = [
      ['output-lw', 'trainoutput', 'trainoutput', 'ledoit-wolf', ['idoutput', 'oodoutput']],
      ['9-lw', 'train9', 'trainoutput', 'ledoit-wolf', ['id9', 'ood9']],
      ['9-0.1', 'train9', 'trainoutput', 0.1, ['id9', 'ood9']],
      ['3-lw', 'seedTrain3', 'seedTrainoutput', 'ledoit-wolf', ['seedTest3']],
    ];
    for (const [key, train, classesOf, shrinkage, queries] of maha) {
      const classes = predicted[classesOf as keyof typeof predicted];
      const det = fit({ kind: 'mahalanobis', shrinkage }, train, classes);
      input.mahalanobis[key] = { train, classes: Array.from(classes), shrinkage, queries };
      ours[`shrinkage:${key}`] = det.stats.shrinkage;
      for (const q of queries) ours[`maha:${key}:${q}`] = det.score(feats[q]!);
    }

    // kNN: k-th neighbour distance; a maxBank subsample; training rows scored against a bank that holds them
    const knn: [string, string, 'cosine' | 'l2', number, number | null, string[]][] = [
      ['9-cos-1', 'train9', 'cosine', 1, null, ['id9', 'ood9']],
      ['9-cos-50', 'train9', 'cosine', 50, null, ['id9', 'ood9']],
      ['9-l2-1', 'train9', 'l2', 1, null, ['id9', 'ood9']],
      ['9-l2-10', 'train9', 'l2', 10, null, ['id9', 'ood9']],
      ['9-cos-10-bank700', 'train9', 'cosine', 10, 700, ['id9', 'ood9']],
      ['3-cos-50', 'seedTrain3', 'cosine', 50, null, ['seedTest3']],
      ['3-l2-5', 'seedTrain3', 'l2', 5, null, ['seedTest3']],
    ];
    for (const [key, train, metric, k, maxBank, queries] of knn) {
      const det = fit({ kind: 'knn', k, metric, seed: 3, ...(maxBank ? { maxBank } : {}) }, train);
      const selfRows = maxBank ? 0 : 100;
      input.knn[key] = { train, metric, k, bank: maxBank ? Array.from(subsampleRows(feats[train]!.rows, maxBank, 3)) : null, queries, selfRows };
      for (const q of queries) ours[`knn:${key}:${q}`] = det.score(feats[q]!);
      if (selfRows) ours[`knnself:${key}`] = det.score(rowsOf(feats[train]!, 0, selfRows));
    }

    // feature-cluster
    for (const layer of ['output', '9']) {
      for (const score of ['euclidean', 'standardized', 'cosine', 'mindarmour', 'shortfall'] as const) {
        const key = `fc${layer}-${score}`;
        const det = fit({ kind: 'feature-cluster', nCluster: 10, score, seed: 0 }, `train${layer}`);
        const arrays = det.arrays();
        save(`${key}.centres`, arrays.centres!, [10, det.dim]);
        if (arrays.mean) {
          save(`${key}.mean`, arrays.mean, [det.dim]);
          save(`${key}.invStd`, arrays.invStd!, [det.dim]);
          ours[`scaler:${key}`] = [Array.from(arrays.mean), Array.from(arrays.invStd!)];
        }
        ours[`inertia:${key}`] = det.stats.inertia;
        const queries = [`id${layer}`, `ood${layer}`];
        input.cluster[key] = { train: `train${layer}`, score, queries };
        for (const q of queries) ours[`fc:${key}:${q}`] = det.score(feats[q]!);
      }
    }

    // detection metrics on real score vectors, and on the same rounded (ties: most scores share a value)
    const vec = (name: string, q: 'id' | 'ood') => Array.from(ours[name.replace('%', q)] as Float64Array);
    const metricCases: Record<string, [number[], number[]]> = {
      energy: [vec('energy:%output@1', 'id'), vec('energy:%output@1', 'ood')],
      'energy-rounded': [round(vec('energy:%output@1', 'id'), 0), round(vec('energy:%output@1', 'ood'), 0)],
      msp: [vec('msp:%output', 'id'), vec('msp:%output', 'ood')],
      'msp-rounded': [round(vec('msp:%output', 'id'), 2), round(vec('msp:%output', 'ood'), 2)],
      'knn9-rounded': [round(vec('knn:9-cos-50:%9', 'id'), 2), round(vec('knn:9-cos-50:%9', 'ood'), 2)],
      mahalanobis9: [vec('maha:9-lw:%9', 'id'), vec('maha:9-lw:%9', 'ood')],
      'shortfall9-rounded': [round(vec('fc:fc9-shortfall:%9', 'id'), 2), round(vec('fc:fc9-shortfall:%9', 'ood'), 2)],
    };
    for (const [key, [id, ood]] of Object.entries(metricCases)) {
      input.metrics[key] = { id, ood };
      ours[`metrics:${key}`] = detectionMetrics([...id, ...ood], [...id.map(() => 0), ...ood.map(() => 1)]);
    }

    // KS on score windows
    const knnId = vec('knn:9-cos-50:%9', 'id');
    const knnOod = vec('knn:9-cos-50:%9', 'ood');
    const energyId = vec('energy:%output@1', 'id');
    const ksCases: Record<string, [number[], number[]]> = {
      'id-vs-ood': [knnId, knnOod.slice(0, 200)],
      'id-vs-id': [knnId.slice(0, 300), knnId.slice(300, 500)],
      'id-vs-mix': [energyId.slice(0, 300), [...energyId.slice(300, 470), ...vec('energy:%output@1', 'ood').slice(0, 30)]],
      'ties-rounded': [round(energyId.slice(0, 300), 0), round(energyId.slice(300, 500), 0)],
      small: [vec('msp:%output', 'id').slice(0, 40), vec('msp:%output', 'id').slice(40, 70)],
    };
    for (const [key, [a, b]] of Object.entries(ksCases)) {
      input.ks[key] = { a, b };
      ours[`ks:${key}`] = ksDrift(a, b);
    }

    // binomial: flags at a conformal threshold fitted on half the ID scores, on ID / OOD / mixed windows
    const thr = conformalThreshold(knnId.slice(0, 250), 0.05).threshold;
    const windows: Record<string, number[]> = { id: knnId.slice(250), ood: knnOod.slice(0, 150), mix: [...knnId.slice(250), ...knnOod.slice(0, 8)] };
    for (const [w, s] of Object.entries(windows)) {
      const flags = s.map((v) => (v >= thr ? 1 : 0));
      for (const p of [0.01, 0.05, 0.3]) {
        const r = binomialDrift(flags, p);
        input.binomial[`${w}@${p}`] = { k: r.meta.flagged, n: r.meta.n, p };
        ours[`binom:${w}@${p}`] = r.pValue;
      }
    }

    // MMD on features
    const mmdCases: Record<string, [Matrix, Matrix]> = {
      '9-id-vs-ood': [rowsOf(feats.train9!, 0, 300), rowsOf(feats.ood9!, 0, 100)],
      '9-id-vs-id': [rowsOf(feats.train9!, 0, 300), rowsOf(feats.id9!, 0, 100)],
      'output-id-vs-mix (odd pair count)': [rowsOf(feats.trainoutput!, 0, 250), stack(rowsOf(feats.idoutput!, 0, 90), rowsOf(feats.oodoutput!, 0, 10))],
      'output-small': [rowsOf(feats.trainoutput!, 0, 7), rowsOf(feats.idoutput!, 0, 5)],
    };
    for (const [key, [r, w]] of Object.entries(mmdCases)) {
      const name = key.split(' ')[0]!;
      save(`mmd-${name}-ref`, r);
      save(`mmd-${name}-data`, w);
      input.mmd[key] = { ref: `mmd-${name}-ref`, data: `mmd-${name}-data` };
      ours[`mmd:${key}`] = mmdDrift(r, w, { permutations: 100, seed: 1 });
    }

    // conformal p-values and thresholds
    const confCases: Record<string, [number[], number[], number[]]> = {
      knn9: [knnId.slice(0, 250), [...knnId.slice(250), ...knnOod.slice(0, 100), ...knnId.slice(0, 20)], [0.01, 0.05, 0.1, 0.2, 0.5]],
      'knn9-rounded': [round(knnId.slice(0, 250), 2), round([...knnId.slice(250), ...knnOod.slice(0, 100)], 2), [0.05, 0.1]],
      'n149-alpha0.18': [knnId.slice(0, 149), knnId.slice(149, 300), [0.18]],
    };
    for (const [key, [cal, scores, alphas]] of Object.entries(confCases)) {
      input.conformal[key] = { cal, scores, alphas };
      ours[`conformal:${key}`] = { pValues: conformalPValues(cal, scores), thresholds: alphas.map((a) => conformalThreshold(cal, a)) };
    }

    writeFileSync(join(dir, 'input.json'), JSON.stringify(input));
    writeFileSync(join(dir, 'reference.py'), REFERENCE_PY);
    const r = spawnSync(PYTHON, [join(dir, 'reference.py'), dir], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 300_000 });
    if (r.status !== 0) throw new Error(`reference.py failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}): ${r.stderr.trim().slice(-3000)}`);
    ref = JSON.parse(r.stdout);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('energy = −T·logsumexp(logits/T) and MSP = −max softmax match scipy.special', (t) => {
    for (const key of Object.keys(input.energy)) close(t, `energy ${key}`, ours[`energy:${key}`], ref[`energy:${key}`], { rel: 1e-12 });
    for (const key of input.msp) close(t, `msp ${key}`, ours[`msp:${key}`], ref[`msp:${key}`], { rel: 1e-12 });
  });

  it('Mahalanobis: the Ledoit–Wolf coefficient equals sklearn ledoit_wolf_shrinkage, scores equal LedoitWolf/ShrunkCovariance.mahalanobis (min over classes)', (t) => {
    for (const key of Object.keys(input.mahalanobis)) {
      if (input.mahalanobis[key].shrinkage === 'ledoit-wolf') {
        const [coef, estimator] = ref[`lw:${key}`];
        close(t, `Ledoit–Wolf shrinkage ${key}`, [ours[`shrinkage:${key}`], ours[`shrinkage:${key}`]], [coef, estimator], { rel: 1e-10 });
      }
      // float32 storage of L⁻¹ and the whitened means leaves ~1e-7 relative; the 1e-6·μ ridge formerly added on top of
      // s·μ gave 2–5e-5 (Ledoit–Wolf) and 4e-6 (s = 0.1).
      for (const q of input.mahalanobis[key].queries) close(t, `mahalanobis ${key} on ${q}`, ours[`maha:${key}:${q}`], ref[`maha:${key}:${q}`], { rel: 1e-6 });
    }
  });

  it('kNN: the k-th (not the mean) nearest distance matches sklearn NearestNeighbors (cosine, L2, maxBank subsample); training rows count themselves', (t) => {
    for (const [key, c] of Object.entries<any>(input.knn)) {
      // cosine: the bank is stored L2-normalised in float32, so 1 − cos carries an absolute error of a few 1e-8
      const tol = c.metric === 'cosine' ? { abs: 1e-7 } : { rel: 1e-9, abs: 1e-9 };
      for (const q of c.queries) {
        close(t, `knn ${key} on ${q}`, ours[`knn:${key}:${q}`], ref[`knn:${key}:${q}`], tol);
        if (c.k > 1) assert.ok(ours[`knn:${key}:${q}`].some((v: number, i: number) => Math.abs(v - ref[`knnmean:${key}:${q}`][i]) > 1e-3), `${key}: the k-th distance should differ from the mean of the k`);
      }
      if (c.selfRows) {
        close(t, `knn ${key} on its own first ${c.selfRows} training rows (self included, as kneighbors(X))`, ours[`knnself:${key}`], ref[`knnself:${key}`], { ...tol, abs: 1e-6 });
        const loo: number[] = ref[`knnloo:${key}`];
        assert.ok(loo.some((v, i) => v - ours[`knnself:${key}`][i] > 1e-3), `${key}: the self-excluded distances (kneighbors()) should be larger somewhere`);
      }
    }
  });

  it('feature-cluster: every score mode recomputed from imagedrift\'s centres; StandardScaler; KMeans started at the centres is a fixed point', (t) => {
    for (const [key, c] of Object.entries<any>(input.cluster)) {
      for (const q of c.queries) close(t, `feature-cluster ${key} on ${q}`, ours[`fc:${key}:${q}`], ref[`fc:${key}:${q}`], { rel: 1e-9, abs: 1e-12 });
      if (c.score === 'standardized') {
        const [mean, invStd] = ours[`scaler:${key}`];
        const [skMean, skInv] = ref[`scaler:${key}`];
        close(t, `${key} mean vs StandardScaler.mean_`, mean, skMean, { rel: 1e-6, abs: 1e-7 });
        close(t, `${key} 1/std vs 1/StandardScaler.scale_`, invStd, skInv, { rel: 1e-6 });
      }
      const km = ref[`kmeans:${key}`];
      if (km) {
        // standardized: imagedrift clusters the float32 z-scores, numpy the float64 ones (~1e-9 relative)
        close(t, `${key} inertia vs Σ min‖x − c‖²`, [ours[`inertia:${key}`]], [km.inertiaAtCentres], { rel: 1e-7 });
        close(t, `${key} inertia vs sklearn KMeans(init=centres).inertia_`, [ours[`inertia:${key}`]], [km.inertia], { rel: 1e-6 });
        assert.equal(km.nIter, 1, `${key}: sklearn KMeans started at imagedrift's centres should converge in its first iteration, took ${km.nIter}`);
        assert.ok(km.sameLabels, `${key}: sklearn's labels differ from the nearest-centre assignment`);
        assert.ok(km.centreShift <= 1e-6 * km.centreScale, `${key}: sklearn moved a centre by ${km.centreShift} (scale ${km.centreScale})`);
        t.diagnostic(`${key}: sklearn KMeans(init=centres) n_iter 1, max centre shift ${km.centreShift.toExponential(2)}`);
      }
    }
  });

  it('metrics: AUROC, AUPR-Out/In, FPR@95TPR and its threshold, detection accuracy match sklearn.metrics, ties included', (t) => {
    for (const key of Object.keys(input.metrics)) {
      const m = ours[`metrics:${key}`];
      const r = ref[`metrics:${key}`];
      t.diagnostic(`${key}: ${r.ties} tied scores`);
      for (const f of ['auroc', 'auprOut', 'auprIn', 'detectionAccuracy']) close(t, `${key} ${f}`, [m[f]], [r[f]], { abs: 1e-12 });
      assert.equal(m.fpr95, r.fpr95, `${key} fpr95`);
      assert.equal(m.threshold95, r.threshold95, `${key} threshold95`);
    }
    assert.ok(ref['metrics:energy-rounded'].ties > 900 && ref['metrics:msp-rounded'].ties > 900, 'the rounded cases should be mostly ties');
  });

  it('KS: D equals scipy ks_2samp; the p-value is the Stephens-corrected asymptotic one (kstwobign), near scipy\'s exact', (t) => {
    for (const key of Object.keys(input.ks)) {
      const o = ours[`ks:${key}`];
      const r = ref[`ks:${key}`];
      close(t, `KS D ${key}`, [o.statistic], [r.d], { abs: 1e-12 });
      close(t, `KS p ${key} vs kstwobign.sf(Stephens λ)`, [o.pValue], [r.stephens], { rel: 1e-9, abs: 1e-300 });
      t.diagnostic(`KS p ${key}: imagedrift ${o.pValue.toPrecision(6)}, scipy exact ${r.exact.toPrecision(6)}, scipy asymp ${r.asymp.toPrecision(6)}`);
      // The documented size of the convention difference (README): within 6% of the exact p at these sizes, 2% here.
      if (r.exact >= 1e-3) assert.ok(Math.abs(o.pValue - r.exact) <= 0.02 * Math.max(r.exact, 0.05), `KS p ${key}: ${o.pValue} is far from scipy's exact ${r.exact}`);
    }
  });

  it('binomial: the exact one-sided p-value equals scipy.stats.binomtest(alternative="greater")', (t) => {
    for (const key of Object.keys(input.binomial)) close(t, `binomial ${key} (k=${input.binomial[key].k}, n=${input.binomial[key].n})`, [ours[`binom:${key}`]], [ref[`binom:${key}`]], { rel: 1e-9 });
  });

  it('MMD: the median-heuristic bandwidth (upper median) and the biased MMD² equal numpy', (t) => {
    for (const key of Object.keys(input.mmd)) {
      const o = ours[`mmd:${key}`];
      const r = ref[`mmd:${key}`];
      close(t, `MMD bandwidth² ${key}`, [o.meta.bandwidthSq], [r.bandwidthSq], { rel: 1e-12 });
      close(t, `MMD² ${key}`, [o.statistic], [r.statistic], { rel: 1e-9, abs: 1e-15 });
      t.diagnostic(`MMD ${key}: ${r.pairs} pairs; with np.median's bandwidth MMD² would differ by ${Math.abs(o.statistic - r.npMedianStatistic).toExponential(2)}`);
    }
  });

  it('conformal: p-values (1 + #{cal ≥ s})/(n + 1) and the threshold just above the ⌈(n+1)(1−α)⌉-th smallest score, exactly', (t) => {
    for (const key of Object.keys(input.conformal)) {
      const o = ours[`conformal:${key}`];
      const r = ref[`conformal:${key}`];
      assert.deepEqual(Array.from(o.pValues as Float64Array), r.pValues, `${key} p-values`);
      o.thresholds.forEach((th: { rank: number; threshold: number; targetFpr: number }, i: number) => {
        const rt = r.thresholds[i];
        assert.equal(th.rank, rt.rank, `${key} α=${th.targetFpr} rank`);
        assert.equal(th.threshold, rt.threshold, `${key} α=${th.targetFpr} threshold`);
        assert.equal(th.threshold, rt.invertedCdfNext, `${key} α=${th.targetFpr}: the next float above np.quantile(cal, k/n, method='inverted_cdf')`);
        t.diagnostic(`${key} α=${th.targetFpr}: rank ${th.rank} of ${input.conformal[key].cal.length}; np.quantile(k/n, method='higher') would take ${rt.higher < th.threshold ? 'the same order statistic' : 'the next one up'}`);
      });
    }
  });
});
