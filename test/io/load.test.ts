import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync, zipSync } from 'fflate';
import sharp from 'sharp';
import { decodeBytes, decodeLabels, loadData, loadLabels, sniffFormat, SUPPORTED_FORMATS } from '../../src/io/load.js';
import { DATASETS, SEED } from '../helpers/paths.js';
import { rejectsInput, throwsInput } from './assert-input.js';
import { dict, npyFile, rawBytes } from './build-npy.js';

const npy = npyFile(1, dict('<f4', [2, 2]), rawBytes('f4', [1, 2, 3, 4], true));
const idx = new Uint8Array([0, 0, 0x08, 1, 0, 0, 0, 3, 5, 6, 7]);

describe('loadData on real files', () => {
  it('loads the seed .npy', async () => {
    const a = await loadData(join(SEED, 'concept_test_lenet1.npy'));
    assert.deepEqual(a.shape, [100, 1, 32, 32]);
    assert.equal(a.dtype, 'float32');
  });

  it('loads gzipped MNIST IDX', async () => {
    const a = await loadData(join(DATASETS, 'mnist', 't10k-labels-idx1-ubyte.gz'));
    assert.deepEqual(a.shape, [10000]);
    assert.deepEqual(Array.from(a.data.subarray(0, 5)), [7, 2, 1, 0, 4]);
  });

  it('loads CIFAR-10 binary by its .bin extension', async () => {
    const a = await loadData(join(DATASETS, 'cifar-10', 'test_batch.bin'));
    assert.deepEqual(a.shape, [10000, 3, 32, 32]);
    assert.equal(a.layout, 'NCHW');
    assert.equal(a.labels!.length, 10000);
  });

  it('decodes a float32 .npy file in place: the data is a view of the file read, not a copy of it', async () => {
    const path = join(SEED, 'concept_test_lenet1.npy');
    const a = await loadData(path);
    const file = await readFile(path);
    assert.equal(a.data.buffer.byteLength, file.byteLength); // the whole file, header included: no second buffer
    assert.deepEqual(new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength), new Uint8Array(file.buffer, file.byteOffset + file.byteLength - a.data.byteLength, a.data.byteLength));
  });

  it('reports a missing path', async () => {
    await rejectsInput(loadData('/nonexistent/imagedrift/x.npy'), 'path', /no such file or directory: \/nonexistent/);
  });
});

describe('decodeBytes format sniffing', () => {
  it('detects formats by magic bytes whatever the name', async () => {
    assert.deepEqual((await decodeBytes(npy, 'data.dat')).shape, [2, 2]);
    assert.deepEqual((await decodeBytes(zipSync({ 'arr_0.npy': npy }), 'data.dat')).shape, [2, 2]);
    assert.deepEqual(Array.from((await decodeBytes(idx, 'labels')).data), [5, 6, 7]);
    assert.deepEqual(Array.from((await decodeBytes(gzipSync(idx), 'labels.dat')).data), [5, 6, 7]);
    assert.deepEqual((await decodeBytes(gzipSync(npy), 'features.npy.gz')).shape, [2, 2]);
    const png = new Uint8Array(await sharp(new Uint8Array(12).fill(9), { raw: { width: 2, height: 2, channels: 3 } }).png().toBuffer());
    const img = await decodeBytes(png, 'frame');
    assert.deepEqual(img.shape, [1, 2, 2, 3]);
    assert.equal(img.layout, 'NHWC');
  });

  it('passes npzKey to .npz archives with several arrays', async () => {
    const zip = zipSync({ 'a.npy': npy, 'b.npy': npyFile(1, dict('|u1', [1]), new Uint8Array([3])) });
    await assert.rejects(decodeBytes(zip, 'two.npz'), /holds 2 arrays/);
    assert.deepEqual(Array.from((await decodeBytes(zip, 'two.npz', { npzKey: 'b' })).data), [3]);
  });

  it('falls back to the extension: .bin is CIFAR, and .npy/-ubyte give the decoder\'s own error', async () => {
    const rec = new Uint8Array(3073);
    rec[0] = 4;
    const c = await decodeBytes(rec, 'batch.bin');
    assert.deepEqual(c.shape, [1, 3, 32, 32]);
    assert.deepEqual(Array.from(c.labels!), [4]);
    await rejectsInput(decodeBytes(new Uint8Array(10), 'x.npy'), 'x.npy.magic', /not a \.npy file/);
    await rejectsInput(decodeBytes(new Uint8Array([1, 2, 3, 4, 5]), 'train-images-idx3-ubyte'), 'train-images-idx3-ubyte.magic', /not an IDX file/);
    await rejectsInput(decodeBytes(new Uint8Array(100), 'batch.bin'), 'batch.bin.length', /100 trailing bytes/);
  });

  it('a .bin name decides before the weak IDX magic: a CIFAR batch whose first record starts 00 00 08 03 is CIFAR', async () => {
    // Record 0: label 0, then red pixels 0, 8, 3: the bytes an IDX header of rank 3 starts with.
    const bytes = new Uint8Array(2 * 3073);
    bytes.set([0, 0, 8, 3, 200]);
    bytes[3073] = 7;
    const c = await decodeBytes(bytes, 'data_batch_1.bin');
    assert.deepEqual(c.shape, [2, 3, 32, 32]);
    assert.deepEqual(Array.from(c.labels!), [0, 7]);
    assert.deepEqual(Array.from(c.data.subarray(0, 4)), [0, 8, 3, 200]);
    assert.equal(sniffFormat(bytes, 'data_batch_1.bin'), 'cifar-bin');
    // Without a .bin name the IDX magic still decides, and the strong magics still come first.
    assert.equal(sniffFormat(idx, 'labels'), 'idx');
    assert.equal(sniffFormat(idx, 'labels.dat'), 'idx');
    assert.equal(sniffFormat(npy, 'features.bin'), 'npy');
    assert.equal(sniffFormat(gzipSync(idx), 'labels.bin'), 'gzip');
  });

  it('rejects unknown formats, listing the supported ones', async () => {
    const text = new TextEncoder().encode('a,b,c\n1,2,3\n');
    await rejectsInput(decodeBytes(text, 'table.csv'), 'table.csv', /unrecognised format/, /61 2c 62 2c/, /supported formats: npy/, /npz/, /idx/, /cifar-bin/, /png/, /jpeg/);
    await rejectsInput(decodeBytes(gzipSync(text), 'table.csv.gz'), 'table.csv.gz', /gzip data holding an unrecognised format/);
    assert.deepEqual(SUPPORTED_FORMATS.map((f) => f.format), ['npy', 'npz', 'idx', 'cifar-bin', 'png', 'jpeg', 'image-folder']);
  });
});

