import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { bestKMeans, countDistinctRows, fitKMeans, planKMeans, runKMeansInit, type KMeansRun } from '../../src/core/kmeans.js';
import type { Matrix } from '../../src/core/tensor.js';

const matrix = (rows: number[][]): Matrix => ({ data: Float32Array.from(rows.flat()), rows: rows.length, cols: rows[0]!.length });
const params = (nCluster: number) => ({ nCluster, seed: 0, nInit: 4, maxIterations: 300, tolerance: 1e-4 });

describe('fitKMeans with fewer distinct rows than clusters', () => {
  // Before, whether this failed depended on how the iterations went: [2,2]×10 with k=2 returned two identical
  // centres, with k=3 it threw; 3 distinct points with k=4 returned a duplicate centre.
  const cases: [string, number[][], number, number][] = [
    ['one distinct row, k=2', Array.from({ length: 10 }, () => [2, 2]), 2, 1],
    ['one distinct row, k=3', Array.from({ length: 10 }, () => [2, 2]), 3, 1],
    ['two distinct rows, k=3', Array.from({ length: 10 }, (_, i) => (i % 2 ? [0, 0] : [3, 3])), 3, 2],
    ['three distinct rows, k=4', Array.from({ length: 30 }, (_, i) => [[0, 0], [1, 1], [5, 5]][i % 3]!), 4, 3],
  ];
  for (const [name, rows, k, distinct] of cases) {
    it(`${name}: one InputError on nCluster that says how many distinct rows there are`, () => {
      assert.throws(
        () => fitKMeans(matrix(rows), params(k)),
        (e: unknown) => e instanceof InputError && e.field === 'nCluster' && e.message.includes(`only ${distinct} distinct row`),
      );
    });
  }

  it('exactly as many distinct rows as clusters fits, one centre per distinct row', () => {
    const fit = fitKMeans(matrix(Array.from({ length: 30 }, (_, i) => [[0, 0], [1, 1], [5, 5]][i % 3]!)), params(3));
    const centres = [0, 1, 2].map((j) => Array.from(fit.centres.subarray(2 * j, 2 * j + 2)).join(',')).sort();
    assert.deepEqual(centres, ['0,0', '1,1', '5,5']);
    assert.equal(fit.inertia, 0);
  });

  it('countDistinctRows stops at the limit and treats −0 and +0 as equal', () => {
    assert.equal(countDistinctRows(matrix([[0, -0], [-0, 0], [0, 0]]), 5), 1);
    assert.equal(countDistinctRows(matrix([[1], [2], [3], [4]]), 2), 2);
    assert.equal(countDistinctRows(matrix([[1], [2], [1], [2]]), 10), 2);
  });
});

describe('another k-means engine (ml-kmeans, as the benchmark passes it)', () => {
  // Three well-separated blobs of 40 points around (0,0), (10,0) and (0,10).
  const blobs = (): Matrix => {
    const data = new Float32Array(120 * 2);
    for (let i = 0; i < 120; i++) {
      const c = Math.floor(i / 40);
      data[2 * i] = (c === 1 ? 10 : 0) + ((i * 7) % 11) / 20;
      data[2 * i + 1] = (c === 2 ? 10 : 0) + ((i * 5) % 13) / 20;
    }
    return { data, rows: 120, cols: 2 };
  };
  const params = { nCluster: 3, seed: 3, nInit: 2, maxIterations: 100, tolerance: 1e-4 };
  const sortedCentres = (c: Float32Array) => [0, 1, 2].map((j) => [c[2 * j]!, c[2 * j + 1]!]).sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);

  it('finds the same clusters as the typed engine, runs per initialisation, and repeats with the seed', async () => {
    const { mlKmeansEngine } = await import('../../benchmarks/lib/kmeans-ml.js');
    const x = blobs();
    const typed = fitKMeans(x, params);
    const ml = fitKMeans(x, { ...params, engine: mlKmeansEngine() });
    const a = sortedCentres(typed.centres);
    const b = sortedCentres(ml.centres);
    for (let j = 0; j < 3; j++) for (let d = 0; d < 2; d++) assert.ok(Math.abs(a[j]![d]! - b[j]![d]!) < 1e-4, `centre ${j}: ${a[j]} vs ${b[j]}`);
    assert.ok(Math.abs(ml.inertia - typed.inertia) < 1e-3 * typed.inertia);
    assert.deepEqual(fitKMeans(x, { ...params, engine: mlKmeansEngine() }).centres, ml.centres);
  });

  it('is not in the CLI\'s module graph: nothing but the benchmark loads ml-kmeans', async () => {
    const { build } = await import('esbuild');
    const { REPO } = await import('../helpers/paths.js');
    const r = await build({ entryPoints: [`${REPO}src/cli/main.ts`], bundle: true, platform: 'node', format: 'esm', write: false, metafile: true, logLevel: 'silent', packages: 'external' });
    const imported = new Set(Object.values(r.metafile.inputs).flatMap((i) => i.imports.filter((m) => m.external).map((m) => m.path)));
    assert.ok(imported.has('zod') && imported.has('onnx-proto'), `the graph was read: ${[...imported].join(', ')}`);
    assert.ok(!imported.has('ml-kmeans'), 'the CLI imports ml-kmeans');
    assert.ok(!Object.keys(r.metafile.inputs).some((f) => f.endsWith('kmeans-ml.ts')));
  });
});

