import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeCifarBin } from '../../src/io/cifar.js';
import { DATASETS } from '../helpers/paths.js';
import { throwsInput } from './assert-input.js';

function records(labels: readonly number[]): Uint8Array {
  const out = new Uint8Array(labels.length * 3073);
  labels.forEach((l, i) => {
    out[i * 3073] = l;
    for (let p = 0; p < 3072; p++) out[i * 3073 + 1 + p] = (p + i) % 256;
  });
  return out;
}

describe('decodeCifarBin', () => {
  it('decodes test_batch.bin: 10000 records, 1000 per class, NCHW', () => {
    const bytes = new Uint8Array(readFileSync(join(DATASETS, 'cifar-10', 'test_batch.bin')));
    const a = decodeCifarBin(bytes);
    assert.deepEqual(a.shape, [10000, 3, 32, 32]);
    assert.equal(a.dtype, 'uint8');
    assert.equal(a.layout, 'NCHW');
    const counts = new Array<number>(10).fill(0);
    for (const l of a.labels!) counts[l]!++;
    assert.deepEqual(counts, new Array(10).fill(1000));
    for (const i of [0, 1, 9999]) assert.equal(a.labels![i], bytes[i * 3073]);
    // Record 1, blue plane, last pixel.
    assert.equal(a.data[3072 + 3071], bytes[3073 + 3072]);
    assert.equal(a.data[0], bytes[1]);
  });

  it('lays out the red, green and blue planes of each record in order', () => {
    const a = decodeCifarBin(records([3, 9]));
    assert.deepEqual(Array.from(a.labels!), [3, 9]);
    assert.equal(a.data[0], 0);
    assert.equal(a.data[1024], 1024 % 256); // first green pixel of record 0
    assert.equal(a.data[3072 + 2048 + 5], (2048 + 5 + 1) % 256); // blue plane of record 1
  });

  it('says how many trailing bytes there are when the length is not a multiple of 3073', () => {
    const bytes = new Uint8Array(3073 * 2 + 5);
    throwsInput(() => decodeCifarBin(bytes), 'cifar.length', /6151 bytes/, /2 whole records and 5 trailing bytes from byte 6146/);
    throwsInput(() => decodeCifarBin(new Uint8Array(100), 'batch.bin'), 'batch.bin.length', /0 whole records and 100 trailing bytes/);
  });

  it('names the record whose label is above 9', () => {
    throwsInput(() => decodeCifarBin(records([1, 10, 2])), 'cifar.labels[1]', /label 10 at byte 3073/, /0-9/);
  });

  it('rejects an empty file', () => {
    throwsInput(() => decodeCifarBin(new Uint8Array(0)), 'cifar', /empty/);
  });
});