describe('labels', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagedrift-labels-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads 0/1 labels from .npy of any numeric dtype and from JSON', async () => {
    for (const [descr, kind] of [['<i8', 'i8'], ['|u1', 'u1'], ['>f8', 'f8'], ['|b1', 'b1']] as const) {
      const bytes = npyFile(1, dict(descr, [4]), rawBytes(kind, [0, 1, 1, 0], descr[0] !== '>'));
      assert.deepEqual(decodeLabels(bytes, `l.npy`), [0, 1, 1, 0], descr);
    }
    assert.deepEqual(decodeLabels(npyFile(1, dict('<i4', [2, 1]), rawBytes('i4', [1, 0], true)), 'col.npy'), [1, 0]);
    await writeFile(join(dir, 'labels.json'), '[0, 0, 1]');
    assert.deepEqual(await loadLabels(join(dir, 'labels.json')), [0, 0, 1]);
    await writeFile(join(dir, 'labels.npy'), npyFile(1, dict('<i8', [2]), rawBytes('i8', [1, 1], true)));
    assert.deepEqual(await loadLabels(join(dir, 'labels.npy')), [1, 1]);
  });

  it('names the first value that is not 0 or 1', () => {
    throwsInput(() => decodeLabels(new TextEncoder().encode('[0, 1, 2, 0.5]'), 'l.json'), 'labels[2]', /2 in l\.json is not 0 or 1/);
    throwsInput(() => decodeLabels(new TextEncoder().encode('[0, "1"]'), 'l.json'), 'labels[1]', /"1"/);
    throwsInput(() => decodeLabels(npyFile(1, dict('<f4', [3]), rawBytes('f4', [0, 0.5, 1], true)), 'l.npy'), 'labels[1]', /0\.5/);
    throwsInput(() => decodeLabels(npyFile(1, dict('<f4', [2]), rawBytes('f4', [NaN, 1], true)), 'l.npy'), 'labels[0]', /NaN/);
  });

  it('refuses a label file larger than maxSamples labels can be, before decoding (or reading) it', async (t) => {
    const lim = { maxSamples: 100 };
    const json = new TextEncoder().encode(JSON.stringify(new Array(100_000).fill(0))); // 200,001 bytes
    const parse = t.mock.method(JSON, 'parse');
    const decode = t.mock.method(TextDecoder.prototype, 'decode');
    throwsInput(() => decodeLabels(json, 'big.json', lim), 'big.json', /is 200001 bytes .*; a file of at most maxSamples 100 labels is at most 68800 bytes .*not decoded/);
    assert.equal(parse.mock.callCount() + decode.mock.callCount(), 0, 'neither TextDecoder nor JSON.parse ran');
    const npyLabels = npyFile(1, dict('|u1', [100_000]), new Uint8Array(100_000));
    throwsInput(() => decodeLabels(npyLabels, 'big.npy', lim), 'big.npy', /maxSamples 100 labels .*not decoded/);
    await writeFile(join(dir, 'big.json'), json);
    await rejectsInput(loadLabels(join(dir, 'big.json'), lim), 'big.json', /not decoded/);
    t.mock.restoreAll();
    // Within the bound: 100 labels however they are written (floats, wide indentation, CRLF).
    const wide = JSON.stringify(new Array(100).fill(1.5), null, 20).replaceAll('1.5', '1.0').replaceAll('\n', '\r\n');
    assert.deepEqual(decodeLabels(new TextEncoder().encode(wide), 'wide.json', lim), new Array(100).fill(1));
    assert.deepEqual(decodeLabels(npyFile(1, dict('<f8', [100]), rawBytes('f8', new Array(100).fill(0), true)), 'f8.npy', lim), new Array(100).fill(0));
  });

  it('rejects malformed label files', async () => {
    throwsInput(() => decodeLabels(npyFile(1, dict('<i4', [2, 2]), rawBytes('i4', [0, 1, 1, 0], true)), 'm.npy'), 'm.npy.shape', /\[N\] or \[N,1\]/, /\[2,2\]/);
    throwsInput(() => decodeLabels(new TextEncoder().encode('{"a": 1}'), 'l.json'), 'l.json', /must be an array, got object/);
    throwsInput(() => decodeLabels(new TextEncoder().encode('[0, 1'), 'l.json'), 'l.json', /invalid JSON/);
    throwsInput(() => decodeLabels(new TextEncoder().encode('[]'), 'l.json'), 'l.json', /empty/);
    throwsInput(() => decodeLabels(new TextEncoder().encode('0 1 1'), 'l.txt'), 'l.txt', /\.npy array or a JSON array/);
    await rejectsInput(loadLabels(dir), 'path', /is a directory/);
    await rejectsInput(loadLabels(join(dir, 'missing.json')), 'path', /no such file/);
  });
});