describe('a fit split into plan, initialisations and pick (what src/service/fit-runner.ts spreads over threads)', () => {
  // 300 points in 5 loose groups, deterministic: enough for the initialisations to end at different inertias.
  const x: Matrix = {
    data: Float32Array.from({ length: 300 * 3 }, (_, i) => ((Math.floor(i / 3) % 5) * 4 + Math.sin(i * 12.9898) * 3) * (1 + (i % 3))),
    rows: 300,
    cols: 3,
  };
  const p = { nCluster: 6, seed: 11, nInit: 5, maxIterations: 300, tolerance: 1e-4 };

  it('initialisations run in any order, picked by bestKMeans, give fitKMeans\'s result bit for bit', () => {
    const plan = planKMeans(x, p);
    assert.equal(plan.seeds.length, 5);
    const runs: KMeansRun[] = new Array<KMeansRun>(5);
    for (const i of [3, 0, 4, 2, 1]) runs[i] = runKMeansInit(x, plan, i);
    const inertias = runs.map((r) => r!.inertia);
    assert.ok(new Set(inertias).size > 1, `the initialisations differ, so the pick matters: ${inertias.join(', ')}`);
    const fit = bestKMeans(plan, runs, x.cols);
    assert.deepEqual(fit, fitKMeans(x, p));
    assert.equal(fit.inertia, Math.min(...inertias));
  });

  it('bestKMeans: lowest inertia, the first one on ties; unusable runs skipped; none usable is the InputError fitKMeans throws', () => {
    const plan = planKMeans(x, { ...p, nInit: 3 });
    const run = (v: number, inertia: number): KMeansRun => ({ centres: new Float32Array(6 * 3).fill(v), iterations: v, inertia });
    assert.equal(bestKMeans(plan, [run(1, 5), run(2, 3), run(3, 3)], 3).iterations, 2);
    assert.equal(bestKMeans(plan, [undefined, run(2, 9), run(3, 4)], 3).iterations, 3);
    assert.throws(() => bestKMeans(plan, [undefined, undefined, undefined], 3), (e: unknown) => e instanceof InputError && e.field === 'nCluster' && /empty clusters in every initialisation \(3 tried\)/.test(e.detail));
    assert.throws(() => bestKMeans(plan, [run(1, 1)], 3), RangeError);
    assert.throws(() => runKMeansInit(x, plan, 3), RangeError);
  });

  it('planKMeans refuses what fitKMeans refuses, before any initialisation runs', () => {
    assert.throws(() => planKMeans(x, { ...p, nInit: 0 }), (e: unknown) => e instanceof InputError && e.field === 'nInit');
    // maxIterations 0 used to return the k-means++ seeds unrefined, and the fitted params then failed to load
    for (const maxIterations of [0, -5, 1.5, NaN]) {
      assert.throws(() => planKMeans(x, { ...p, maxIterations }), (e: unknown) => e instanceof InputError && e.field === 'maxIterations', String(maxIterations));
    }
    assert.throws(() => planKMeans(x, { ...p, seed: 1.5 }), (e: unknown) => e instanceof InputError && e.field === 'seed');
    assert.throws(() => planKMeans(x, { ...p, nCluster: 301 }), (e: unknown) => e instanceof InputError && e.field === 'nCluster');
  });
});

describe('bestKMeans tie-break', () => {
  // Guards scikit-learn's n_init rule: on equal inertia the FIRST initialisation wins (strict <, not ≤).
  it('two initialisations with equal inertia: the first one is kept', () => {
    // Square (0,0),(1,0),(0,1),(1,1). Centres (.5,0),(.5,1) and (0,.5),(1,.5) both leave each point 0.5 from its
    // centre: inertia 4 × 0.25 = 1 either way.
    const outs = [Float32Array.from([0.5, 0, 0.5, 1]), Float32Array.from([0, 0.5, 1, 0.5])];
    let call = 0;
    const engine = { run: () => ({ centres: Float32Array.from(outs[call++]!), iterations: 1 }) };
    const fit = fitKMeans(matrix([[0, 0], [1, 0], [0, 1], [1, 1]]), { nCluster: 2, seed: 0, nInit: 2, maxIterations: 10, tolerance: 1e-4, engine });
    assert.equal(call, 2);
    assert.equal(fit.inertia, 1);
    assert.deepEqual(Array.from(fit.centres), [0.5, 0, 0.5, 1]);
  });
});
