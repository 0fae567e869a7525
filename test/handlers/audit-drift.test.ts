/**
 * The audit function's three drift tests on real data: a detector fitted on the seed MNIST train file, calibrated
 * label-free on 2,000 real MNIST test images (so it stores 1,000 in-distribution feature rows as the MMD reference),
 * then audited on windows of other MNIST test images: clean, class-imbalanced (digits 0 and 1 only), and CIFAR-10.
 * Real s3rver and Redis; the audit handler as the scheduler calls it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { handler as audit } from '../../handlers/audit.js';
import { binomialTestGreater } from '../../src/core/stats.js';
import { decodeIdx } from '../../src/io/idx.js';
import { encodeNpy } from '../../src/io/npy.js';
import { loadForScoring } from '../../src/service/detector-cache.js';
import { putDataset, putModel } from '../../src/service/datasets.js';
import { DATASETS, REPO, SEED } from '../helpers/paths.js';
import { startServiceFixture, type ServiceFixture } from '../helpers/service.js';

const images = decodeIdx(new Uint8Array(readFileSync(join(DATASETS, 'mnist', 't10k-images-idx3-ubyte.gz'))));
const labels = decodeIdx(new Uint8Array(readFileSync(join(DATASETS, 'mnist', 't10k-labels-idx1-ubyte.gz'))));
const PX = 28 * 28;

/** MNIST test images `idx` as a uint8 [n,28,28] .npy, in the order given. */
function mnistNpy(idx: readonly number[]): Uint8Array {
  const out = new Uint8Array(idx.length * PX);
  idx.forEach((i, k) => out.set(Uint8Array.from(images.data.subarray(i * PX, (i + 1) * PX)), k * PX));
  return encodeNpy(out, [idx.length, 28, 28], 'uint8');
}
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

interface Summary {
  counts: { samples: number; flagged: number };
  pValue: number;
  isDrift: boolean;
  alert: boolean;
  alertOn: string[];
  scoreShift: { pValue: number; isDrift: boolean } | null;
  featureShift: { test: string; statistic: number; pValue: number; isDrift: boolean; nReference: number; nWindow: number; permutations: number } | null;
}

