/**
 * DetectorRepository.modelOf checks that the model has the layer its manifest names (damaged state otherwise), but a
 * warm worker calls it for every job: the check, which decodes the whole ONNX graph, runs once per model and layer.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, mock } from 'node:test';
import onnxProto from 'onnx-proto';
import { createDetector } from '../../src/core/detectors.js';
import { StorageError } from '../../src/core/errors.js';
import { sha256Hex } from '../../src/hash.js';
import { DetectorRepository } from '../../src/storage/detector-repository.js';
import { LocalDirStore } from '../../src/storage/local-dir-store.js';
import { bundleOf } from '../helpers/bundles.js';
import { REPO } from '../helpers/paths.js';

describe('DetectorRepository.modelOf', () => {
  let dir: string;
  let model: Uint8Array;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagedrift-model-of-'));
    model = new Uint8Array(await readFile(`${REPO}models/lenet5.onnx`));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('decodes the model to check its layer once per model and layer, not on every call; a missing layer is still damage', async () => {
    const store = new LocalDirStore(dir);
    await store.put('model.onnx', model);
    const repo = new DetectorRepository(store);
    const fitted = createDetector({ kind: 'knn', k: 1 }).fit({ data: new Float32Array([0, 0, 1, 1]), rows: 2, cols: 2 });
    const base = bundleOf(fitted);
    const bundle = { ...base, model: { ...base.model, sha256: sha256Hex(model), layer: '9' } };
    const decode = mock.method(onnxProto.onnx.ModelProto, 'decode');
    try {
      for (let i = 0; i < 3; i++) assert.deepEqual(await repo.modelOf(bundle, 'd'), model);
      assert.ok(decode.mock.callCount() <= 1, `decoded ${decode.mock.callCount()} times for 3 calls`);
      // Another layer of the same model is checked on its own: one the model lacks is a StorageError every time.
      for (let i = 0; i < 2; i++) {
        await assert.rejects(repo.modelOf({ ...bundle, model: { ...bundle.model, layer: 'nope' } }, 'd'), (e: unknown) => e instanceof StorageError && e.field === 'model.layer');
      }
    } finally {
      decode.mock.restore();
    }
  });
});
