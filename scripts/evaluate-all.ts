/**
 * Every detector × LeNet5 layer on real data, written to docs/RESULTS.md:
 *   npx tsx scripts/evaluate-all.ts [--train N] [--out docs/RESULTS.md]
 * ID: MNIST test (10,000). Far OOD: CIFAR-10 test (10,000, grey 32×32). Near OOD: EMNIST letters test (20,800,
 * transposed upright as the dataset README says). Detectors are fitted on the first N MNIST train images (default
 * all 60,000); Mahalanobis uses the model's predicted classes. The model is the converted seed LeNet5.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { createDetector, RECOMMENDED_ENSEMBLE, type DetectorSpec } from '../src/core/detectors.js';
import { detectionMetricsOf, type DetectionMetrics } from '../src/core/metrics.js';
import { defaultPreprocess, toModelInput } from '../src/core/preprocess.js';
import { concatColumns, type DecodedArray, type Matrix } from '../src/core/tensor.js';
import { decodeCifarBin } from '../src/io/cifar.js';
import { decodeIdx } from '../src/io/idx.js';
import { argmaxRows } from '../src/model/extract.js';
import { closeExtractors, layerFeatures } from '../src/service/extractor-cache.js';

/*
 * --detectors <substring>: only the per-layer rows whose detector name contains it (e.g. to re-measure one detector
 * after a change to it; merge its rows into the table by hand).
 * --ensembles <substring>: run only the ensembles whose name contains it (and skip the per-layer table), e.g. to run the
 * slow full-bank kNN ensemble in a second process while --skip-ensembles <substring> runs everything else.
 */
const { values } = parseArgs({ options: { train: { type: 'string', default: '60000' }, out: { type: 'string', default: 'docs/RESULTS.md' }, ensembles: { type: 'string' }, 'skip-ensembles': { type: 'string' }, detectors: { type: 'string' } } });
const nTrain = Number(values.train);
const SHARED = new URL('../../shared/datasets/', import.meta.url).pathname;
const bytes = (p: string) => new Uint8Array(readFileSync(SHARED + p));
const model = new Uint8Array(readFileSync(new URL('../models/lenet5.onnx', import.meta.url)));
const pp = defaultPreprocess({ channels: 1, height: 32, width: 32 });

