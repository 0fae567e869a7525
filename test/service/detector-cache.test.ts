/**
 * A warm function keeps detector versions and models by key (src/service/detector-cache.ts): however many detectors it
 * serves, it keeps at most 8 of each, so its memory does not grow with the number of detectors a tenant has.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createDetector } from '../../src/core/detectors.js';
import { sha256Hex } from '../../src/hash.js';
import { cachedDetectorCounts, loadForScoring } from '../../src/service/detector-cache.js';
import { DetectorRepository } from '../../src/storage/detector-repository.js';
import { detectorPrefix } from '../../src/storage/keys.js';
import { LocalDirStore } from '../../src/storage/local-dir-store.js';
import { bundleOf } from '../helpers/bundles.js';
import { modelVariant } from '../helpers/model-variants.js';
import { REPO } from '../helpers/paths.js';

describe('detector cache: bounded however many detectors are scored', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagedrift-detector-cache-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('20 detectors, each with its own model, loaded in turn: at most 8 versions and 8 models kept, and each load is its own', async () => {
    const store = new LocalDirStore(dir);
    const repo = new DetectorRepository(store);
    const lenet = new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`));
    const fitted = createDetector({ kind: 'knn', k: 1 }).fit({ data: new Float32Array([0, 0, 1, 1]), rows: 2, cols: 2 });
    for (let i = 0; i < 20; i++) {
      const model = modelVariant(lenet, i);
      await store.put(`models/m${i}.onnx`, model);
      const base = bundleOf(fitted);
      await repo.save(detectorPrefix(`d${i}`), { ...base, model: { ...base.model, key: `models/m${i}.onnx`, sha256: sha256Hex(model), layer: '9' } });
    }
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 20; i++) {
        const loaded = await loadForScoring(store, `d${i}`);
        assert.equal(loaded.bundle.model.key, `models/m${i}.onnx`);
        assert.equal(sha256Hex(loaded.model), loaded.bundle.model.sha256);
        const counts = cachedDetectorCounts();
        assert.ok(counts.versions <= 8 && counts.models <= 8, `after detector ${i} (round ${round}): ${JSON.stringify(counts)}`);
      }
    }
    assert.deepEqual(cachedDetectorCounts(), { versions: 8, models: 8 }, 'full, not empty');
  });
});
