/**
 * fitOffThread: the fit runs in a worker thread and comes back as the same fitted detector an in-thread fit gives
 * (same params, arrays, scores and fitId), its errors keep their class and field, and the caller's event loop keeps
 * running meanwhile (the queue worker renews its BullMQ job lock there).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDetector, RECOMMENDED_ENSEMBLE, type DetectorSpec } from '../../src/core/detectors.js';
import { InputError } from '../../src/core/errors.js';
import type { DecodedArray, Matrix } from '../../src/core/tensor.js';
import { loadData } from '../../src/io/load.js';
import { fitDetector } from '../../src/service/detector-service.js';
import { closeExtractors, layerFeatures } from '../../src/service/extractor-cache.js';
import { fitOffThread, fitSpread, spreadKMeans, SPREAD_MIN_WORK } from '../../src/service/fit-runner.js';
import { REPO, SEED } from '../helpers/paths.js';
import { toModelInput, defaultPreprocess } from '../../src/core/preprocess.js';

const model = new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx')));

describe('fitting in a worker thread', () => {
  let train: DecodedArray;
  let features: Matrix;
  before(async () => {
    train = await loadData(join(SEED, 'concept_train_lenet.npy'));
    features = await layerFeatures(model, '9', toModelInput(train, defaultPreprocess({ channels: 1, height: 32, width: 32 })));
  });
  after(closeExtractors);

  const specs: DetectorSpec[] = [
    { kind: 'feature-cluster', nCluster: 10, seed: 3 },
    { kind: 'mahalanobis' },
    { kind: 'knn', k: 5, metric: 'cosine', maxBank: 500, seed: 1 },
    { kind: 'energy' },
  ];
  for (const spec of specs) {
    it(`${spec.kind}: the same params, stats, arrays and scores as an in-thread fit`, async () => {
      const classes = Int32Array.from({ length: features.rows }, (_, i) => i % 10);
      const ctx = { classes };
      const here = createDetector(spec).fit(features, ctx);
      const there = await fitOffThread(spec, features, ctx);
      assert.equal(there.kind, here.kind);
      assert.deepEqual(there.params, here.params);
      assert.deepEqual(there.stats, here.stats);
      assert.deepEqual(there.arrays(), here.arrays());
      assert.deepEqual(there.score(features), here.score(features));
    });
  }

  it('the whole fit (an ensemble of three layers): the same bundle and fitId with and without fitOffThread', async () => {
    const a = await fitDetector({ model, modelKey: 'm.onnx', data: train, detector: RECOMMENDED_ENSEMBLE });
    const b = await fitDetector({ model, modelKey: 'm.onnx', data: train, detector: RECOMMENDED_ENSEMBLE, fitter: fitOffThread });
    assert.equal(b.fitId, a.fitId);
    assert.deepEqual(b.fitted.arrays(), a.fitted.arrays());
  });

  it('an error in the thread keeps its class, field and detail', async () => {
    const few = { data: features.data.slice(0, 3 * features.cols), rows: 3, cols: features.cols };
    await assert.rejects(fitOffThread({ kind: 'feature-cluster', nCluster: 10 }, few, {}), (e: unknown) => e instanceof InputError && e.field === 'nCluster' && /n_samples=3/.test(e.detail));
  });

  it('an unexpected error in the thread is one line naming it; the thread’s stack stays on the error, out of the message', async () => {
    const broken = { data: null as unknown as Float32Array, rows: 20, cols: 4 };
    await assert.rejects(fitOffThread({ kind: 'feature-cluster', nCluster: 3 }, broken, {}), (e: unknown) => {
      assert.ok(e instanceof Error);
      assert.equal(e.message, "detector fit failed: TypeError: Cannot read properties of null (reading 'length')");
      assert.match(e.stack ?? '', /\(in the fit thread\) TypeError: .*\n\s+at /);
      return true;
    });
  });

  it('runs from any working directory (tsx is found from this module, not from the cwd)', () => {
    const script = `const { fitOffThread } = await import(${JSON.stringify(join(REPO, 'src/service/fit-runner.ts'))});
      const f = await fitOffThread({ kind: 'feature-cluster', nCluster: 2, seed: 0 }, { data: Float32Array.from({ length: 40 }, (_, i) => i % 7), rows: 10, cols: 4 }, {});
      console.log(f.kind);`;
    const r = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), '--input-type=module', '-e', script], { cwd: tmpdir(), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'feature-cluster');
  });

  it("the caller's event loop runs while the thread fits (an in-thread fit blocks it)", async () => {
    const spec: DetectorSpec = { kind: 'feature-cluster', nCluster: 50, seed: 0 };
    const ticksDuring = async (fit: () => Promise<unknown>): Promise<number> => {
      let ticks = 0;
      let on = true;
      const spin = (): void => {
        if (!on) return;
        ticks++;
        setImmediate(spin);
      };
      setImmediate(spin);
      const before = ticks;
      await fit();
      on = false;
      return ticks - before;
    };
    const blocked = await ticksDuring(async () => createDetector(spec).fit(features));
    const free = await ticksDuring(() => fitOffThread(spec, features, {}));
    assert.equal(blocked, 0, 'a synchronous fit lets no tick through');
    assert.ok(free > 10, `ticks while the thread fitted: ${free}`);
  });

  describe("a feature-cluster fit's KMeans initialisations spread over threads", () => {
    // The seed features (1000 × 84) are below SPREAD_MIN_WORK, so these tests lower it to make the spread happen.
    const forced = { minWork: 0 };
    const same = (a: { arrays(): object; stats: object; params: object }, b: typeof a): void => {
      assert.deepEqual(b.params, a.params);
      assert.deepEqual(b.stats, a.stats);
      assert.deepEqual(b.arrays(), a.arrays());
    };
    for (const score of ['mindarmour', 'shortfall', 'standardized', 'cosine'] as const) {
      it(`${score}: the same fitted detector as an in-thread fit, bit for bit, on 2, 3 (uneven shares) and 5 threads`, async () => {
        const spec: DetectorSpec = { kind: 'feature-cluster', nCluster: 10, score, seed: 7, nInit: 5 };
        const here = createDetector(spec).fit(features);
        for (const threads of [2, 3, 5]) {
          const spread = await spreadKMeans(spec, features, { ...forced, threads });
          assert.ok(spread, `spread over ${threads} threads`);
          same(here, spread);
          assert.deepEqual(spread.score(features), here.score(features));
        }
      });
    }

    it('fitOffThread and fitSpread spread when the work is large enough, and give the in-thread result either way', async () => {
      const spec: DetectorSpec = { kind: 'feature-cluster', nCluster: 10, seed: 2 };
      const here = createDetector(spec).fit(features);
      assert.equal(await spreadKMeans(spec, features, { threads: 2 }), undefined, `1000 × 84 × 10 × 4 is below ${SPREAD_MIN_WORK}`);
      assert.equal(await spreadKMeans(spec, features, { ...forced, threads: 1 }), undefined, 'one thread: nothing to spread');
      assert.equal(await spreadKMeans({ kind: 'feature-cluster', nCluster: 10, seed: 2, nInit: 1 }, features, { ...forced, threads: 4 }), undefined, 'one initialisation: nothing to spread');
      assert.equal(await spreadKMeans({ kind: 'mahalanobis' }, features, { ...forced, threads: 4 }), undefined, 'not a feature-cluster fit');
      same(here, await fitOffThread(spec, features, {}, { ...forced, threads: 2 }));
      same(here, await fitSpread(spec, features, {}, { ...forced, threads: 2 }));
      same(here, await fitSpread(spec, features, {}, { threads: 2 }));
    });

    it('errors: a bad thread count names `threads`; a bad fit is the InputError an in-thread fit throws', async () => {
      for (const threads of [0, 1.5, Number.NaN]) {
        await assert.rejects(spreadKMeans({ kind: 'feature-cluster', nCluster: 10 }, features, { threads }), (e: unknown) => e instanceof InputError && e.field === 'threads');
      }
      const few = { data: features.data.slice(0, 3 * features.cols), rows: 3, cols: features.cols };
      await assert.rejects(spreadKMeans({ kind: 'feature-cluster', nCluster: 10 }, few, { ...forced, threads: 2 }), (e: unknown) => e instanceof InputError && e.field === 'nCluster' && /n_samples=3/.test(e.detail));
      const flat = { data: new Float32Array(50 * 4).fill(1), rows: 50, cols: 4 };
      await assert.rejects(spreadKMeans({ kind: 'feature-cluster', nCluster: 3 }, flat, { ...forced, threads: 2 }), (e: unknown) => e instanceof InputError && e.field === 'nCluster' && /only 1 distinct row/.test(e.detail));
    });
  });
});
