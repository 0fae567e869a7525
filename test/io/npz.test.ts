import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zipSync } from 'fflate';
import { decodeNpz, loadArrayFromNpz } from '../../src/io/npz.js';
import { throwsInput } from './assert-input.js';
import { dict, npyFile, rawBytes } from './build-npy.js';

const x = npyFile(1, dict('<f4', [2, 2]), rawBytes('f4', [1, 2, 3, 4], true));
const y = npyFile(1, dict('|u1', [3]), new Uint8Array([7, 8, 9]));
/** Like np.savez (stored) and np.savez_compressed (deflated). */
const stored = zipSync({ 'x.npy': x, 'y.npy': y }, { level: 0 });
const deflated = zipSync({ 'x.npy': x, 'y.npy': y }, { level: 9 });

describe('decodeNpz', () => {
  for (const [label, zip] of [['stored', stored], ['deflated', deflated]] as const) {
    it(`decodes every array of a ${label} archive, keyed without .npy`, () => {
      const all = decodeNpz(zip);
      assert.deepEqual(Object.keys(all).sort(), ['x', 'y']);
      assert.deepEqual(all.x!.shape, [2, 2]);
      assert.deepEqual(Array.from(all.x!.data), [1, 2, 3, 4]);
      assert.equal(all.y!.dtype, 'uint8');
      assert.deepEqual(Array.from(all.y!.data), [7, 8, 9]);
    });
  }

  it('decodes one named array, with or without the .npy suffix', () => {
    assert.deepEqual(Array.from(decodeNpz(deflated, 'y').data), [7, 8, 9]);
    assert.deepEqual(Array.from(decodeNpz(deflated, 'x.npy').data), [1, 2, 3, 4]);
  });

  it('lists the available names when the requested one is missing', () => {
    throwsInput(() => decodeNpz(deflated, 'z'), 'npz[z]', /no array named 'z'/, /available: 'x', 'y'/);
  });

  it('rejects bytes that are not a zip archive', () => {
    throwsInput(() => decodeNpz(new TextEncoder().encode('definitely not a zip file')), 'npz', /not a readable zip/);
    throwsInput(() => decodeNpz(deflated.subarray(0, 60)), 'npz', /not a readable zip/, /60 bytes/);
  });

  it('reports a broken member with the member name in the field', () => {
    const bad = zipSync({ 'x.npy': x, 'w.npy': x.subarray(0, x.length - 4) });
    throwsInput(() => decodeNpz(bad), 'npz[w].data', /needs 16 data bytes/, /has 12/);
    throwsInput(() => decodeNpz(zipSync({ 'notes.txt': new TextEncoder().encode('hi') })), 'npz[notes.txt].magic', /not a \.npy file/);
  });
});

describe('loadArrayFromNpz', () => {
  it('picks the only array of a one-array archive', () => {
    const a = loadArrayFromNpz(zipSync({ 'features.npy': x }));
    assert.deepEqual(a.shape, [2, 2]);
  });

  it('requires a key when there are several arrays, listing them', () => {
    throwsInput(() => loadArrayFromNpz(deflated), 'npz.key', /holds 2 arrays/, /'x', 'y'/);
    assert.deepEqual(Array.from(loadArrayFromNpz(deflated, 'y').data), [7, 8, 9]);
    throwsInput(() => loadArrayFromNpz(deflated, 'q', 'data.npz'), 'data.npz[q]', /available: 'x', 'y'/);
  });

  it('rejects an empty archive', () => {
    throwsInput(() => loadArrayFromNpz(zipSync({})), 'npz', /no arrays/);
  });
});
