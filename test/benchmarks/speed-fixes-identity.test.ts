/**
 * The speed fixes made for the benchmarks (issue 5) must not change any result:
 * - k-means: k-means++ (all candidates of a step scored together) and Lloyd with Hamerly's bounds give bit-identical
 *   centres, iteration counts and inertia to the plain algorithms (kept below as the reference, as they were before the
 *   change), and so does an initialisation as `fit` runs it (`runKMeansInit`: Lloyd starting from k-means++'s
 *   assignment);
 * - preprocessing: the table-driven resize equals `resizeBilinear` (unchanged), and a `ModelInputPlan` filled batch by
 *   batch equals `toModelInput` in one go.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { kmeansPlusPlus, lloyd, planKMeans, runKMeansInit } from '../../src/core/kmeans.js';
import { defaultPreprocess, planModelInput, resizeBilinear, toModelInput } from '../../src/core/preprocess.js';
import { mulberry32 } from '../../src/core/random.js';
import type { DecodedArray, Matrix } from '../../src/core/tensor.js';
import { decodeCifarBin } from '../../src/io/cifar.js';
import { decodeNpy } from '../../src/io/npy.js';
import { FeatureExtractor } from '../../src/model/extract.js';
import { DATASETS, REPO, SEED } from '../helpers/paths.js';

// ---- the plain algorithms (src/core/kmeans.ts before issue 5), as the reference ----
function sqDist(a: Float32Array, ao: number, b: Float32Array, bo: number, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) {
    const t = a[ao + i]! - b[bo + i]!;
    s += t * t;
  }
  return s;
}

function plainInertia(x: Matrix, centres: Float32Array, k: number): number {
  let s = 0;
  for (let r = 0; r < x.rows; r++) {
    let best = Infinity;
    for (let j = 0; j < k; j++) best = Math.min(best, sqDist(x.data, r * x.cols, centres, j * x.cols, x.cols));
    s += best;
  }
  return s;
}

function plainKmeansPlusPlus(x: Matrix, k: number, seed: number): Float32Array {
  const { data, rows: n, cols: d } = x;
  const rnd = mulberry32(seed);
  const centres = new Float32Array(k * d);
  const trials = 2 + Math.floor(Math.log(k));
  const first = Math.floor(rnd() * n);
  centres.set(data.subarray(first * d, (first + 1) * d), 0);
  const closest = new Float64Array(n);
  let pot = 0;
  for (let r = 0; r < n; r++) pot += closest[r] = sqDist(data, r * d, centres, 0, d);
  const cand = new Float64Array(n);
  const bestD = new Float64Array(n);
  for (let c = 1; c < k; c++) {
    let bestPot = Infinity;
    let bestIdx = -1;
    for (let t = 0; t < trials; t++) {
      let u = rnd() * pot;
      let idx = 0;
      for (; idx < n - 1; idx++) {
        u -= closest[idx]!;
        if (u <= 0) break;
      }
      let p = 0;
      for (let r = 0; r < n; r++) {
        const dd = sqDist(data, r * d, data, idx * d, d);
        cand[r] = dd < closest[r]! ? dd : closest[r]!;
        p += cand[r]!;
      }
      if (p < bestPot) {
        bestPot = p;
        bestIdx = idx;
        bestD.set(cand);
      }
    }
    centres.set(data.subarray(bestIdx * d, (bestIdx + 1) * d), c * d);
    closest.set(bestD);
    pot = bestPot;
  }
  return centres;
}

function plainLloyd(x: Matrix, init: Float32Array, k: number, maxIterations: number, tol: number): { centres: Float32Array; iterations: number } {
  const { data, rows: n, cols: d } = x;
  let centres = Float32Array.from(init);
  const sums = new Float64Array(k * d);
  const counts = new Float64Array(k);
  const assign = new Int32Array(n).fill(-1);
  const dist = new Float64Array(n);
  let it = 0;
  while (it < maxIterations) {
    it++;
    sums.fill(0);
    counts.fill(0);
    let changed = 0;
    for (let r = 0; r < n; r++) {
      let best = Infinity;
      let bj = 0;
      for (let j = 0; j < k; j++) {
        const dd = sqDist(data, r * d, centres, j * d, d);
        if (dd < best) {
          best = dd;
          bj = j;
        }
      }
      if (assign[r] !== bj) changed++;
      assign[r] = bj;
      dist[r] = best;
      counts[bj]++;
      for (let i = 0; i < d; i++) sums[bj * d + i] += data[r * d + i]!;
    }
    for (let j = 0; j < k; j++) {
      if (counts[j]! > 0) continue;
      let far = 0;
      for (let r = 1; r < n; r++) if (dist[r]! > dist[far]!) far = r;
      const from = assign[far]!;
      counts[from]--;
      for (let i = 0; i < d; i++) sums[from * d + i] -= data[far * d + i]!;
      counts[j] = 1;
      for (let i = 0; i < d; i++) sums[j * d + i] = data[far * d + i]!;
      assign[far] = j;
      dist[far] = 0;
    }
    if (changed === 0) break;
    const next = new Float32Array(k * d);
    let shift = 0;
    for (let j = 0; j < k * d; j++) {
      const v = sums[j]! / counts[Math.floor(j / d)]!;
      next[j] = v;
      shift += (v - centres[j]!) ** 2;
    }
    centres = next;
    if (shift <= tol) break;
  }
  return { centres, iterations: it };
}

/** Preprocessing as before issue 5: gather one sample's channels (BT.601 grey, RGBA → RGB, grey → RGB), ÷255, resizeBilinear. */
function referencePreprocess(arr: DecodedArray, spec: { channels: number; height: number; width: number }): Float32Array {
  const nhwc = arr.layout === 'NHWC';
  const [n, c, h, w] = arr.shape.length === 3 ? [arr.shape[0]!, 1, arr.shape[1]!, arr.shape[2]!] : nhwc ? [arr.shape[0]!, arr.shape[3]!, arr.shape[1]!, arr.shape[2]!] : (arr.shape as [number, number, number, number]);
  const { channels: oc, height: oh, width: ow } = spec;
  const out = new Float32Array(n * oc * oh * ow);
  const hw = h * w;
  const at = (s: number, ch: number, p: number) => arr.data[s * c * hw + (nhwc ? p * c + ch : ch * hw + p)]!;
  for (let s = 0; s < n; s++) {
    for (let ch = 0; ch < oc; ch++) {
      const plane = new Float32Array(hw);
      for (let p = 0; p < hw; p++) {
        const v = c === oc || (c === 4 && oc === 3) ? at(s, ch, p) : oc === 1 ? 0.299 * at(s, 0, p) + 0.587 * at(s, 1, p) + 0.114 * at(s, 2, p) : at(s, 0, p);
        plane[p] = v * (1 / 255);
      }
      const dst = out.subarray((s * oc + ch) * oh * ow, (s * oc + ch + 1) * oh * ow);
      if (h === oh && w === ow) dst.set(plane);
      else resizeBilinear(plane, h, w, dst, oh, ow);
    }
  }
  return out;
}

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('speed fixes keep results identical', () => {
  it('k-means++ and Lloyd with bounds equal the plain algorithms bit for bit (real LeNet features, ties, empty clusters)', async () => {
    const train = decodeNpy(new Uint8Array(readFileSync(join(SEED, 'concept_train_lenet.npy'))));
    const sets: [string, Matrix][] = [];
    for (const layer of ['output', '9']) {
      const ex = await FeatureExtractor.create(new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx'))), { layer });
      try {
        sets.push([`seed train, layer ${layer}`, await ex.extract(toModelInput(train, defaultPreprocess({ channels: 1, height: 32, width: 32 })))]);
      } finally {
        await ex.close();
      }
    }
    const rnd = mulberry32(7);
    sets.push(['integer grid (many exact ties)', { data: new Float32Array(1500 * 3).map(() => Math.floor(rnd() * 4)), rows: 1500, cols: 3 }]);
    sets.push(['2 distinct values (empty clusters)', { data: new Float32Array(120 * 2).map((_, i) => (i % 7 === 0 ? 1 : 0)), rows: 120, cols: 2 }]);
    let checked = 0;
    for (const [name, x] of sets) {
      for (const k of [2, 10, 50]) {
        // as `fit` runs an initialisation: Lloyd takes k-means++'s assignment instead of scanning for it
        for (const [maxIt, tol] of [[300, 1e-4], [2, -1]] as const) {
          // planned for 2 clusters (it refuses more clusters than distinct rows, as in the empty-cluster set); the
          // seeds and the bound slack do not depend on nCluster
          const plan = { ...planKMeans(x, { nCluster: 2, seed: 3, nInit: 2, maxIterations: maxIt, tolerance: 0 }), nCluster: k, tol };
          for (let i = 0; i < plan.seeds.length; i++) {
            const a = runKMeansInit(x, plan, i);
            const b = plainLloyd(x, plainKmeansPlusPlus(x, k, plan.seeds[i]!), k, maxIt, tol);
            const where = `${name}, k ${k}, initialisation ${i}, maxIterations ${maxIt}, tol ${tol}`;
            if (!b.centres.every(Number.isFinite)) {
              assert.equal(a, undefined, `${where}: an empty cluster is no usable run`);
              continue;
            }
            assert.ok(a, where);
            assert.equal(a.iterations, b.iterations, `${where}: iterations`);
            assert.deepEqual(bits(a.centres), bits(b.centres), `${where}: centres`);
            assert.equal(a.inertia, plainInertia(x, b.centres, k), `${where}: inertia`);
          }
        }
        for (const seed of [0, 1]) {
          const init = kmeansPlusPlus(x, k, seed);
          assert.deepEqual(bits(init), bits(plainKmeansPlusPlus(x, k, seed)), `${name}, k ${k}, seed ${seed}: k-means++`);
          for (const [maxIt, tol] of [[300, 1e-4], [300, 0], [2, -1]] as const) {
            const a = lloyd(x, init, k, maxIt, tol);
            const b = plainLloyd(x, init, k, maxIt, tol);
            const where = `${name}, k ${k}, seed ${seed}, maxIterations ${maxIt}, tol ${tol}`;
            assert.equal(a.iterations, b.iterations, `${where}: iterations`);
            assert.deepEqual(bits(a.centres), bits(b.centres), `${where}: centres`);
            if (b.centres.every(Number.isFinite)) assert.equal(a.inertia, plainInertia(x, b.centres, k), `${where}: inertia`);
            checked++;
          }
        }
      }
    }
    assert.equal(checked, sets.length * 3 * 2 * 3);
  });

  it('a ModelInputPlan filled in batches equals toModelInput (resize, grey conversion, layouts)', () => {
    const rnd = mulberry32(3);
    const u8 = (shape: number[], layout?: 'NCHW' | 'NHWC'): DecodedArray => ({ data: new Float32Array(shape.reduce((a, b) => a * b)).map(() => Math.floor(rnd() * 256)), shape, dtype: 'uint8', ...(layout ? { layout } : {}) });
    const cifar = decodeCifarBin(new Uint8Array(readFileSync(join(DATASETS, 'cifar-10/test_batch.bin'))).subarray(0, 3073 * 20));
    const cases: [string, DecodedArray, { channels: number; height: number; width: number }][] = [
      ['grey 28×28 → 32×32', u8([7, 28, 28]), { channels: 1, height: 32, width: 32 }],
      ['CIFAR RGB → grey, same size', cifar, { channels: 1, height: 32, width: 32 }],
      ['RGBA NHWC 40×50 → RGB 24×20', u8([5, 40, 50, 4], 'NHWC'), { channels: 3, height: 24, width: 20 }],
      ['grey → RGB 7×10 → 32×32', u8([4, 1, 7, 10], 'NCHW'), { channels: 3, height: 32, width: 32 }],
    ];
    for (const [name, arr, input] of cases) {
      const cfg = defaultPreprocess(input);
      const whole = toModelInput(arr, cfg);
      assert.deepEqual(bits(whole.data), bits(referencePreprocess(arr, input)), `${name}: toModelInput vs the plain per-sample gather + resizeBilinear`);
      const plan = planModelInput(arr, cfg);
      assert.deepEqual(plan.shape, whole.shape, name);
      const buf = new Float32Array(3 * plan.perSample);
      for (let s = 0; s < plan.shape[0]; s += 3) {
        const e = Math.min(s + 3, plan.shape[0]);
        plan.fill(buf, s, e);
        assert.deepEqual(bits(buf.subarray(0, (e - s) * plan.perSample)), bits(whole.data.subarray(s * plan.perSample, e * plan.perSample)), `${name}: samples ${s}..${e}`);
      }
    }
  });
});
