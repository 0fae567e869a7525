/**
 * DetectorRepository over a local directory, as a library user drives it: what a save refuses before writing anything,
 * and two repositories over one directory in one process.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { DetectorBundle } from '../../src/core/bundle.js';
import { createDetector } from '../../src/core/detectors.js';
import { InputError } from '../../src/core/errors.js';
import { DetectorRepository } from '../../src/storage/detector-repository.js';
import { LocalDirStore } from '../../src/storage/local-dir-store.js';
import { bundleOf } from '../helpers/bundles.js';

const features = (mul: number) => ({ data: Float32Array.from({ length: 50 * 4 }, (_, i) => ((i * mul) % 97) / 97 + 0.01), rows: 50, cols: 4 });

const bundle = (fitted = createDetector({ kind: 'knn', k: 3 }).fit(features(7919))): DetectorBundle => bundleOf(fitted);

describe('DetectorRepository (local directory)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagedrift-repo-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a bundle that load would refuse, before writing anything: the current version stays loadable', async () => {
    const repo = new DetectorRepository(new LocalDirStore(dir));
    assert.equal(await repo.save('det/', bundle()), 1);
    const good = bundle();
    const cal = { threshold: 0.5, method: 'exact', accuracy: 0.9, nEval: 10, nOod: 5, flaggedRate: 0.5, idFlaggedRate: 0.1 } as const;
    const bad: [string, DetectorBundle, RegExp][] = [
      ['empty model key', { ...good, model: { ...good.model, key: '' } }, /model\.key/],
      ['batch size 0', { ...good, model: { ...good.model, batchSize: 0 } }, /model\.batchSize/],
      ['NaN threshold', { ...good, calibration: { ...cal, threshold: NaN } }, /calibration\.threshold/],
      ['NaN calibration score', { ...good, calibration: cal, calibrationScores: Float64Array.of(NaN, 1) }, /calibrationScores/],
      ['reference rows of another width', { ...good, calibration: cal, referenceFeatures: { data: new Float32Array(6), rows: 2, cols: 3 } }, /referenceFeatures/],
      ['malformed fitId', { ...good, fitId: 'not-hex' }, /fitId/],
    ];
    for (const [what, b, field] of bad) {
      await assert.rejects(repo.save('det/', b), (e: unknown) => e instanceof InputError && field.test(e.field ?? ''), what);
    }
    assert.deepEqual(await readdir(join(dir, 'det')), ['current.json', 'v1'], 'no version written');
    const loaded = await repo.load('det/');
    assert.equal(loaded.version, 1);
  });

  it("a prefix that is not a folder ('det', not 'det/') is refused, before anything is written", async () => {
    const repo = new DetectorRepository(new LocalDirStore(dir));
    const notFolder = (e: unknown) => e instanceof InputError && e.field === 'prefix' && /must be '' or end with '\/'/.test(e.message);
    await assert.rejects(repo.save('det', bundle()), notFolder); // wrote detv1/… and detcurrent.json beside det/
    await assert.rejects(repo.load('det'), notFolder);
    await assert.rejects(repo.movePointer('det', 1), notFolder);
    assert.deepEqual(await readdir(dir), []);
    assert.equal(await repo.save('', bundle()), 1, "'' (a CLI detector directory) is a folder");
  });

  it('two repositories over one directory in one process never hand out the same version', async () => {
    const a = new DetectorRepository(new LocalDirStore(dir));
    const b = new DetectorRepository(new LocalDirStore(dir));
    const knn = bundle();
    const fc = bundle(createDetector({ kind: 'feature-cluster', nCluster: 3, score: 'euclidean' }).fit(features(31)));
    const [va, vb] = await Promise.all([a.save('det/', knn), b.save('det/', fc)]);
    assert.notEqual(va, vb, 'each save has its own version');
    assert.equal((await a.load('det/', va)).bundle.fitted.kind, 'knn');
    assert.equal((await a.load('det/', vb)).bundle.fitted.kind, 'feature-cluster');
    assert.deepEqual((await readdir(join(dir, 'det', `v${va}`))).sort(), ['bank.bin', 'manifest.json']);
  });

  it('repositories over one directory spelt differently (trailing slash, relative, through a symbolic link) never hand out the same version', async () => {
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real'), join(dir, 'link'));
    const spellings = [join(dir, 'real'), `${join(dir, 'real')}/`, relative(process.cwd(), join(dir, 'real')) || '.', join(dir, 'link'), `${join(dir, 'link')}/../link`];
    const repos = spellings.map((d) => new DetectorRepository(new LocalDirStore(d)));
    const kinds = ['knn', 'feature-cluster', 'knn', 'feature-cluster', 'knn'] as const;
    const bundles = kinds.map((k, i) => bundle(k === 'knn' ? createDetector({ kind: 'knn', k: 2 + i }).fit(features(7919)) : createDetector({ kind: 'feature-cluster', nCluster: 3, score: 'euclidean' }).fit(features(31))));
    const versions = await Promise.all(repos.map((r, i) => r.save('det/', bundles[i]!)));
    assert.equal(new Set(versions).size, spellings.length, `distinct versions, got ${versions.join(', ')}`);
    for (const [i, v] of versions.entries()) assert.equal((await repos[0]!.load('det/', v)).bundle.fitted.kind, kinds[i]);
  });
});
