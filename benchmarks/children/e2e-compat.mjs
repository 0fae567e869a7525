// One process, MindArmour-style script on imagedrift's public API (the compiled package in dist/): construct the
// detector on the training images, get the threshold on the labelled eval images, predict the test images.
// Usage: node e2e-compat.mjs <train.npy> <eval.npy> <test.npy> ; prints {threshold, result} as JSON.
import { readFileSync } from 'node:fs';
import { decodeNpy, OodDetectorFeatureCluster } from '../../dist/src/index.js';

const [train, ev, test] = process.argv.slice(2).map((p) => decodeNpy(new Uint8Array(readFileSync(p))));
const model = new Uint8Array(readFileSync(new URL('../../models/lenet5.onnx', import.meta.url)));
const nEval = ev.shape[0];
const labels = Array.from({ length: nEval }, (_, i) => (i < nEval / 2 ? 0 : 1));
const det = new OodDetectorFeatureCluster(model, train, 10, 'output[:Tensor]');
const threshold = await det.getOptimalThreshold(labels, ev);
const result = await det.oodPredict(threshold, test);
process.stdout.write(JSON.stringify({ threshold, result }));