describe('audit: binomial, KS and MMD on real MNIST windows (real s3rver + Redis)', () => {
  let fx: ServiceFixture;
  const config = (name: string, cfg: Record<string, unknown>) => fx.store.put(`audits/${name}/config.json`, new TextEncoder().encode(JSON.stringify(cfg)));
  const summaryOf = async (key: string): Promise<Summary> => JSON.parse(new TextDecoder().decode(await fx.store.get(key)));
  async function runOne(name: string): Promise<Summary> {
    const r = await audit({ audit: name });
    assert.equal(r.audits.length, 1);
    assert.equal(r.audits[0]!.error, undefined, r.audits[0]!.error);
    return summaryOf(r.audits[0]!.summaryKey!);
  }

  before(async () => {
    fx = await startServiceFixture();
    const store = fx.store;
    await putModel(store, { id: 'lenet5', bytes: new Uint8Array(readFileSync(`${REPO}models/lenet5.onnx`)) });
    await putDataset(store, { id: 'train', name: 'train.npy', bytes: new Uint8Array(readFileSync(`${SEED}concept_train_lenet.npy`)) });
    await putDataset(store, { id: 'holdout', name: 'holdout.npy', bytes: mnistNpy(range(0, 2000)) });
    // Jobs run as the worker runs them, as the test tenant (so in `store`).
    await fx.runJob('fit', 'fit', { detector: 'det', model: 'lenet5', dataset: 'train', layer: '9', nCluster: 10, score: 'shortfall', seed: 0 });
    await fx.runJob('cal', 'calibrate', { detector: 'det', dataset: 'holdout', targetFpr: 0.05 });
    // A second detector calibrated without a stored reference (referenceRows 0).
    await fx.runJob('fit2', 'fit', { detector: 'noref', model: 'lenet5', dataset: 'train', layer: '9', nCluster: 10, score: 'shortfall', seed: 0 });
    await fx.runJob('cal2', 'calibrate', { detector: 'noref', dataset: 'holdout', targetFpr: 0.05, referenceRows: 0 });

    // Windows of 200 images each, none of them in the calibration hold-out. MNIST's test file holds two writer
    // populations (the first 5,000 images are from one, the last 5,000 from the other), so the clean window comes from
    // the same half as the hold-out; the last test below shows MMD telling the halves apart.
    await store.put('in/clean/w.npy', mnistNpy(range(2000, 200)));
    await store.put('in/second-half/w.npy', mnistNpy(range(5000, 200)));
    const zeroOne = range(2200, 2800).filter((i) => labels.data[i] === 0 || labels.data[i] === 1).slice(0, 200);
    assert.equal(zeroOne.length, 200);
    await store.put('in/imbalanced/w.npy', mnistNpy(zeroOne));
    const cifar = readFileSync(join(DATASETS, 'cifar-10', 'test_batch.bin'));
    await store.put('in/cifar/w.bin', new Uint8Array(cifar.subarray(0, 200 * 3073)));
  });
  after(() => fx.stop());

  test('calibration stores 1,000 in-distribution feature rows of the detector layer with the detector', async () => {
    const det = await loadForScoring(fx.store, 'det');
    assert.equal(det.bundle.referenceFeatures?.rows, 1000, 'a seeded subsample of the 2,000 hold-out rows');
    assert.equal(det.bundle.referenceFeatures?.cols, 120, "layer 9's width (fc1 after its ReLU)");
    assert.equal(det.bundle.calibrationScores?.length, 2000);
    const manifest = JSON.parse(new TextDecoder().decode(await fx.store.get(`detectors/det/v${det.version}/manifest.json`)));
    assert.deepEqual(manifest.arrays.referenceFeatures.shape, [1000, 120]);
    const noref = await loadForScoring(fx.store, 'noref');
    assert.equal(noref.bundle.referenceFeatures, undefined);
  });

  test('a clean MNIST window raises no alert from any of the three tests', async () => {
    // No mmdPermutations: the default rises from 200 to 300, the fewest whose p-values can fall below 0.01 / 3.
    await config('clean', { detector: 'det', prefix: 'in/clean/', alpha: 0.01, alertOn: ['binomial', 'ks', 'mmd'] });
    const s = await runOne('clean');
    assert.equal(s.counts.samples, 200);
    assert.deepEqual(s.alertOn, ['binomial', 'ks', 'mmd']);
    assert.ok(s.featureShift, 'the MMD test ran');
    assert.match(s.featureShift.test, /MMD/);
    assert.deepEqual([s.featureShift.nReference, s.featureShift.nWindow, s.featureShift.permutations], [1000, 200, 300]);
    assert.ok(s.featureShift.pValue > 0.05, `MMD p = ${s.featureShift.pValue}`);
    assert.ok(s.scoreShift!.pValue > 0.05, `KS p = ${s.scoreShift!.pValue}`);
    assert.ok(s.pValue > 0.05, `binomial p = ${s.pValue}`);
    assert.deepEqual([s.isDrift, s.scoreShift!.isDrift, s.featureShift.isDrift], [false, false, false]);
    assert.equal(s.alert, false);
  });

  test('a class-imbalanced window (digits 0 and 1 only): MMD on features sees it, the flag-rate test does not', async () => {
    await config('imb-binomial', { detector: 'det', prefix: 'in/imbalanced/', alpha: 0.01 });
    await config('imb-mmd', { detector: 'det', prefix: 'in/imbalanced/', alpha: 0.01, alertOn: ['mmd'] });
    const b = await runOne('imb-binomial');
    const m = await runOne('imb-mmd');
    assert.deepEqual(b.alertOn, ['binomial'], 'the default alerts on the flag rate only');
    assert.equal(b.pValue, binomialTestGreater(b.counts.flagged, 200, (await loadForScoring(fx.store, 'det')).bundle.calibration!.idFlaggedRate));
    assert.ok(b.pValue > 0.01, `binomial p = ${b.pValue}: well-formed digits are not flagged more often`);
    assert.equal(b.alert, false);
    assert.ok(b.featureShift!.pValue < 0.01 && b.featureShift!.isDrift, `MMD p = ${b.featureShift!.pValue}: reported even when it does not raise the alert`);
    assert.equal(m.alert, true, 'alertOn mmd raises the alert');
    assert.ok(m.featureShift!.pValue <= 1 / 201 + 1e-12, `no permutation reaches the observed MMD (p = ${m.featureShift!.pValue})`);
  });

  test('a CIFAR-10 window: every test flags it, and the Bonferroni alert rule holds', async () => {
    // 300 permutations: the fewest whose smallest p-value, 1/301, is below the alert's level 0.01 / 3 (the schema refuses fewer).
    await config('cifar', { detector: 'det', prefix: 'in/cifar/', alpha: 0.01, alertOn: ['binomial', 'ks', 'mmd'], mmdWindow: 50, mmdPermutations: 300 });
    const s = await runOne('cifar');
    assert.equal(s.counts.samples, 200);
    assert.ok(s.counts.flagged > 150, `flagged ${s.counts.flagged}/200`);
    assert.ok(s.pValue < 1e-6 && s.scoreShift!.pValue < 1e-6, JSON.stringify({ binomial: s.pValue, ks: s.scoreShift!.pValue }));
    assert.deepEqual([s.featureShift!.nWindow, s.featureShift!.permutations], [50, 300], 'mmdWindow bounds the rows tested; 300 permutations');
    assert.equal(s.featureShift!.pValue, 1 / 301, 'no permutation reaches the observed MMD');
    // Each test decides at alpha on its own (p < alpha), and each alone would raise the alert (p < alpha / 3).
    assert.deepEqual([s.isDrift, s.scoreShift!.isDrift, s.featureShift!.isDrift], [true, true, true]);
    for (const p of [s.pValue, s.scoreShift!.pValue, s.featureShift!.pValue]) assert.ok(p < 0.01 / 3, `p = ${p}`);
    assert.equal(s.alert, true);
  });

  test("MNIST's second writer population: MMD on features tells it from the first half's reference", async () => {
    await config('second', { detector: 'det', prefix: 'in/second-half/', alpha: 0.01, alertOn: ['binomial', 'ks', 'mmd'], mmdPermutations: 300 });
    const s = await runOne('second');
    // The shift lowers the scores (fewer flags than the baseline), so the one-sided flag-rate test cannot see it;
    // the score distribution (KS) and the features (MMD) both differ from the first half's.
    assert.ok(s.counts.flagged <= 10 && s.pValue > 0.5, `flagged ${s.counts.flagged}/200, binomial p = ${s.pValue}`);
    assert.ok(s.scoreShift!.pValue < 0.01, `KS p = ${s.scoreShift!.pValue}`);
    assert.ok(s.featureShift!.pValue < 0.01, `MMD p = ${s.featureShift!.pValue}`);
    assert.equal(s.alert, true);
  });

  test('the same objects give the same MMD sample, statistic and p-value (the seed follows the run position)', async () => {
    await config('again', { detector: 'det', prefix: 'in/imbalanced/', alpha: 0.01, mmdWindow: 150 });
    const first = await runOne('again');
    for (const o of await fx.store.list('audits/again/')) if (!o.key.endsWith('config.json')) await fx.store.delete(o.key);
    const second = await runOne('again');
    assert.equal(second.counts.samples, 200, 'the cursor was reset: the same objects were scored again');
    assert.deepEqual(second.featureShift, first.featureShift);
    assert.equal(first.featureShift!.nWindow, 150);
  });

  test('bad MMD settings name the field; alertOn mmd on a detector without a stored reference fails the run with the reason', async () => {
    await config('bad1', { detector: 'det', prefix: 'in/clean/', alpha: 0.01, alertOn: ['mmd'], mmdWindow: 0 });
    await assert.rejects(audit({ audit: 'bad1' }), /audits\/bad1\/config\.json: alertOn: includes mmd, but mmdWindow 0 turns the MMD test off/);
    await config('bad2', { detector: 'det', prefix: 'in/clean/', alpha: 0.01, alertOn: [] });
    await assert.rejects(audit({ audit: 'bad2' }), /alertOn: must name at least one test/);
    await config('bad3', { detector: 'det', prefix: 'in/clean/', alpha: 0.01, mmdWindow: 100000 });
    await assert.rejects(audit({ audit: 'bad3' }), /mmdWindow: must be <= 2000/);
    await config('bad4', { detector: 'det', prefix: 'in/clean/', alpha: 0.01, mmdPermutations: 5 });
    await assert.rejects(audit({ audit: 'bad4' }), /mmdPermutations: must be >= 100: the MMD p-value is at least 1\/\(mmdPermutations\+1\), which must be below alpha 0\.01/);
    // With mmd in alertOn the level is alpha / alertOn.length: the default 200 permutations cannot reach 0.01 / 3.
    await config('bad5', { detector: 'det', prefix: 'in/clean/', alpha: 0.01, alertOn: ['binomial', 'ks', 'mmd'], mmdPermutations: 200 });
    await assert.rejects(audit({ audit: 'bad5' }), /mmdPermutations: must be >= 300: .* below alpha 0\.01 \/ 3 tests in alertOn = 0\.00333,/);
    // A level no allowed number of permutations reaches: refused on alpha, saying what to change.
    await config('bad6', { detector: 'det', prefix: 'in/clean/', alpha: 0.0001, alertOn: ['mmd', 'ks'] });
    await assert.rejects(audit({ audit: 'bad6' }), /alpha: alpha 0\.0001 \/ 2 tests in alertOn = 0\.00005 needs more than 2000 MMD permutations .*raise alpha, name fewer tests in alertOn, or set mmdWindow 0/);
    await config('noref-mmd', { detector: 'noref', prefix: 'in/clean/', alpha: 0.01, alertOn: ['mmd'] });
    await assert.rejects(audit({ audit: 'noref-mmd' }), /stores no reference features.*calibrate it again/);
    // No summary, no cursor: only the config and the scheduler's record that it was started.
    assert.deepEqual((await fx.store.list('audits/noref-mmd/')).map((o) => o.key), ['audits/noref-mmd/attempt.json', 'audits/noref-mmd/config.json']);
    // Without mmd in alertOn the run goes on, with the feature test reported as not run.
    await config('noref', { detector: 'noref', prefix: 'in/clean/', alpha: 0.01 });
    const s = await runOne('noref');
    assert.equal(s.featureShift, null);
    assert.equal(s.counts.samples, 200);
  });
});
