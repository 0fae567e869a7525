/**
 * Measures every feature-cluster score mode × tutorial layer, to choose the default (docs/SCORE-MODES.md).
 *   npx tsx scripts/measure-modes.ts [--mnist-train N] [--seeds K]
 * prints the table of docs/SCORE-MODES.md (paste it under that file's preamble, which it does not print).
 * Seed files: fit on concept_train_lenet.npy, threshold from concept_test_lenet1.npy (exact search; grid 0.01 for
 * mindarmour too), test accuracy on concept_test_lenet2.npy (200 ID + 200 OOD), KMeans seeds 0..4.
 * MNIST → CIFAR-10: fit on the first N MNIST train images, AUROC / FPR@95TPR on MNIST test vs CIFAR-10 test (grey).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { InputError } from '../src/core/errors.js';
import { FeatureClusterDetector, SCORE_MODES } from '../src/core/feature-cluster.js';
import { aurocOf, fprAtTpr } from '../src/core/metrics.js';
import { defaultPreprocess, toModelInput } from '../src/core/preprocess.js';
import { applyThreshold, exactThreshold, gridThreshold } from '../src/core/threshold.js';
import { decodeCifarBin } from '../src/io/cifar.js';
import { decodeIdx } from '../src/io/idx.js';
import { decodeNpy } from '../src/io/npy.js';
import { closeExtractors, layerFeatures } from '../src/service/extractor-cache.js';

const { values } = parseArgs({ options: { 'mnist-train': { type: 'string', default: '10000' }, seeds: { type: 'string', default: '5' } } });
const nTrain = Number(values['mnist-train']);
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => i);
const SHARED = new URL('../../shared/', import.meta.url).pathname;
const bytes = (p: string) => new Uint8Array(readFileSync(SHARED + p));
const model = new Uint8Array(readFileSync(new URL('../models/lenet5.onnx', import.meta.url)));
const pp = defaultPreprocess({ channels: 1, height: 32, width: 32 });
const seed = ['concept_train_lenet.npy', 'concept_test_lenet1.npy', 'concept_test_lenet2.npy'].map((f) => toModelInput(decodeNpy(bytes(`seed-example/${f}`)), pp));
const mn = decodeIdx(bytes('datasets/mnist/train-images-idx3-ubyte.gz'));
const mnTrain = toModelInput({ ...mn, data: mn.data.subarray(0, nTrain * 784), shape: [nTrain, 28, 28] }, pp);
const mnTest = toModelInput(decodeIdx(bytes('datasets/mnist/t10k-images-idx3-ubyte.gz')), pp);
const cifar = toModelInput(decodeCifarBin(bytes('datasets/cifar-10/test_batch.bin')), pp);
const evl = Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1));
const tel = Array.from({ length: 400 }, (_, i) => (i < 200 ? 0 : 1));
const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
const f3 = (x: number) => x.toFixed(3);
/** Test accuracy at MindArmour's 0.01 grid threshold, or NaN when the grid cannot hold one (scores outside 0..0.99). */
const gridAccuracy = (evalScores: Float64Array, acc: (t: number) => number): number => {
  try {
    return acc(gridThreshold(evalScores, evl, 0.01).threshold);
  } catch (e) {
    if (e instanceof InputError && e.field === 'grid') return Number.NaN;
    throw e;
  }
};

console.log(`| layer | score | seed test acc. (exact), mean (min–max) | seed test acc. (grid 0.01) | MNIST→CIFAR-10 AUROC | FPR@95TPR |`);
console.log(`|---|---|---|---|---|---|`);
for (const layer of ['8', '9', '10', '11', 'output']) {
  const ex = { extract: (x: Parameters<typeof layerFeatures>[2]) => layerFeatures(model, layer, x) };
  const [ft, fe, fs] = [await ex.extract(seed[0]!), await ex.extract(seed[1]!), await ex.extract(seed[2]!)];
  const [mt, mi, mo] = [await ex.extract(mnTrain), await ex.extract(mnTest), await ex.extract(cifar)];
  for (const score of SCORE_MODES) {
    const exact: number[] = [];
    const grid: number[] = [];
    for (const s of seeds) {
      const d = new FeatureClusterDetector({ nCluster: 10, score, seed: s }).fit(ft);
      const [se, ss] = [d.score(fe), d.score(fs)];
      const acc = (t: number) => Array.from(applyThreshold(ss, t)).filter((v, i) => v === tel[i]).length / 400;
      exact.push(acc(exactThreshold(se, evl).threshold));
      // A grid is refused when no grid point separates the scores (they lie outside 0..0.99): no grid accuracy then.
      grid.push(gridAccuracy(se, acc));
    }
    const d = new FeatureClusterDetector({ nCluster: 10, score, seed: 0 }).fit(mt);
    const [si, so] = [d.score(mi), d.score(mo)];
    const row = [layer, score, `${f3(mean(exact))} (${f3(Math.min(...exact))}–${f3(Math.max(...exact))})`, grid.some(Number.isNaN) ? 'no grid threshold' : f3(mean(grid)), aurocOf(si, so).toFixed(4), `${(fprAtTpr(si, so).fpr * 100).toFixed(2)}%`];
    console.log(`| ${row.join(' | ')} |`);
  }
}
await closeExtractors();