function head(a: DecodedArray, n: number): DecodedArray {
  const per = a.shape.slice(1).reduce((x, y) => x * y, 1);
  return { ...a, data: a.data.subarray(0, n * per), shape: [n, ...a.shape.slice(1)] };
}
function transposeImages(a: DecodedArray): DecodedArray {
  const [n, h, w] = a.shape as [number, number, number];
  const out = new Float32Array(a.data.length);
  for (let s = 0; s < n; s++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[s * h * w + x * w + y] = a.data[s * h * w + y * w + x]!;
  return { ...a, data: out };
}

const t0 = performance.now();
const inputs = {
  train: toModelInput(head(decodeIdx(bytes('mnist/train-images-idx3-ubyte.gz')), nTrain), pp),
  mnist: toModelInput(decodeIdx(bytes('mnist/t10k-images-idx3-ubyte.gz')), pp),
  cifar: toModelInput(decodeCifarBin(bytes('cifar-10/test_batch.bin')), pp),
  emnist: toModelInput(transposeImages(decodeIdx(bytes('emnist-letters/emnist-letters-test-images-idx3-ubyte.gz'))), pp),
};
const classes = argmaxRows(await layerFeatures(model, 'output', inputs.train));

const SPECS: { name: string; spec: DetectorSpec }[] = [
  { name: 'feature-cluster mindarmour (k=10)', spec: { kind: 'feature-cluster', nCluster: 10, score: 'mindarmour', seed: 0 } },
  { name: 'feature-cluster shortfall (k=10)', spec: { kind: 'feature-cluster', nCluster: 10, score: 'shortfall', seed: 0 } },
  { name: 'msp', spec: { kind: 'msp' } },
  { name: 'energy (T=1)', spec: { kind: 'energy', temperature: 1 } },
  { name: 'mahalanobis (Ledoit–Wolf)', spec: { kind: 'mahalanobis' } },
  { name: 'knn (k=50, cosine, bank 20k)', spec: { kind: 'knn', k: 50, metric: 'cosine', maxBank: 20000, seed: 0 } },
];
const fmt = (m: DetectionMetrics) => `${m.auroc.toFixed(4)} / ${(m.fpr95 * 100).toFixed(2)}% / ${m.auprIn.toFixed(4)} / ${m.auprOut.toFixed(4)} / ${m.detectionAccuracy.toFixed(4)}`;
const rows: string[] = [];
const featsByLayer = new Map<string, Record<string, Matrix>>();
const best: { far: [number, string]; near: [number, string] } = { far: [0, ''], near: [0, ''] };
// 3: pool1 (6×14×14), 7: pool2 flattened (16×5×5); 8–11: the fully connected layers and their ReLUs; output: logits.
const onlyEnsembles = values.ensembles;
const LAYERS = onlyEnsembles === undefined ? ['3', '7', '8', '9', '10', '11', 'output'] : [];
/** The layer's features for every split, extracted once. */
async function features(layer: string): Promise<Record<string, Matrix>> {
  let f = featsByLayer.get(layer);
  if (!f) {
    f = {};
    for (const [k, v] of Object.entries(inputs)) f[k] = await layerFeatures(model, layer, v);
    featsByLayer.set(layer, f);
  }
  return f;
}
for (const layer of LAYERS) {
  const f = await features(layer);
  for (const { name, spec } of SPECS) {
    if (values.detectors !== undefined && !name.includes(values.detectors)) continue;
    if ((spec.kind === 'msp' || spec.kind === 'energy') && layer !== 'output') {
      rows.push(`| ${layer} | ${name} | n/a (needs logits) | n/a |`);
      continue;
    }
    const t = performance.now();
    const det = createDetector(spec).fit(f.train!, { classes });
    const [si, sc, se] = [det.score(f.mnist!), det.score(f.cifar!), det.score(f.emnist!)];
    const far = detectionMetricsOf(si, sc);
    const near = detectionMetricsOf(si, se);
    if (far.auroc > best.far[0]) best.far = [far.auroc, `${name} @ ${layer}`];
    if (near.auroc > best.near[0]) best.near = [near.auroc, `${name} @ ${layer}`];
    rows.push(`| ${layer} | ${name} | ${fmt(far)} | ${fmt(near)} |`);
    console.error(`${layer} ${name}: ${far.auroc.toFixed(4)} ${near.auroc.toFixed(4)} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  }
}

/** Score combinations, fitted on ID only (members standardised on a held-out 10% of the training rows). */
const ENSEMBLES: { name: string; members: { layer: string; detector: DetectorSpec }[] }[] = [
  { name: 'energy@output + shortfall@9', members: [{ layer: 'output', detector: { kind: 'energy' } }, { layer: '9', detector: { kind: 'feature-cluster', nCluster: 10, score: 'shortfall', seed: 0 } }] },
  { name: 'energy@output + shortfall@9 + mahalanobis@8', members: [{ layer: 'output', detector: { kind: 'energy' } }, { layer: '9', detector: { kind: 'feature-cluster', nCluster: 10, score: 'shortfall', seed: 0 } }, { layer: '8', detector: { kind: 'mahalanobis' } }] },
  { name: 'energy@output + mahalanobis@8', members: [{ layer: 'output', detector: { kind: 'energy' } }, { layer: '8', detector: { kind: 'mahalanobis' } }] },
  // RECOMMENDED_ENSEMBLE: the nearest training image in pool1's space (low-level strokes) plus the logits' energy.
  { name: 'energy@output + knn(k=1, l2, full bank)@3', members: [...RECOMMENDED_ENSEMBLE.members] },
];
function concat(layers: string[], split: string): { m: Matrix; columns: Record<string, [number, number]> } {
  const { matrix, columns } = concatColumns(layers.map((l) => featsByLayer.get(l)![split]!), layers);
  return { m: matrix, columns };
}
for (const e of ENSEMBLES) {
  if (onlyEnsembles !== undefined && !e.name.includes(onlyEnsembles)) continue;
  if (values['skip-ensembles'] !== undefined && e.name.includes(values['skip-ensembles'])) continue;
  const layers = [...new Set(e.members.map((m) => m.layer))];
  for (const l of layers) await features(l);
  const t = performance.now();
  const tr = concat(layers, 'train');
  const det = createDetector({ kind: 'ensemble', members: e.members } as DetectorSpec).fit(tr.m, { classes, columns: tr.columns });
  const [si, sc, se] = ['mnist', 'cifar', 'emnist'].map((s) => det.score(concat(layers, s).m));
  const far = detectionMetricsOf(si!, sc!);
  const near = detectionMetricsOf(si!, se!);
  if (far.auroc > best.far[0]) best.far = [far.auroc, `ensemble ${e.name}`];
  if (near.auroc > best.near[0]) best.near = [near.auroc, `ensemble ${e.name}`];
  rows.push(`| ${layers.join('+')} | ensemble: ${e.name} | ${fmt(far)} | ${fmt(near)} |`);
  console.error(`ensemble ${e.name}: ${far.auroc.toFixed(4)} ${near.auroc.toFixed(4)} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
}
await closeExtractors();
const md = `# Detection quality on real data

Produced by \`npx tsx scripts/evaluate-all.ts --train ${nTrain}\` (${((performance.now() - t0) / 1000).toFixed(0)} s on ${cpus().length} cores).
Model: the converted seed LeNet5 (\`models/lenet5.onnx\`). Detectors fitted on the first ${nTrain} MNIST train images.
ID = MNIST test (10,000). Far OOD = CIFAR-10 test (10,000, grey 32×32). Near OOD = EMNIST letters test (20,800, upright).
Convention: OOD is the positive class; FPR@95 is the share of ID flagged at the threshold that catches 95% of OOD;
detection accuracy = 1 − min_t ½(FPR + FNR).

Cells: AUROC / FPR@95TPR / AUPR-In / AUPR-Out / detection accuracy.

| layer | detector | MNIST → CIFAR-10 | MNIST → EMNIST letters |
|---|---|---|---|
${rows.join('\n')}

Best AUROC, MNIST → CIFAR-10: ${best.far[0].toFixed(4)} (${best.far[1]}). MNIST → EMNIST letters: ${best.near[0].toFixed(4)} (${best.near[1]}).
`;
// The analysis written by hand below the table (from "## Goals") is kept.
let previous = '';
try {
  previous = readFileSync(values.out!, 'utf8');
} catch {
  // first run
}
const analysis = previous.indexOf('\n## Goals');
writeFileSync(values.out!, analysis >= 0 ? md + previous.slice(analysis) : md);
console.error(md);
