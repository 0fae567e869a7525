/**
 * Worker-thread entry, started by src/service/fit-runner.ts: runs some of a feature-cluster fit's KMeans
 * initialisations on the shared clustering-space features and sends back each one's centres, iterations and inertia
 * (null for one that ended with an empty cluster). It imports k-means only: its start-up is part of what spreading
 * the initialisations has to win back, and every detector's module takes several times longer to load.
 */
import { workerData } from 'node:worker_threads';
import { runKMeansInit, type KMeansPlan } from '../core/kmeans.js';
import type { Matrix } from '../core/tensor.js';
import { replyWith } from './thread-reply.js';

const { space, plan, inits } = workerData as { space: Matrix; plan: KMeansPlan; inits: readonly number[] };
replyWith(() => ({ runs: inits.map((i) => runKMeansInit(space, plan, i) ?? null) }));
