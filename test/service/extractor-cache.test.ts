import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadData } from '../../src/io/load.js';
import type { Tensor } from '../../src/core/tensor.js';
import { cachedExtractorCount, closeExtractors, layerFeatures, openExtractorSessions, withExtractor } from '../../src/service/extractor-cache.js';
import { sha256Hex } from '../../src/hash.js';
import { modelVariant } from '../helpers/model-variants.js';
import { REPO, SEED } from '../helpers/paths.js';

const model = new Uint8Array(readFileSync(join(REPO, 'models/lenet5.onnx')));
const sha = sha256Hex(model);

describe('extractor cache: a session is never released under a running call', () => {
  after(closeExtractors);

  it('ten concurrent extractions on ten cache keys (more than the 8 kept) all finish, with the sequential features', async () => {
    const data = (await loadData(join(SEED, 'concept_test_lenet1.npy'))) as Tensor;
    const reference = await layerFeatures(model, '9', data);
    // Distinct batch sizes are distinct cache keys: the 9th and 10th evict sessions whose calls are still running.
    const runs = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => layerFeatures(model, '9', data, { batchSize: i + 1 })));
    runs.forEach((r, i) => {
      assert.equal(r.status, 'fulfilled', `batch size ${i + 1}: ${r.status === 'rejected' ? (r.reason as Error).message : ''}`);
      assert.deepEqual((r as PromiseFulfilledResult<{ data: Float32Array }>).value.data, reference.data, `batch size ${i + 1}`);
    });
    assert.ok(cachedExtractorCount() <= 8, `kept ${cachedExtractorCount()} sessions`);
  });

  it('with all eight sessions busy, a ninth key evicts the oldest, which is released only after its call ends', async () => {
    await closeExtractors();
    const data = (await loadData(join(SEED, 'concept_test_lenet1.npy'))) as Tensor;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const sessions: unknown[] = [];
    const busy = Array.from({ length: 8 }, (_, i) =>
      withExtractor(model, '9', { batchSize: i + 1 }, sha, async (ex) => {
        sessions[i] = ex;
        await gate;
        return ex.extract(data); // runs after a ninth key has pushed batch size 1 out of the cache
      }),
    );
    while (sessions.filter(Boolean).length < 8) await new Promise((r) => setImmediate(r));
    await layerFeatures(model, '9', data, { batchSize: 9 });
    assert.equal(cachedExtractorCount(), 8);
    release();
    for (const f of await Promise.all(busy)) assert.equal(f.rows, 100);
    let again: unknown;
    await withExtractor(model, '9', { batchSize: 1 }, sha, async (ex) => (again = ex));
    assert.notEqual(again, sessions[0], 'the evicted key got a fresh session');
    await withExtractor(model, '9', { batchSize: 8 }, sha, async (ex) => (again = ex));
    assert.notEqual(again, sessions[1], 'sanity: different keys, different sessions');
  });

  it('an idle session is evicted before a busy one (least recently used first)', async () => {
    await closeExtractors();
    const data = (await loadData(join(SEED, 'concept_test_lenet1.npy'))) as Tensor;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held: unknown;
    const holding = withExtractor(model, '9', { batchSize: 3 }, sha, async (ex) => {
      held = ex;
      await gate;
      return ex.extract(data);
    });
    while (!held) await new Promise((r) => setImmediate(r));
    for (let b = 10; b < 20; b++) await layerFeatures(model, '9', data, { batchSize: b });
    release();
    assert.equal((await holding).rows, 100);
    let same: unknown;
    await withExtractor(model, '9', { batchSize: 3 }, sha, async (ex) => (same = ex));
    assert.equal(same, held, 'the busy session stayed cached while ten idle keys came and went');
  });

  it('20 distinct models through the cache, one after another: at most 8 sessions stay open (evicted ones are released)', async () => {
    await closeExtractors();
    assert.equal(openExtractorSessions(), 0, 'closeExtractors released every session');
    const data = (await loadData(join(SEED, 'concept_test_lenet1.npy'))) as Tensor;
    const reference = await layerFeatures(model, '9', data);
    for (let i = 0; i < 20; i++) {
      const f = await layerFeatures(modelVariant(model, i), '9', data);
      assert.deepEqual(f.data, reference.data, `variant ${i}`);
      assert.ok(openExtractorSessions() <= 8, `after model ${i + 1}: ${openExtractorSessions()} sessions open`);
    }
    assert.equal(openExtractorSessions(), 8);
    await closeExtractors();
    assert.equal(openExtractorSessions(), 0);
  });
});
