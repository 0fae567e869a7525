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

/** Offset of the end-of-central-directory record (no archive comment: the last 22 bytes). */
const eocdOf = (z: Uint8Array): number => z.length - 22;

describe('decodeNpz: archives numpy refuses are refused, never read as other data', () => {
  it('a member whose bytes do not match its CRC-32 (bit rot, tampering) is an error, stored or deflated', () => {
    const bad = stored.slice();
    const at = bad.indexOf(0x80, 80); // a byte of x's float data (1.0 = 00 00 80 3f)
    bad[at] ^= 0x01;
    throwsInput(() => decodeNpz(bad), 'npz[x]', /member is corrupt: its CRC-32 is 0x[0-9a-f]{8}, the archive declares 0x[0-9a-f]{8}/);
    const deflatedBad = deflated.slice();
    const crcAt = deflatedBad.length - 22 - 2 * 46 - 'x.npy'.length - 'y.npy'.length + 16; // first central entry's CRC
    deflatedBad[crcAt] ^= 0xff;
    throwsInput(() => decodeNpz(deflatedBad), 'npz[x]', /member is corrupt/);
  });

  it('two members that are the same array (x.npy and x) are an error, whatever their order', () => {
    const big = npyFile(1, dict('<f4', [3, 2]), rawBytes('f4', [1, 2, 3, 4, 5, 6], true));
    for (const z of [zipSync({ 'x.npy': x, x: big }), zipSync({ x: big, 'x.npy': x })]) {
      throwsInput(() => decodeNpz(z), 'npz[x]', /members '.*' and '.*' are both the array 'x'/);
      throwsInput(() => decodeNpz(z, 'x'), 'npz[x]', /both the array 'x'/);
    }
  });

  it('an end record that counts fewer entries than the directory holds is an error (it hid a member)', () => {
    const z = stored.slice();
    new DataView(z.buffer).setUint16(eocdOf(z) + 10, 1, true);
    new DataView(z.buffer).setUint16(eocdOf(z) + 8, 1, true);
    throwsInput(() => loadArrayFromNpz(z), 'npz', /declares 1 entries, but the central directory holds \d+ more bytes/);
  });

  it('entries that share bytes are an error (a small archive decoding to many large arrays)', () => {
    const z = stored.slice();
    const dv = new DataView(z.buffer);
    const cd = dv.getUint32(eocdOf(z) + 16, true);
    const second = cd + 46 + 'x.npy'.length;
    dv.setUint32(second + 42, 0, true); // y's local header offset → x's
    throwsInput(() => decodeNpz(z), 'npz', /entries 'x.npy' and 'y.npy' overlap/);
  });

  it('maxDecodedBytes holds for the arrays of one call together', () => {
    const a = npyFile(1, dict('|u1', [1000]), new Uint8Array(1000));
    const z = zipSync({ 'a.npy': a, 'b.npy': a });
    assert.equal(Object.keys(decodeNpz(z, undefined, 'npz', { maxDecodedBytes: 8000 })).length, 2);
    throwsInput(() => decodeNpz(z, undefined, 'npz', { maxDecodedBytes: 6000 }), 'npz', /decode to more than maxDecodedBytes .* together/);
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
