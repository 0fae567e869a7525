/**
 * The CLI bad-input battery (issue 6): hostile files through `imagedrift` commands. Each must exit with code 2 and
 * one readable line naming the problem; no output directory may be left behind by a failed fit.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import sharp from 'sharp';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliInProcess as cli } from '../helpers/cli.js';
import { REPO, SEED } from '../helpers/paths.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { dict, npyFile, rawBytes } from '../io/build-npy.js';
import { cifarWrongLength, complexNpy, emptyNpy, hugeShapeNpy, idxGzipBomb, malformedHeaderNpy, nonFiniteNpy, pngWithHeader, shortNpy, truncatedJpeg, wrongRankOnnx } from './hostile-inputs.js';

const MODEL = join(REPO, 'models/lenet5.onnx');
const EVAL = join(SEED, 'concept_test_lenet1.npy');

/** The tutorial's 100-image eval set with one NaN pixel in sample `i`. */
function evalWithNaN(i: number): Uint8Array {
  const a = decodeNpy(new Uint8Array(readFileSync(EVAL)));
  const data = Float32Array.from(a.data);
  data[i * 1024 + 5] = Number.NaN;
  return encodeNpy(data, a.shape, 'float32');
}

describe('CLI bad-input battery: exit code 2 and one line', () => {
  let dir = '';
  let det = '';
  const file = (name: string, bytes: Uint8Array): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  let msp = '';
  const labelsFile = () => file('labels.json', new TextEncoder().encode(JSON.stringify([...Array(50).fill(0), ...Array(50).fill(1)])));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'imagedrift-hostile-'));
    det = join(dir, 'det');
    msp = join(dir, 'msp');
    const r = await cli('fit', '--model', MODEL, '--train', EVAL, '--layer', 'output', '--n-cluster', '3', '--out', det);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal((await cli('fit', '--model', MODEL, '--train', EVAL, '--layer', 'output', '--detector', 'msp', '--out', msp)).code, 0);
    mkdirSync(join(dir, 'mixed'));
    const grey = (w: number, h: number) => sharp(Buffer.alloc(w * h, 128), { raw: { width: w, height: h, channels: 1 } }).png().toBuffer();
    writeFileSync(join(dir, 'mixed', 'a.png'), await grey(28, 28));
    writeFileSync(join(dir, 'mixed', 'b.png'), await grey(32, 32));
    mkdirSync(join(dir, 'no-images'));
    writeFileSync(join(dir, 'no-images', 'notes.txt'), 'not an image');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const fitOn = (train: string, out: string) => ['fit', '--model', MODEL, '--train', train, '--layer', 'output', '--n-cluster', '3', '--out', join(dir, out)];
  const predictOn = (data: string) => ['predict', det, '--data', data, '--threshold', '0.5'];

  const cases: [string, () => Promise<string[]> | string[], RegExp, string?][] = [
    ['.npy declaring 10^13 elements', () => fitOn(file('huge.npy', hugeShapeNpy()), 'o1'), /shape.*maxElements/, 'o1'],
    ['.npy holding NaN', () => predictOn(file('nan.npy', nonFiniteNpy())), /NaN/],
    ['.npy with zero samples', () => fitOn(file('empty.npy', emptyNpy()), 'o2'), /empty/, 'o2'],
    ['.npy shorter than its shape', () => predictOn(file('short.npy', shortNpy())), /truncated/],
    ['.npy of complex64', () => predictOn(file('complex.npy', complexNpy())), /complex/],
    ['.npy with a malformed header', () => predictOn(file('bad.npy', malformedHeaderNpy())), /header/],
    ['IDX .gz bomb declaring 1.5M images', () => predictOn(file('bomb-idx3-ubyte.gz', idxGzipBomb())), /maxElements/],
    ['IDX .gz bomb declaring 10 images', () => predictOn(file('bomb10-idx3-ubyte.gz', idxGzipBomb(10))), /extra bytes|maxInflated/],
    ['CIFAR .bin of a wrong length', () => predictOn(file('data_batch_1.bin', cifarWrongLength())), /3073-byte record/],
    ['PNG declaring 50000 × 50000 pixels', () => predictOn(file('big.png', pngWithHeader(50_000, 50_000))), /maxImagePixels/],
    ['PNG of zero width', () => predictOn(file('zero.png', pngWithHeader(0, 32))), /could not be decoded|corrupt|zero|empty/],
    ['truncated JPEG', async () => predictOn(file('cut.jpg', await truncatedJpeg())), /could not be decoded|premature|corrupt/],
    ['ONNX whose input has rank 2', () => fitOn(join(dir, 'x'), 'o3').map((a) => (a === MODEL ? file('rank2.onnx', wrongRankOnnx()) : a === join(dir, 'x') ? EVAL : a)), /rank-4/, 'o3'],
    ['--out naming a file is refused before the fit (it failed at the save, naming model.onnx)', () => ['fit', '--model', MODEL, '--train', EVAL, '--layer', '9', '--n-cluster', '3', '--out', file('plain-file', new Uint8Array(1))], /^imagedrift: error: --out: .*plain-file exists and is not a directory$/],
    ['ensemble member with an unknown layer', () => ['fit', '--model', MODEL, '--train', EVAL, '--detector', 'ensemble', '--members', '[{"layer":"nope","detector":{"kind":"energy"}}]', '--out', join(dir, 'o4')], /nope/, 'o4'],
    // Errors raised below the CLI used to name a flag the command lacks (--layer for a member, --threshold for drift) or a library field (model, features, data)
    ['an ensemble member\'s unknown layer is named by its member, not --layer (which an ensemble refuses)', () => ['fit', '--model', MODEL, '--train', EVAL, '--detector', 'ensemble', '--members', '[{"layer":"output","detector":{"kind":"energy"}},{"layer":"nope","detector":{"kind":"energy"}}]', '--out', join(dir, 'o11')], /^imagedrift: error: --members\[1\]\.layer: no tensor named "nope" in the model; available: /, 'o11'],
    ['a --model that is not ONNX is named --model', () => ['fit', '--model', EVAL, '--train', EVAL, '--layer', '9', '--n-cluster', '3', '--out', join(dir, 'o12')], /^imagedrift: error: --model: not an ONNX model/, 'o12'],
    ['mahalanobis on one training sample is named --train, not features', () => ['fit', '--model', MODEL, '--train', file('one.npy', encodeNpy(new Float32Array(1024), [1, 1, 32, 32], 'float32')), '--layer', '9', '--detector', 'mahalanobis', '--out', join(dir, 'o13')], /^imagedrift: error: --train: needs at least 2 samples, got 1$/, 'o13'],
    ['drift mmd on one sample is named --data, as --reference is', () => ['drift', det, '--data', file('one.npy', encodeNpy(new Float32Array(1024), [1, 1, 32, 32], 'float32')), '--reference', EVAL], /^imagedrift: error: --data: needs at least 2 samples$/],
    ['drift --test binomial on an uncalibrated detector names the detector, not --threshold (drift has none)', () => ['drift', det, '--data', EVAL, '--test', 'binomial'], /^imagedrift: error: detector: is not calibrated; the binomial drift test needs a calibrated detector/],
    ['a member\'s bad parameter is named by its path inside --members (it was --members alone)', () => ['fit', '--model', MODEL, '--train', EVAL, '--detector', 'ensemble', '--members', '[{"layer":"output","detector":{"kind":"energy"}},{"layer":"3","detector":{"kind":"knn","k":0}}]', '--out', join(dir, 'o14')], /^imagedrift: error: --members\[1\]\.detector\.k: must be >= 1/, 'o14'],
    ['--members that is not JSON', () => ['fit', '--model', MODEL, '--train', EVAL, '--detector', 'ensemble', '--members', '[{layer:', '--out', join(dir, 'o5')], /members/, 'o5'],
    ['a dtype holding an ANSI escape is printed escaped (it could rewrite the terminal line)', () => predictOn(file('esc.npy', npyFile(1, "{'descr': '\u001b[2K\rimagedrift: ok', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)))), /^imagedrift: error: --data: esc\.npy\.header\.descr: .*'\\u\{1b\}\[2K\\u\{d\}imagedrift: ok'[^\u001b\r]*$/],
    ['a data path with unicode and control characters', () => predictOn(join(dir, 'dätä\u202e\u0007.npy')), /cannot read|ENOENT|no such/],
    ['a folder of images of two sizes is named --data, with no hint at an option the CLI lacks', () => predictOn(join(dir, 'mixed')), /^imagedrift: error: --data: 'b\.png' is 32×32 \(h×w\) but 'a\.png' is 28×28; images read together must share one size \(resize them first\)$/],
    ['a data directory holding no images', () => predictOn(join(dir, 'no-images')), /no (PNG|JPEG|image)|images/i],
    // Argument forms that once passed silently or crashed
    ['a flag given twice (the last one used to win)', () => [...fitOn(EVAL, 'o6'), '--n-cluster', '4'], /--n-cluster: is given more than once/, 'o6'],
    ['a hexadecimal number (0x10 used to mean 16)', () => fitOn(EVAL, 'o7').map((a) => (a === '3' ? '0x10' : a)), /--n-cluster: must be a number/, 'o7'],
    ['one H×W×C image without its batch axis (used to be 32 strips)', () => predictOn(file('hwc.npy', encodeNpy(new Float32Array(32 * 32 * 3), [32, 32, 3], 'float32'))), /--data: rank-3 shape \[32,32,3\] is ambiguous/],
    ['convert-ckpt --out onto a directory (used to print a stack trace)', () => ['convert-ckpt', join(SEED, 'checkpoint_lenet-10_1875.ckpt'), '--out', dir], /--out: cannot write .*EISDIR/],
    ['--grid on msp scores, all negative (used to return threshold 0 at chance)', () => ['calibrate', msp, '--eval', EVAL, '--ood-labels', labelsFile(), '--grid', '0.01'], /--grid: the scores lie in .* outside the grid/],
    ['an .npz of several arrays without #key', () => predictOn(join(REPO, 'data/seed-demo.npz')), /--data: .*choose one with file\.npz#<key>/],
    ['evaluate: NaN in the OOD set is named --ood, not data', () => ['evaluate', det, '--id', EVAL, '--ood', file('nan-ood.npy', nonFiniteNpy())], /^imagedrift: error: --ood: data\[\d+\]: .*(NaN|infinite)/],
    ['--ood-labels that does not exist is named --ood-labels', () => ['calibrate', det, '--eval', EVAL, '--ood-labels', join(dir, 'no-such-labels.json')], /^imagedrift: error: --ood-labels: .*(ENOENT|no such)/],
    ['--ood-labels holding a 2 is named --ood-labels with its index', () => ['calibrate', det, '--eval', EVAL, '--ood-labels', file('two.json', new TextEncoder().encode(JSON.stringify([2, ...Array(99).fill(0)])))], /^imagedrift: error: --ood-labels: labels\[0\]: 2 in two\.json is not 0 or 1/],
    ['--ood-labels that is not JSON is named --ood-labels', () => ['calibrate', det, '--eval', EVAL, '--ood-labels', file('l.txt', new TextEncoder().encode('0,1'))], /^imagedrift: error: --ood-labels: labels must be a \.npy array or a JSON array/],
    ['calibrate: NaN in the eval set is named --eval', () => ['calibrate', det, '--eval', file('nan-eval.npy', evalWithNaN(7)), '--ood-labels', labelsFile()], /^imagedrift: error: --eval: data\[7\]: sample 7 contains a NaN pixel/],
    ['a library field is shown as its flag (nCluster → --n-cluster)', () => fitOn(file('two.npy', encodeNpy(new Float32Array(2 * 1024), [2, 1, 32, 32], 'float32')), 'o8'), /--n-cluster: n_samples=2/, 'o8'],
    // Flags that used to be accepted and dropped (exit 0, the same result as without them; drift's: test/cli.test.ts)
    ['fit --seed for a detector that draws nothing at random (energy used to drop it)', () => ['fit', '--model', MODEL, '--train', EVAL, '--layer', 'output', '--detector', 'energy', '--seed', '5', '--out', join(dir, 'o9')], /^imagedrift: error: --seed: does not apply to the energy detector$/, 'o9'],
    ['fit --seed for mahalanobis, which has no seed either', () => ['fit', '--model', MODEL, '--train', EVAL, '--layer', 'output', '--detector', 'mahalanobis', '--seed', '0', '--out', join(dir, 'o10')], /^imagedrift: error: --seed: does not apply to the mahalanobis detector$/, 'o10'],
  ];

  it('an --out under /proc fails with one line (Node\'s recursive mkdir used to spin there forever)', { timeout: 60_000 }, async () => {
    for (const args of [['fit', '--model', MODEL, '--train', EVAL, '--layer', 'output', '--n-cluster', '3', '--out', '/proc/imagedrift-x/det'], ['report', det, '--id', EVAL, '--ood', EVAL, '--out', '/proc/imagedrift-x/r']]) {
      const r = await cli(...args);
      assert.equal(r.code, 1, r.err.join('\n'));
      assert.equal(r.err.length, 1, r.err.join('\n'));
      assert.match(r.err[0]!, /^imagedrift: error: .*ENOENT/);
    }
  });

  it('a failed write (file-size limit, EFBIG) leaves no partial file: convert-ckpt and report keep the earlier output, fit leaves no temp file', { timeout: 120_000 }, async () => {
    // A real process under `ulimit -f 64` (32 KiB in dash's 512-byte blocks): every file write past that fails.
    const limited = (args: string[]) =>
      spawnSync('sh', ['-c', 'ulimit -f 64 && exec "$@"', 'sh', process.execPath, '--import', 'tsx', '--input-type=module', '-e', "import { main } from './src/cli/main.ts'; process.exitCode = await main(JSON.parse(process.env.IMAGEDRIFT_CLI_ARGS));"], {
        cwd: REPO,
        env: { ...process.env, IMAGEDRIFT_CLI_ARGS: JSON.stringify(args), NODE_NO_WARNINGS: '1' },
        encoding: 'utf8',
      });
    const tempFiles = (d: string) => readdirSync(d, { recursive: true, encoding: 'utf8' }).filter((f) => f.includes('.tmp-'));
    const ckpt = join(SEED, 'checkpoint_lenet-10_1875.ckpt');
    const out = join(dir, 'efbig');
    const onnx = join(out, 'model.onnx');
    assert.equal((await cli('convert-ckpt', ckpt, '--out', onnx)).code, 0);
    const r1 = limited(['convert-ckpt', ckpt, '--out', onnx]);
    assert.equal(r1.status, 2, r1.stderr);
    assert.match(r1.stderr, /^imagedrift: error: --out: cannot write .*model\.onnx: EFBIG\n$/);
    assert.deepEqual(readFileSync(onnx), readFileSync(MODEL), 'the earlier model.onnx is whole (it used to be cut at the limit)');

    const report = join(out, 'report');
    assert.equal((await cli('report', det, '--id', EVAL, '--ood', EVAL, '--out', report)).code, 0);
    const page = readFileSync(join(report, 'index.html'));
    assert.ok(page.length > 64 * 1024, `the report (${page.length} bytes) must exceed the limit`);
    const r2 = limited(['report', det, '--id', EVAL, '--ood', EVAL, '--out', report]);
    assert.equal(r2.status, 1, r2.stderr);
    assert.match(r2.stderr, /^imagedrift: error: --out: cannot write .*index\.html: EFBIG\n$/, 'named --out as convert-ckpt names it (it used to say "out")');
    assert.deepEqual(readFileSync(join(report, 'index.html')), page, 'the earlier report is whole');

    const fitted = join(out, 'det');
    const r3 = limited(['fit', '--model', MODEL, '--train', EVAL, '--layer', 'output', '--n-cluster', '3', '--out', fitted]);
    assert.equal(r3.status, 1, r3.stderr);
    assert.match(r3.stderr, /^imagedrift: error: model\.onnx: cannot write to .*EFBIG/);
    assert.deepEqual(tempFiles(out), [], 'no temp file left behind (LocalDirStore.put used to leave model.onnx.tmp-<uuid>)');
  });

  it('fit --out into a detector directory of another model is refused (it would orphan the versions there); the same model adds a version', async () => {
    const d = join(dir, 'refit');
    assert.equal((await cli(...fitOn(EVAL, 'refit'))).code, 0);
    const other = file('other.onnx', new Uint8Array([...readFileSync(MODEL), 0x0a, 0x00]));
    const r = await cli(...fitOn(EVAL, 'refit').map((a) => (a === MODEL ? other : a)));
    assert.equal(r.code, 2, r.err.join('\n'));
    assert.match(r.err[0]!, /^imagedrift: error: --out: .*refit holds detector versions fitted with another model \(its model\.onnx differs from --model\); fit into a new directory$/);
    assert.deepEqual(readFileSync(join(d, 'model.onnx')), readFileSync(MODEL), 'model.onnx untouched');
    const again = await cli(...fitOn(EVAL, 'refit'), '--json');
    assert.equal(again.code, 0, again.err.join('\n'));
    assert.equal(JSON.parse(again.out[0]!).version, 2);
    assert.equal((await cli('predict', d, '--data', EVAL, '--threshold', '0.5')).code, 0);
    // A stray model.onnx with no versions beside it orphans nothing: the fit takes the directory.
    mkdirSync(join(dir, 'stray'));
    writeFileSync(join(dir, 'stray', 'model.onnx'), 'not a model');
    assert.equal((await cli(...fitOn(EVAL, 'stray'))).code, 0);
    assert.deepEqual(readFileSync(join(dir, 'stray', 'model.onnx')), readFileSync(MODEL));
  });

  for (const [name, args, re, out] of cases) {
    it(name, async () => {
      const r = await cli(...(await args()));
      assert.equal(r.code, 2, `${r.err.join('\n')}\n${r.out.join('\n')}`);
      assert.equal(r.err.length, 1, r.err.join('\n'));
      assert.ok(!r.err[0]!.includes('\n'), 'one line');
      assert.match(r.err[0]!, /^imagedrift: error: \S/);
      assert.match(r.err[0]!, re);
      assert.ok(r.err[0]!.length < 600, r.err[0]);
      if (out) assert.ok(!existsSync(join(dir, out)), 'a failed fit leaves no detector directory');
    });
  }
});

describe('CLI: damaged detector state exits 1 with one line; argument forms that work', () => {
  let dir = '';
  let msp = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'imagedrift-cli-forms-'));
    msp = join(dir, 'msp');
    writeFileSync(join(dir, 'labels.json'), JSON.stringify([...Array(50).fill(0), ...Array(50).fill(1)]));
    assert.equal((await cli('fit', '--model', MODEL, '--train', EVAL, '--layer', 'output', '--detector', 'msp', '--out', msp)).code, 0);
    assert.equal((await cli('calibrate', msp, '--eval', EVAL, '--ood-labels', join(dir, 'labels.json'))).code, 0);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const damaged = (name: string, damage: (d: string) => void): string => {
    const d = join(dir, name);
    cpSync(msp, d, { recursive: true });
    damage(d);
    return d;
  };
  const exitsOne = async (args: string[], re: RegExp) => {
    const r = await cli(...args);
    assert.equal(r.code, 1, `${r.err.join('\n')}\n${r.out.join('\n')}`);
    assert.equal(r.err.length, 1, r.err.join('\n'));
    assert.match(r.err[0]!, re);
  };

  it('a NaN stored in calibrationScores.bin: refused on load (drift --test ks used to spin forever)', async () => {
    const d = damaged('nan-scores', (x) => {
      const p = join(x, 'v2', 'calibrationScores.bin');
      const b = readFileSync(p);
      b.writeDoubleLE(Number.NaN, 0); // calibration scores are float64
      writeFileSync(p, b);
    });
    await exitsOne(['drift', d, '--data', EVAL, '--test', 'ks'], /v2\/arrays\.calibrationScores: .*non-finite value \(NaN\) at index 0/);
    await exitsOne(['predict', d, '--data', EVAL], /non-finite/);
  });

  it('malformed manifest, missing array, missing model, a pointer to a missing version: all exit 1 (stored state, not user input)', async () => {
    await exitsOne(['predict', damaged('no-model', (x) => rmSync(join(x, 'model.onnx'))), '--data', EVAL], /model\.onnx: the model of detector .* is missing/);
    // A truncated model.onnx used to be a usage error (exit 2, "model: … differs") although no argument was wrong.
    await exitsOne(['predict', damaged('cut-model', (x) => truncateSync(join(x, 'model.onnx'), 1000)), '--data', EVAL], /^imagedrift: error: model\.onnx: the model of detector .*cut-model is damaged or replaced: sha256 [0-9a-f]{12}… is not the [0-9a-f]{12}… it was fitted with$/);
    await exitsOne(['predict', damaged('bad-json', (x) => writeFileSync(join(x, 'v2', 'manifest.json'), '{bad')), '--data', EVAL], /manifest\.json: manifest is not valid JSON/);
    await exitsOne(['predict', damaged('bad-field', (x) => {
      const p = join(x, 'v2', 'manifest.json');
      writeFileSync(p, readFileSync(p, 'utf8').replace('"dim": 10', '"dim": -1'));
    }), '--data', EVAL], /stored detector v2 is unusable/);
    await exitsOne(['predict', damaged('no-array', (x) => rmSync(join(x, 'v2', 'calibrationScores.bin'))), '--data', EVAL], /array file is missing/);
    await exitsOne(['predict', damaged('ptr', (x) => writeFileSync(join(x, 'current.json'), JSON.stringify({ version: 7, fence: 1, updatedAt: 'x' }))), '--data', EVAL], /current\.json: names v7, which has no manifest/);
    // fit into a directory with a damaged pointer is refused before fitting: it used to fit, save v3 and then fail,
    // leaving a complete version nothing points at.
    const ptr = damaged('fit-ptr', (x) => writeFileSync(join(x, 'current.json'), '{garbage'));
    await exitsOne(['fit', '--model', MODEL, '--train', EVAL, '--layer', 'output', '--detector', 'msp', '--out', ptr], /^imagedrift: error: current\.json: /);
    assert.deepEqual(readdirSync(ptr).filter((f) => /^v\d+$/.test(f)).sort(), ['v1', 'v2'], 'no version written');
    // A manifest naming its model outside the directory used to be a usage error (exit 2, "key: …") naming no argument.
    await exitsOne(['predict', damaged('model-key', (x) => {
      const p = join(x, 'v2', 'manifest.json');
      writeFileSync(p, readFileSync(p, 'utf8').replace('"key": "model.onnx"', '"key": "../msp/model.onnx"'));
    }), '--data', EVAL], /^imagedrift: error: \.\.\/msp\/model\.onnx: the model of detector .*model-key has an unusable key: /);
    // A manifest naming a layer its (intact) model lacks used to be a usage error (exit 2) naming --layer, which
    // predict does not take.
    await exitsOne(['predict', damaged('model-layer', (x) => {
      const p = join(x, 'v2', 'manifest.json');
      const edited = readFileSync(p, 'utf8').replace('"layer": "output"', '"layer": "nope"');
      assert.notEqual(edited, readFileSync(p, 'utf8'), 'the manifest names its layer as expected');
      writeFileSync(p, edited);
    }), '--data', EVAL], /^imagedrift: error: model\.layer: the manifest of detector .*model-layer names a layer its model lacks: no tensor named "nope" in the model; available: /);
  });

  it('convert-ckpt and --model read only regular files within maxFileBytes (a FIFO used to block, a huge file was read whole)', async () => {
    const big = join(dir, 'huge.ckpt');
    writeFileSync(big, '');
    truncateSync(big, 1.5 * 1024 ** 3); // sparse: no disk used
    const fifo = join(dir, 'pipe.ckpt');
    execFileSync('mkfifo', [fifo]);
    for (const [args, re] of [
      [['convert-ckpt', big, '--out', join(dir, 'h.onnx')], /^imagedrift: error: ckpt: .*huge\.ckpt is 1610612736 bytes \(1\.5 GiB\), more than maxFileBytes/],
      [['convert-ckpt', fifo, '--out', join(dir, 'p.onnx')], /^imagedrift: error: ckpt: .*pipe\.ckpt is not a regular file/],
      [['convert-ckpt', dir, '--out', join(dir, 'd.onnx')], /is not a regular file/],
      [['fit', '--model', fifo, '--train', EVAL, '--layer', '9', '--n-cluster', '3', '--out', join(dir, 'f1')], /not a regular file/],
    ] as [string[], RegExp][]) {
      const r = await cli(...args);
      assert.equal(r.code, 2, r.err.join('\n'));
      assert.equal(r.err.length, 1);
      assert.match(r.err[0]!, re);
    }
    rmSync(big);
    rmSync(fifo);
  });

  it('a negative value after its flag (--threshold -0.9) is the value, as --threshold=-0.9 is', async () => {
    const a = await cli('predict', msp, '--data', EVAL, '--threshold', '-0.9', '--json');
    const b = await cli('predict', msp, '--data', EVAL, '--threshold=-0.9', '--json');
    assert.equal(a.code, 0, a.err.join('\n'));
    assert.equal(JSON.parse(a.out[0]!).threshold, -0.9);
    assert.deepEqual(JSON.parse(a.out[0]!), JSON.parse(b.out[0]!));
  });

  it('fit --scale: 16-bit data is refused without it, and with it scores as the float original does', async () => {
    const a = decodeNpy(new Uint8Array(readFileSync(EVAL)));
    const u16 = npyFile(1, dict('<u2', a.shape), rawBytes('u2', Array.from(a.data, (v) => Math.round(v * 65535)), true));
    const file16 = join(dir, 'eval16.npy');
    writeFileSync(file16, u16);
    const plain = await cli('fit', '--model', MODEL, '--train', file16, '--layer', '9', '--n-cluster', '5', '--out', join(dir, 'u16-plain'));
    assert.equal(plain.code, 2);
    assert.match(plain.err[0]!, /--train: data\[0\]: sample 0 has pixel value 2313, 9\.07\d* after scaling by 0\.0039\d*, outside \[0, 1\].*--scale/);
    const args = (train: string, out: string, scale: string[]) => ['fit', '--model', MODEL, '--train', train, '--layer', '9', '--n-cluster', '5', ...scale, '--out', join(dir, out), '--json'];
    assert.equal((await cli(...args(file16, 'u16', ['--scale', String(1 / 65535)]))).code, 0);
    assert.equal((await cli(...args(EVAL, 'f32', []))).code, 0);
    const s16 = JSON.parse((await cli('predict', join(dir, 'u16'), '--data', file16, '--threshold', '0.5', '--json')).out[0]!).scores as number[];
    const s32 = JSON.parse((await cli('predict', join(dir, 'f32'), '--data', EVAL, '--threshold', '0.5', '--json')).out[0]!).scores as number[];
    assert.equal(s16.length, 100);
    assert.ok(s16.every((v, i) => Math.abs(v - s32[i]!) < 1e-3), 'rounding to 16 bits moves scores by less than 1e-3');
  });

  it('file.npz#key picks one array of a multi-array .npz (the demo archive)', async () => {
    const r = await cli('predict', msp, '--data', `${join(REPO, 'data/seed-demo.npz')}#eval`, '--json');
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(JSON.parse(r.out[0]!).result.length, 100);
  });

  it("--detector auto accepts the tutorial's layer spelling 'output[:Tensor]'; --help prints usage and exits 0", async () => {
    const r = await cli('fit', '--model', MODEL, '--train', EVAL, '--layer', 'output[:Tensor]', '--detector', 'auto', '--out', join(dir, 'auto'), '--json');
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(JSON.parse(r.out[0]!).kind, 'msp');
    const h = await cli('fit', '--help');
    assert.equal(h.code, 0);
    assert.match(h.out.join('\n'), /^usage:/);
  });
});
