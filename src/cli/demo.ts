import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assetPath as asset } from '../assets.js';
import { RECOMMENDED_ENSEMBLE, RECOMMENDED_LAYER, type DetectorSpec } from '../core/detectors.js';
import { DEFAULT_SCORE_MODE, type ScoreMode } from '../core/feature-cluster.js';
import { accuracy } from '../core/metrics.js';
import { decodeNpz } from '../io/npz.js';
import { calibrateDetector, fitDetector, predictData } from '../service/detector-service.js';
import { DetectorRepository } from '../storage/detector-repository.js';
import { LocalDirStore } from '../storage/local-dir-store.js';
import type { Io } from './main.js';

/**
 * `imagedrift demo`: MindArmour's concept-drift tutorial end to end on files shipped in the repo
 * (models/lenet5.onnx, data/seed-demo.npz), through the same fit → save → load → calibrate → save → predict path
 * as the CLI and the worker: in the tutorial's parity configuration, the default feature-cluster configuration, and
 * the best measured detector (RECOMMENDED_ENSEMBLE, docs/RESULTS.md).
 */
interface DemoConfig {
  readonly name: string;
  readonly layer: string;
  readonly score: ScoreMode;
  readonly grid?: number;
  /** A detector other than feature-cluster (then `layer` and `score` are not used). */
  readonly detector?: DetectorSpec;
}

const CONFIGS: readonly DemoConfig[] = [
  { name: 'parity (tutorial: layer output, mindarmour, grid 0.01)', layer: 'output', score: 'mindarmour', grid: 0.01 },
  { name: `default (layer ${RECOMMENDED_LAYER}, ${DEFAULT_SCORE_MODE}, exact threshold)`, layer: RECOMMENDED_LAYER, score: DEFAULT_SCORE_MODE },
  { name: 'best measured (ensemble: energy@output + nearest training image@3, exact threshold)', layer: 'output+3', score: DEFAULT_SCORE_MODE, detector: RECOMMENDED_ENSEMBLE },
];


export async function runDemo(io: Io, json: boolean): Promise<void> {
  const t0 = performance.now();
  const model = new Uint8Array(await readFile(asset('models/lenet5.onnx')));
  const npz = decodeNpz(new Uint8Array(await readFile(asset('data/seed-demo.npz'))));
  const { train, eval: ev, test, eval_labels: evalLabels, test_truth: truth } = npz as Record<string, NonNullable<(typeof npz)[string]>>;
  const dir = await mkdtemp(join(tmpdir(), 'imagedrift-demo-'));
  const report = [];
  try {
    for (const [i, cfg] of CONFIGS.entries()) {
      const t = performance.now();
      const repo = new DetectorRepository(new LocalDirStore(join(dir, `config-${i}`)));
      await repo.store.put('model.onnx', model);
      const what = cfg.detector ? { detector: cfg.detector } : { layer: cfg.layer, nCluster: 10, score: cfg.score, seed: 0 };
      await repo.save('', await fitDetector({ model, modelKey: 'model.onnx', data: train!, ...what }));
      const fitted = await repo.load('');
      const cal = await calibrateDetector(fitted.bundle, model, { data: ev!, oodLabels: evalLabels!.data, ...(cfg.grid ? { grid: cfg.grid } : {}) });
      await repo.save('', cal.bundle);
      const current = await repo.load('');
      const pred = await predictData(current.bundle, model, test!);
      report.push({
        config: cfg.name,
        threshold: pred.threshold,
        evalAccuracy: current.bundle.calibration!.accuracy,
        testAccuracy: accuracy(pred.result, truth!.data),
        result: pred.result,
        seconds: (performance.now() - t) / 1000,
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const total = (performance.now() - t0) / 1000;
  if (json) {
    io.out(JSON.stringify({ configs: report, seconds: total }));
    return;
  }
  io.out('imagedrift demo: MindArmour concept-drift example (LeNet5 on MNIST; OOD = CIFAR-10 grey)');
  io.out('fit on 1000 MNIST images, threshold from 50 ID + 50 OOD, predict 200 ID then 200 OOD\n');
  for (const r of report) {
    io.out(`${r.config}`);
    io.out(`  threshold      ${Number(r.threshold.toFixed(6))}`);
    io.out(`  eval accuracy  ${(r.evalAccuracy ?? Number.NaN).toFixed(3)}`);
    io.out(`  test accuracy  ${r.testAccuracy.toFixed(3)}`);
    io.out(`  result         [${r.result.slice(0, 12).join(',')},…,${r.result.slice(-12).join(',')}]  (${r.result.reduce((a, b) => a + b, 0)} of ${r.result.length} flagged)`);
    io.out(`  time           ${r.seconds.toFixed(2)} s\n`);
  }
  io.out(`total ${total.toFixed(2)} s`);
}
