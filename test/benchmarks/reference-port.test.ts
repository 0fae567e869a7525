/**
 * The benchmark's reference (benchmarks/reference/ood_feature_cluster_port.py, a port of MindArmour's
 * OodDetectorFeatureCluster) against imagedrift on a small real feature file: given imagedrift's centres, the port's
 * scores must match to 1e-5 and its threshold and 0/1 output must be identical. Needs Debian's /usr/bin/python3 with
 * python3-numpy and python3-sklearn (`npm run bench` installs them; .ci/run installs sklearn).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FeatureClusterDetector, type FittedFeatureCluster } from '../../src/core/feature-cluster.js';
import { defaultPreprocess, toModelInput } from '../../src/core/preprocess.js';
import type { Matrix } from '../../src/core/tensor.js';
import { applyThreshold, gridThreshold } from '../../src/core/threshold.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { FeatureExtractor } from '../../src/model/extract.js';
import { PORT_SCRIPT, pythonVersions, runPythonJson } from '../../benchmarks/lib/python.js';
import { REPO, SEED } from '../helpers/paths.js';

interface PortOut {
  threshold: number;
  result: number[];
  evalScores: number[];
  testScores: number[];
  runs: { kmeansFits: number }[];
}

const rowsOf = (m: Matrix, from: number, to: number): Matrix => ({ data: m.data.slice(from * m.cols, to * m.cols), rows: to - from, cols: m.cols });

describe('benchmark reference: the MindArmour port vs imagedrift', () => {
  let dir: string;
  let train: Matrix;
  let ev: Matrix;
  let test: Matrix;
  const evalLabels = new Uint8Array(40).fill(1, 20); // 20 MNIST + 20 CIFAR-10 (grey) from the seed eval file
  let det: FittedFeatureCluster;
  const files: Record<string, string> = {};

  before(async () => {
    const v = pythonVersions();
    if ('error' in v) assert.fail(`/usr/bin/python3 with numpy and scikit-learn is needed for this test: ${v.error}. Install them with: apt-get install python3-numpy python3-sklearn`);
    dir = mkdtempSync(join(tmpdir(), 'imagedrift-port-'));
    const pp = defaultPreprocess({ channels: 1, height: 32, width: 32 });
    const npy = (f: string) => decodeNpy(new Uint8Array(readFileSync(join(SEED, f))));
    const ex = await FeatureExtractor.create(new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx'))), { layer: 'output' });
    try {
      train = await ex.extract(toModelInput(npy('concept_train_lenet.npy'), pp));
      train = rowsOf(train, 0, 200);
      const e = await ex.extract(toModelInput(npy('concept_test_lenet1.npy'), pp));
      ev = { data: Float32Array.from([...e.data.subarray(0, 20 * e.cols), ...e.data.subarray(50 * e.cols, 70 * e.cols)]), rows: 40, cols: e.cols };
      test = rowsOf(await ex.extract(toModelInput(npy('concept_test_lenet2.npy'), pp)), 180, 220); // 20 MNIST + 20 CIFAR
    } finally {
      await ex.close();
    }
    det = new FeatureClusterDetector({ nCluster: 10, score: 'mindarmour', seed: 0 }).fit(train);
    const write = (name: string, m: Matrix) => writeFileSync((files[name] = join(dir, `${name}.npy`)), encodeNpy(m.data, [m.rows, m.cols], 'float32'));
    write('train', train);
    write('eval', ev);
    write('test', test);
    write('centres', { data: det.state.centres, rows: 10, cols: det.dim });
    writeFileSync((files.labels = join(dir, 'labels.npy')), encodeNpy(evalLabels, [40], 'uint8'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const port = (extra: string[]) => runPythonJson<PortOut>(PORT_SCRIPT, ['--train', files.train!, '--eval', files.eval!, '--labels', files.labels!, '--test', files.test!, '--n-cluster', '10', ...extra]);

  it('given imagedrift\'s centres, the port scores within 1e-5 and gives the same threshold and 0/1 result', () => {
    const out = port(['--centres', files.centres!]);
    const se = det.score(ev);
    const st = det.score(test);
    assert.equal(out.evalScores.length, 40);
    assert.equal(out.testScores.length, 40);
    for (let i = 0; i < 40; i++) {
      assert.ok(Math.abs(out.evalScores[i]! - se[i]!) <= 1e-5, `eval score ${i}: port ${out.evalScores[i]} vs imagedrift ${se[i]}`);
      assert.ok(Math.abs(out.testScores[i]! - st[i]!) <= 1e-5, `test score ${i}: port ${out.testScores[i]} vs imagedrift ${st[i]}`);
    }
    const t = gridThreshold(se, evalLabels, 0.01).threshold;
    assert.equal(out.threshold, t);
    assert.deepEqual(out.result, Array.from(applyThreshold(st, t)));
    assert.equal(out.runs[0]!.kmeansFits, 0, 'with given centres the port fits no KMeans');
  });

  it('without centres the port refits KMeans in each call, as MindArmour does, and still returns one 0/1 per sample', () => {
    const out = port(['--random-state', '0']);
    assert.equal(out.result.length, 40);
    assert.ok(out.result.every((v) => v === 0 || v === 1));
    assert.ok(Number.isInteger(Math.round(out.threshold * 100)) && Math.abs(out.threshold * 100 - Math.round(out.threshold * 100)) < 1e-9, `threshold ${out.threshold} on the 0.01 grid`);
    assert.equal(out.runs[0]!.kmeansFits, 2, 'one KMeans fit in each of the two calls');
  });
});
