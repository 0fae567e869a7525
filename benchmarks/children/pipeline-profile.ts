/**
 * Profiled child of the ORT section: the full predict pipeline (decode → preprocess → extract → score → threshold)
 * on the MNIST test set, warm, `runs` times. Run under `node --cpu-prof`.
 */
import { decodeBytes } from '../../src/io/load.js';
import { calibrateDetector, fitDetector, predictData } from '../../src/service/detector-service.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { labels, LAYER, model, N_CLUSTER, PATHS, readBytes } from '../lib/data.js';

const runs = Number(process.argv[2] ?? 5);
const m = model();
const seed = (p: string) => decodeBytes(readBytes(p), p);
const fitted = await fitDetector({ model: m, modelKey: 'model.onnx', data: await seed(PATHS.seedTrain), layer: LAYER, nCluster: N_CLUSTER, score: 'mindarmour' });
const { bundle } = await calibrateDetector(fitted, m, { data: await seed(PATHS.seedEval), oodLabels: labels(50, 50), grid: 0.01 });
const bytes = readBytes(PATHS.mnistTest);
for (let i = 0; i < runs; i++) await predictData(bundle, m, await decodeBytes(bytes, 't10k-images-idx3-ubyte.gz'));
await closeExtractors();
