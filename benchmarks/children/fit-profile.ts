/** Profiled child of the fit section: the one-time detector fit (60k×10, nCluster 10, mindarmour) `runs` times. */
import { FeatureClusterDetector } from '../../src/core/feature-cluster.js';
import { decodeNpy } from '../../src/io/npy.js';
import { readBytes } from '../lib/data.js';

const [file, runs = '5'] = process.argv.slice(2);
const a = decodeNpy(readBytes(file!));
const x = { data: a.data, rows: a.shape[0]!, cols: a.shape[1]! };
for (let r = 0; r < Number(runs); r++) new FeatureClusterDetector({ nCluster: 10, score: 'mindarmour', seed: r }).fit(x);
