/**
 * ml-kmeans as a `KMeansEngine`, for the benchmark's comparison with the `typed` engine and scikit-learn
 * (BENCHMARKS.md §3, benchmarks/sections/fit-scale.ts). Kept with the benchmark, not in src/, so that the library,
 * the CLI, the functions and the worker never load ml-kmeans (a devDependency) and its dependencies (about 0.1 s of
 * module loading at every start).
 */
import { kmeans } from 'ml-kmeans';
import type { KMeansEngine } from '../../src/core/kmeans.js';
import type { Matrix } from '../../src/core/tensor.js';

/**
 * ml-kmeans (k-means++ initialisation, its own tolerance rule). The rows it needs as number[][] are built once per
 * matrix for this engine object, i.e. once per fit when each fit gets a new engine (as the benchmark does).
 */
export function mlKmeansEngine(): KMeansEngine {
  const rowsOf = new WeakMap<Matrix, number[][]>();
  return {
    run(x, k, seed, opts) {
      let rows = rowsOf.get(x);
      if (!rows) {
        rows = Array.from({ length: x.rows }, (_, r) => Array.from(x.data.subarray(r * x.cols, (r + 1) * x.cols)));
        rowsOf.set(x, rows);
      }
      const res = kmeans(rows, k, { initialization: 'kmeans++', seed, maxIterations: opts.maxIterations, tolerance: opts.tolerance });
      const centres = new Float32Array(k * x.cols);
      for (let j = 0; j < k; j++) centres.set(res.centroids[j]!, j * x.cols);
      return { centres, iterations: res.iterations };
    },
  };
}
