/**
 * LAYER_DEFAULTS (`fit --detector auto`) must be what its stated rule picks from the measured table in
 * docs/RESULTS.md: per layer, among single detectors with MNIST → CIFAR-10 AUROC ≥ minFarAuroc, the highest
 * MNIST → EMNIST letters AUROC. Re-measuring the table can change the choice; this test then fails until
 * LAYER_DEFAULTS follows.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LAYER_DEFAULTS, layerDefault, type DetectorSpec } from '../../src/core/detectors.js';
import { InputError } from '../../src/core/errors.js';
import { REPO } from '../helpers/paths.js';

/** The RESULTS.md row labels of the single detectors, as the specs evaluate-all fitted. */
const SPEC_OF: Record<string, DetectorSpec> = {
  'feature-cluster mindarmour (k=10)': { kind: 'feature-cluster', nCluster: 10, score: 'mindarmour', seed: 0 },
  'feature-cluster shortfall (k=10)': { kind: 'feature-cluster', nCluster: 10, score: 'shortfall', seed: 0 },
  msp: { kind: 'msp' },
  'energy (T=1)': { kind: 'energy' },
  'mahalanobis (Ledoit–Wolf)': { kind: 'mahalanobis' },
  'knn (k=50, cosine, bank 20k)': { kind: 'knn', k: 50, metric: 'cosine', maxBank: 20000, seed: 0 },
};

function measuredTable(): { layer: string; label: string; far: number; near: number }[] {
  const md = readFileSync(join(REPO, 'docs/RESULTS.md'), 'utf8');
  const rows = [];
  for (const line of md.split('\n')) {
    const m = /^\| ([^|]+) \| ([^|]+) \| ([0-9.]+) \/[^|]*\| ([0-9.]+) \/[^|]*\|$/.exec(line);
    if (!m || m[1]!.includes('+')) continue; // ensembles are not per-layer candidates
    rows.push({ layer: m[1]!.trim(), label: m[2]!.trim(), far: Number(m[3]), near: Number(m[4]) });
  }
  return rows;
}

describe('per-layer default detectors (fit --detector auto)', () => {
  it('are what the stated rule picks from the measured RESULTS.md table, for every measured layer', () => {
    const rows = measuredTable();
    const layers = [...new Set(rows.map((r) => r.layer))];
    assert.deepEqual(layers.sort(), Object.keys(LAYER_DEFAULTS.layers).sort(), 'one default per measured layer');
    for (const layer of layers) {
      const candidates = rows.filter((r) => r.layer === layer && r.far >= LAYER_DEFAULTS.minFarAuroc);
      assert.ok(candidates.length > 0, `layer ${layer}: some detector reaches the far-OOD floor`);
      const best = candidates.reduce((a, b) => (b.near > a.near ? b : a));
      const spec = SPEC_OF[best.label];
      assert.ok(spec, `unknown row label ${best.label}`);
      assert.deepEqual(layerDefault(layer, LAYER_DEFAULTS.modelSha256), spec, `layer ${layer}: ${best.label} (CIFAR ${best.far}, EMNIST ${best.near})`);
    }
    assert.ok(rows.length >= 30, `parsed ${rows.length} rows`);
  });

  it('are keyed to the committed model, and refuse other models and unmeasured layers', () => {
    const sha = createHash('sha256').update(readFileSync(join(REPO, 'models/lenet5.onnx'))).digest('hex');
    assert.equal(LAYER_DEFAULTS.modelSha256, sha);
    assert.throws(() => layerDefault('9', 'f'.repeat(64)), (e: unknown) => e instanceof InputError && e.field === 'method' && /measured for the seed LeNet5/.test(e.message));
    assert.throws(() => layerDefault('5', sha), (e: unknown) => e instanceof InputError && e.field === 'layer' && /no measured default for layer "5"/.test(e.message));
  });
});
