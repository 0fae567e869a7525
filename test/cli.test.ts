/**
 * The `imagedrift` CLI contract on the real seed files: fit → calibrate → predict → evaluate, the JSON shapes other
 * checks rely on, and bad input → exit code 2 with one readable line.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateApiKey, hashApiKey, parseKeyring } from '../src/auth/api-keys.js';
import { decodeNpy, encodeNpy } from '../src/io/npy.js';
import { loadData } from '../src/io/load.js';
import { fitDetector } from '../src/service/detector-service.js';
import { cliInProcess } from './helpers/cli.js';
import { DATASETS, REPO, SEED } from './helpers/paths.js';

const MODEL = join(REPO, 'models/lenet5.onnx');
const TRAIN = join(SEED, 'concept_train_lenet.npy');
const EVAL = join(SEED, 'concept_test_lenet1.npy');
const TEST = join(SEED, 'concept_test_lenet2.npy');
let dir: string;
let labels: string;

const cli = cliInProcess;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'imagedrift-cli-'));
  labels = join(dir, 'labels.json');
  const ev = decodeNpy(new Uint8Array(readFileSync(EVAL)));
  writeFileSync(join(dir, 'five.npy'), encodeNpy(ev.data.subarray(0, 5 * 1024), [5, 1, 32, 32], 'float32'));
  writeFileSync(labels, JSON.stringify(Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1))));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('imagedrift CLI on the seed files', () => {
  it('fit → calibrate --grid 0.01 --json → predict --json → evaluate --json', async () => {
    const det = join(dir, 'det');
    const fit = await cli('fit', '--model', MODEL, '--train', TRAIN, '--layer', 'output', '--n-cluster', '10', '--score', 'mindarmour', '--seed', '0', '--out', det);
    assert.equal(fit.code, 0, fit.err.join('\n'));
    assert.deepEqual(readdirSync(det).sort(), ['current.json', 'model.onnx', 'v1']);
    assert.deepEqual(readdirSync(join(det, 'v1')).sort(), ['centres.bin', 'manifest.json']);

    const cal = await cli('calibrate', det, '--eval', EVAL, '--ood-labels', labels, '--grid', '0.01', '--json');
    assert.equal(cal.code, 0, cal.err.join('\n'));
    const c = JSON.parse(cal.out[0]!);
    assert.equal(typeof c.threshold, 'number');
    assert.ok(c.accuracy > 0.8 && c.accuracy <= 1);
    assert.equal(JSON.parse(readFileSync(join(det, 'current.json'), 'utf8')).version, 2, 'calibration writes a new version');

    const pred = await cli('predict', det, '--data', TEST, '--json');
    assert.equal(pred.code, 0, pred.err.join('\n'));
    const p = JSON.parse(pred.out[0]!);
    assert.equal(p.threshold, c.threshold);
    assert.equal(p.result.length, 400);
    assert.equal(p.scores.length, 400);
    assert.ok(p.result.every((v: number) => v === 0 || v === 1));
    const acc = p.result.filter((v: number, i: number) => v === (i < 200 ? 0 : 1)).length / 400;
    assert.ok(acc >= 0.872 && acc <= 0.912, `parity accuracy ${acc}`);

    const override = JSON.parse((await cli('predict', det, '--data', TEST, '--threshold', '0', '--json')).out[0]!);
    assert.ok(override.result.every((v: number) => v === 1), 'threshold 0 flags everything');

    const ev = await cli('evaluate', det, '--id', join(SEED, 'concept_train_lenet.npy'), '--ood', TEST, '--json');
    assert.equal(ev.code, 0, ev.err.join('\n'));
    const e = JSON.parse(ev.out[0]!);
    for (const k of ['auroc', 'fpr95', 'accuracy', 'threshold']) assert.equal(typeof e[k], 'number', k);
    assert.ok(e.auroc > 0.5 && e.auroc <= 1);
    // The calibrated threshold, said where it came from, as the report says it (one evaluation workflow).
    assert.deepEqual([e.threshold, e.thresholdSource], [c.threshold, 'calibrated']);
    assert.match(e.thresholdDetail, /^calibrated: best accuracy \(grid, step 0\.01\) on 100 labelled samples/);
    // Its accuracy: the train images (ID) not flagged plus the test images (all counted as OOD here) flagged, by predict.
    const onTrain = JSON.parse((await cli('predict', det, '--data', join(SEED, 'concept_train_lenet.npy'), '--json')).out[0]!);
    const right = onTrain.result.filter((v: number) => v === 0).length + p.result.filter((v: number) => v === 1).length;
    assert.equal(e.accuracy, right / 1400);
    // The threshold-free metrics too. Detection accuracy is the best balanced accuracy over all thresholds, so at
    // least the balanced accuracy at the calibrated threshold.
    for (const k of ['auprIn', 'auprOut', 'detectionAccuracy', 'threshold95']) assert.equal(typeof e[k], 'number', k);
    assert.ok(e.auprIn > 0 && e.auprIn <= 1 && e.auprOut > 0 && e.auprOut <= 1, JSON.stringify(e));
    const balanced = (onTrain.result.filter((v: number) => v === 0).length / 1000 + p.result.filter((v: number) => v === 1).length / 400) / 2;
    assert.ok(e.detectionAccuracy >= balanced - 1e-12 && e.detectionAccuracy <= 1, `${e.detectionAccuracy} vs ${balanced}`);
  });

  it('drift: mmd / ks / binomial with a given reference or the one stored at calibration; label-free calibrate --reference-rows', async () => {
    const det = join(dir, 'drift-det');
    assert.equal((await cli('fit', '--model', MODEL, '--train', TRAIN, '--layer', '9', '--n-cluster', '10', '--score', 'shortfall', '--seed', '0', '--out', det)).code, 0);
    const test = decodeNpy(new Uint8Array(readFileSync(TEST)));
    const slice = (name: string, from: number, to: number) => {
      const f = join(dir, name);
      writeFileSync(f, encodeNpy(test.data.slice(from * 1024, to * 1024), [to - from, 1, 32, 32], 'float32'));
      return f;
    };
    const idHoldout = slice('id-holdout.npy', 0, 100); // MNIST
    const idWindow = slice('id-window.npy', 100, 200); // other MNIST images
    const oodWindow = slice('ood-window.npy', 200, 300); // CIFAR-10 grey
    const cal = await cli('calibrate', det, '--id-holdout', idHoldout, '--target-fpr', '0.1', '--reference-rows', '60', '--json');
    assert.equal(cal.code, 0, cal.err.join('\n'));
    const manifest = JSON.parse(readFileSync(join(det, 'v2', 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.arrays.referenceFeatures.shape, [60, 120], '60 of the 100 hold-out rows, layer 9 width');
    const drift = async (...args: string[]) => {
      const r = await cli('drift', det, '--json', ...args);
      assert.equal(r.code, 0, r.err.join('\n'));
      return JSON.parse(r.out[0]!);
    };
    const stored = await drift('--data', oodWindow, '--permutations', '99');
    assert.deepEqual([stored.test, stored.isDrift, stored.pValue, stored.meta.nReference, stored.meta.n], ['mmd', true, 0.01, 60, 100]);
    const clean = await drift('--data', idWindow, '--permutations', '99');
    assert.equal(clean.isDrift, false, `clean MNIST window: p = ${clean.pValue}`);
    const given = await drift('--data', oodWindow, '--reference', idHoldout, '--permutations', '99');
    assert.deepEqual([given.isDrift, given.meta.nReference], [true, 100], 'an explicit reference is used whole');
    const ks = await drift('--data', oodWindow, '--test', 'ks');
    assert.deepEqual([ks.test, ks.isDrift, ks.meta.nReference], ['ks', true, 100], 'ks uses the 100 calibration scores');
    assert.equal((await drift('--data', idWindow, '--test', 'ks')).isDrift, false);
    const bin = await drift('--data', oodWindow, '--test', 'binomial');
    assert.deepEqual([bin.test, bin.isDrift], ['binomial', true]);
    // The binomial test's baseline is the calibration's flag rate: a --reference used to be accepted and ignored.
    const binRef = await cli('drift', det, '--data', oodWindow, '--test', 'binomial', '--reference', idHoldout);
    assert.equal(binRef.code, 2);
    assert.match(binRef.err.join('\n'), /^imagedrift: error: --reference: does not apply to the binomial test/);
    // --permutations and --seed are the mmd test's: ks and binomial used to accept them and answer as without them.
    for (const [test, flag] of [['ks', '--permutations'], ['ks', '--seed'], ['binomial', '--permutations'], ['binomial', '--seed']] as const) {
      const r = await cli('drift', det, '--data', oodWindow, '--test', test, flag, '7');
      assert.equal(r.code, 2, `${test} ${flag}: ${r.out.join('\n')}`);
      assert.equal(r.err.length, 1);
      assert.match(r.err[0]!, new RegExp(`^imagedrift: error: ${flag}: does not apply to the ${test} test, which draws nothing at random \\(only the mmd test has permutations and a seed\\)$`));
    }
    assert.deepEqual(await drift('--data', oodWindow, '--permutations', '99'), stored, 'deterministic');

    // Without a stored reference (referenceRows 0, or never calibrated) mmd needs --reference: exit 2, one line.
    const bare = join(dir, 'drift-bare');
    assert.equal((await cli('fit', '--model', MODEL, '--train', TRAIN, '--layer', '9', '--n-cluster', '10', '--out', bare)).code, 0);
    const uncal = await cli('drift', bare, '--data', idWindow);
    assert.equal(uncal.code, 2);
    assert.match(uncal.err.join('\n'), /reference: is required for the mmd test: the detector is not calibrated/);
    assert.equal((await cli('calibrate', bare, '--id-holdout', idHoldout, '--target-fpr', '0.1', '--reference-rows', '0')).code, 0);
    const noRef = await cli('drift', bare, '--data', idWindow);
    assert.equal(noRef.code, 2);
    assert.equal(noRef.err.length, 1);
    assert.match(noRef.err[0]!, /reference: is required for the mmd test: this detector's calibration stored no reference features/);
    const badRows = await cli('calibrate', bare, '--id-holdout', idHoldout, '--target-fpr', '0.1', '--reference-rows=-1');
    assert.equal(badRows.code, 2);
    assert.match(badRows.err[0]!, /--reference-rows: must be >= 0/);
  });

  it('fit --detector auto uses the measured default for the layer; parameters and unmeasured layers are refused', async () => {
    const kindOf = (d: string) => JSON.parse(readFileSync(join(d, 'v1', 'manifest.json'), 'utf8')).detector;
    const out = join(dir, 'auto-output');
    const r = await cli('fit', '--model', MODEL, '--train', TRAIN, '--layer', 'output', '--detector', 'auto', '--out', out, '--json');
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(kindOf(out).kind, 'msp');
    const ten = join(dir, 'auto-10');
    assert.equal((await cli('fit', '--model', MODEL, '--train', TRAIN, '--layer', '10', '--detector', 'auto', '--out', ten)).code, 0);
    assert.deepEqual([kindOf(ten).kind, kindOf(ten).params.score, kindOf(ten).params.nCluster], ['feature-cluster', 'shortfall', 10]);
    const five = await cli('fit', '--model', MODEL, '--train', TRAIN, '--layer', '5', '--detector', 'auto', '--out', join(dir, 'auto-5'));
    assert.equal(five.code, 2);
    assert.match(five.err[0]!, /--layer: auto: no measured default for layer "5"; measured layers: 3, 7, 8, 9, 10, 11, output/);
    const k = await cli('fit', '--model', MODEL, '--train', TRAIN, '--layer', '9', '--detector', 'auto', '--k', '5', '--out', join(dir, 'auto-k'));
    assert.equal(k.code, 2);
    assert.match(k.err[0]!, /--k: does not apply to the auto detector/);
  });

  it('convert-ckpt reproduces the committed model byte for byte', async () => {
    const out = join(dir, 'lenet5.onnx');
    const r = await cli('convert-ckpt', join(SEED, 'checkpoint_lenet-10_1875.ckpt'), '--out', out);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(readFileSync(out), readFileSync(MODEL));
  });
});

describe('imagedrift CLI bad input: exit code 2 and one line naming the argument', () => {
  let det: string;
  before(async () => {
    det = join(dir, 'bad-det');
    const r = await cli('fit', '--model', MODEL, '--train', EVAL, '--layer', '9', '--n-cluster', '3', '--out', det);
    assert.equal(r.code, 0, r.err.join('\n'));
  });

  const cases: [string, () => string[], RegExp][] = [
    ['unknown layer lists available names', () => ['fit', '--model', MODEL, '--train', EVAL, '--layer', 'nope', '--n-cluster', '3', '--out', join(dir, 'x1')], /layer.*nope.*(8|output)/],
    ['nCluster out of range', () => ['fit', '--model', MODEL, '--train', EVAL, '--layer', '9', '--n-cluster', '1', '--out', join(dir, 'x2')], /--n-cluster/],
    ['nCluster above the sample count', () => ['fit', '--model', MODEL, '--train', join(dir, 'five.npy'), '--layer', '9', '--n-cluster', '6', '--out', join(dir, 'x3')], /--n-cluster: n_samples=5 should be >= nCluster=6/],
    ['missing required flag', () => ['fit', '--model', MODEL, '--layer', '9', '--n-cluster', '3', '--out', join(dir, 'x4')], /--train/],
    ['garbage npy', () => ['predict', det, '--data', labels], /data|npy|json|format/i],
    ['garbage ONNX', () => ['fit', '--model', labels, '--train', EVAL, '--layer', '9', '--n-cluster', '3', '--out', join(dir, 'x5')], /model/],
    ['truncated ckpt', () => ['convert-ckpt', labels, '--out', join(dir, 'x.onnx')], /checkpoint|ckpt/i],
    ['labels of the wrong length', () => ['calibrate', det, '--eval', TEST, '--ood-labels', labels], /--ood-labels: has 100 labels but the data has 400/],
    ['unknown option', () => ['predict', det, '--data', TEST, '--bogus'], /bogus/],
    ['non-numeric threshold', () => ['predict', det, '--data', TEST, '--threshold', 'abc'], /--threshold/],
    ['uncalibrated detector without --threshold', () => ['predict', det, '--data', TEST], /threshold/],
    ['missing detector directory', () => ['predict', join(dir, 'nowhere'), '--data', TEST], /detector/],
    ['keygen without a tenant', () => ['keygen'], /--tenant: is required/],
    ['keygen with an unusable tenant name', () => ['keygen', '--tenant', 'Tenant A'], /--tenant: must be 1-63 characters/],
  ];
  for (const [name, args, re] of cases) {
    it(name, async () => {
      const r = await cli(...args());
      assert.equal(r.code, 2, `exit code; stderr: ${r.err.join(' | ')}`);
      assert.equal(r.err.length, 1, 'exactly one line');
      assert.doesNotMatch(r.err[0]!, /\n/);
      assert.match(r.err[0]!, /^imagedrift: error: /);
      assert.match(r.err[0]!, re);
    });
  }

  it('labels that are not 0/1, and all one class', async () => {
    const bad = join(dir, 'bad-labels.json');
    writeFileSync(bad, JSON.stringify(Array.from({ length: 100 }, (_, i) => (i === 7 ? 2 : i % 2))));
    let r = await cli('calibrate', det, '--eval', EVAL, '--ood-labels', bad);
    assert.equal(r.code, 2);
    assert.match(r.err[0]!, /\[7\]/);
    writeFileSync(bad, JSON.stringify(new Array(100).fill(0)));
    r = await cli('calibrate', det, '--eval', EVAL, '--ood-labels', bad);
    assert.equal(r.code, 2);
    assert.match(r.err[0]!, /all 100 labels are 0/);
  });

  it('a failed calibration leaves the detector unchanged', () => {
    assert.equal(JSON.parse(readFileSync(join(det, 'current.json'), 'utf8')).version, 1);
    assert.deepEqual(readdirSync(det).sort(), ['current.json', 'model.onnx', 'v1']);
  });

  it('the installed bin prints one line and exits 2 (real process)', () => {
    execFileSync('npx', ['--no-install', 'tsc', '-p', 'tsconfig.build.json'], { cwd: REPO });
    const r = spawnSync(process.execPath, [join(REPO, 'bin/imagedrift.js'), 'fit', '--model', MODEL, '--train', EVAL, '--layer', '9', '--n-cluster', '0', '--out', join(dir, 'y')], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /--n-cluster/);
  });

  it('the bundled CLI spreads a large fit over KMeans threads (dist/kmeans-thread.js) and stores what an in-thread fit gives', async () => {
    // MNIST test, 10,000 × 84 at layer 10, 40 clusters × 4 initialisations = 1.3e8 ≥ SPREAD_MIN_WORK: on 2+ cores it spreads.
    assert.ok(availableParallelism() >= 2, `this check needs 2+ cores to spread (has ${availableParallelism()})`);
    const mnist = join(DATASETS, 'mnist/t10k-images-idx3-ubyte.gz');
    const out = join(dir, 'spread');
    const r = spawnSync(process.execPath, [join(REPO, 'bin/imagedrift.js'), 'fit', '--model', MODEL, '--train', mnist, '--layer', '10', '--n-cluster', '40', '--score', 'mindarmour', '--seed', '5', '--out', out], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const here = await fitDetector({ model: readFileSync(MODEL), modelKey: 'model.onnx', data: await loadData(mnist), layer: '10', detector: { kind: 'feature-cluster', nCluster: 40, score: 'mindarmour', seed: 5 } });
    const stored = readFileSync(join(out, 'v1/centres.bin'));
    assert.deepEqual(new Float32Array(stored.buffer, stored.byteOffset, stored.byteLength / 4), here.fitted.arrays().centres);
    // That fit did start KMeans threads, and a small one does not: a copy of the bundle whose thread script throws as
    // it loads fails the large fit with that error and fits the seed set (1000 × 10 at layer output) as before.
    const copy = join(dir, 'bundle-copy');
    mkdirSync(join(copy, 'bin'), { recursive: true });
    mkdirSync(join(copy, 'dist/src/cli'), { recursive: true });
    cpSync(join(REPO, 'bin/imagedrift.js'), join(copy, 'bin/imagedrift.js'));
    cpSync(join(REPO, 'dist/cli.cjs'), join(copy, 'dist/cli.cjs'));
    cpSync(join(REPO, 'dist/src/cli/compile-cache.js'), join(copy, 'dist/src/cli/compile-cache.js'));
    symlinkSync(join(REPO, 'node_modules'), join(copy, 'node_modules'));
    writeFileSync(join(copy, 'package.json'), '{"type":"module"}');
    writeFileSync(join(copy, 'dist/kmeans-thread.js'), "throw new Error('kmeans thread started');\n");
    const fitWith = (train: string, layer: string, k: string, to: string) =>
      spawnSync(process.execPath, [join(copy, 'bin/imagedrift.js'), 'fit', '--model', MODEL, '--train', train, '--layer', layer, '--n-cluster', k, '--out', join(dir, to)], { encoding: 'utf8' });
    const large = fitWith(mnist, '10', '40', 'spread-copy');
    assert.notEqual(large.status, 0);
    assert.match(large.stderr, /kmeans thread started/);
    assert.equal(fitWith(TRAIN, 'output', '10', 'small-copy').status, 0);
  });
});

describe('imagedrift keygen', () => {
  it('prints a new key once and the keyring entry holding only its hash', async () => {
    const r = await cli('keygen', '--tenant', 'acme', '--id', 'acme-ci', '--json');
    assert.equal(r.code, 0, r.err.join('\n'));
    const { key, entry } = JSON.parse(r.out[0]!) as { key: string; entry: { id: string; tenant: string; sha256: string } };
    assert.deepEqual({ id: entry.id, tenant: entry.tenant }, { id: 'acme-ci', tenant: 'acme' });
    assert.ok(!JSON.stringify(entry).includes(key), 'the entry does not contain the key');
    const ring = parseKeyring([entry], 'test');
    assert.equal(ring.verify(key)?.tenant, 'acme');
    const again = JSON.parse((await cli('keygen', '--tenant', 'acme', '--json')).out[0]!) as { key: string; entry: { id: string } };
    assert.notEqual(again.key, key, 'a fresh key each time');
    // Default ids: a same-day rotation gives distinct ids (a duplicate id makes the whole keyring invalid), and the
    // longest tenant name still gives a valid id.
    const third = JSON.parse((await cli('keygen', '--tenant', 'acme', '--json')).out[0]!) as { key: string; entry: { id: string } };
    assert.match(again.entry.id, /^acme-\d{4}-\d\d-\d\d-[0-9a-f]{8}$/);
    assert.notEqual(third.entry.id, again.entry.id);
    assert.equal(parseKeyring([again.entry, third.entry].map((e) => ({ ...e, tenant: 'acme', sha256: hashApiKey(generateApiKey()) })), 'test').size, 2);
    const long = await cli('keygen', '--tenant', 'a'.repeat(63), '--json');
    assert.equal(long.code, 0, long.err.join('\n'));
  });
});
