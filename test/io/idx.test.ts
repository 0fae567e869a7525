import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gunzipSync, gzipSync } from 'fflate';
import { decodeIdx } from '../../src/io/idx.js';
import { DATASETS } from '../helpers/paths.js';
import { throwsInput } from './assert-input.js';

const MNIST = join(DATASETS, 'mnist');

/** An IDX file: magic, big-endian dims, then `data` as given. */
function idxFile(code: number, dims: readonly number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const dv = new DataView(out.buffer);
  out.set([0, 0, code, dims.length]);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

function bigEndian(kind: 'i8' | 'i16' | 'i32' | 'f32' | 'f64', values: readonly number[]): Uint8Array {
  const size = { i8: 1, i16: 2, i32: 4, f32: 4, f64: 8 }[kind];
  const dv = new DataView(new ArrayBuffer(values.length * size));
  values.forEach((v, i) => {
    if (kind === 'i8') dv.setInt8(i, v);
    else if (kind === 'i16') dv.setInt16(2 * i, v, false);
    else if (kind === 'i32') dv.setInt32(4 * i, v, false);
    else if (kind === 'f32') dv.setFloat32(4 * i, v, false);
    else dv.setFloat64(8 * i, v, false);
  });
  return new Uint8Array(dv.buffer);
}

describe('decodeIdx on MNIST', () => {
  it('t10k images: 10000×28×28 uint8, equal to the raw bytes', () => {
    const gz = new Uint8Array(readFileSync(join(MNIST, 't10k-images-idx3-ubyte.gz')));
    const a = decodeIdx(gz);
    assert.deepEqual(a.shape, [10000, 28, 28]);
    assert.equal(a.dtype, 'uint8');
    assert.equal(a.layout, undefined);
    const raw = gunzipSync(gz);
    for (const i of [0, 202, 7_839_999, 5_000_123]) assert.equal(a.data[i], raw[16 + i]);
    let max = 0;
    for (const v of a.data) if (v > max) max = v;
    assert.equal(max, 255);
  });

  it('t10k labels: 10000 labels starting 7 2 1 0 4, with the published class counts', () => {
    const a = decodeIdx(new Uint8Array(readFileSync(join(MNIST, 't10k-labels-idx1-ubyte.gz'))));
    assert.deepEqual(a.shape, [10000]);
    assert.equal(a.dtype, 'uint8');
    assert.deepEqual(Array.from(a.data.subarray(0, 5)), [7, 2, 1, 0, 4]);
    const counts = new Array<number>(10).fill(0);
    for (const v of a.data) counts[v]!++;
    assert.deepEqual(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
  });

  it('train images decode to 60000×28×28 with the last byte in place', () => {
    const gz = new Uint8Array(readFileSync(join(MNIST, 'train-images-idx3-ubyte.gz')));
    const raw = gunzipSync(gz);
    const a = decodeIdx(raw);
    assert.deepEqual(a.shape, [60000, 28, 28]);
    assert.equal(a.data.length, 47_040_000);
    assert.equal(a.data[47_040_000 - 1], raw[raw.length - 1]);
    assert.equal(a.data[1000], raw[16 + 1000]);
  });
});

describe('decodeIdx type codes', () => {
  const cases: [number, string, Uint8Array, number[]][] = [
    [0x08, 'uint8', new Uint8Array([0, 1, 255, 128]), [0, 1, 255, 128]],
    [0x09, 'int8', bigEndian('i8', [0, -1, -128, 127]), [0, -1, -128, 127]],
    [0x0b, 'int16', bigEndian('i16', [0, -1, -32768, 258]), [0, -1, -32768, 258]],
    [0x0c, 'int32', bigEndian('i32', [0, -1, 2147483647, 16909060]), [0, -1, Math.fround(2147483647), 16909060]],
    [0x0d, 'float32', bigEndian('f32', [0, -1.5, 3.25, 1e-3]), [0, -1.5, 3.25, Math.fround(1e-3)]],
    [0x0e, 'float64', bigEndian('f64', [0, -1.5, 3.25, 0.1]), [0, -1.5, 3.25, Math.fround(0.1)]],
  ];
  for (const [code, dtype, data, expected] of cases) {
    it(`0x${code.toString(16).padStart(2, '0')} ${dtype}, plain and gzipped`, () => {
      const file = idxFile(code, [2, 2], data);
      for (const bytes of [file, gzipSync(file)]) {
        const a = decodeIdx(bytes);
        assert.equal(a.dtype, dtype);
        assert.deepEqual(a.shape, [2, 2]);
        assert.deepEqual(Array.from(a.data), expected);
      }
    });
  }
});

describe('decodeIdx errors', () => {
  const good = idxFile(0x08, [2, 3], new Uint8Array(6));

  it('rejects a bad magic', () => {
    throwsInput(() => decodeIdx(new Uint8Array([0x01, 0x00, 0x08, 0x01, 0, 0, 0, 0])), 'idx.magic', /not an IDX file/, /0x01 0x00/);
    throwsInput(() => decodeIdx(new Uint8Array([0, 0])), 'idx.magic', /truncated: 2 bytes/);
  });

  it('names an unknown type code', () => {
    throwsInput(() => decodeIdx(idxFile(0x0a, [1], new Uint8Array(1))), 'idx.type', /unknown type code 0x0a at byte 2/, /0x08 uint8/);
  });

  it('rejects rank 0 and a truncated dimension list', () => {
    throwsInput(() => decodeIdx(new Uint8Array([0, 0, 8, 0])), 'idx.ndim', /rank 0/);
    throwsInput(() => decodeIdx(good.subarray(0, 9)), 'idx.dims', /2 dimensions need a header of 12 bytes/, /has 9/);
  });

  it('gives expected and actual byte counts for truncated or overlong data', () => {
    throwsInput(() => decodeIdx(good.subarray(0, 15)), 'idx.data', /need 6 data bytes from byte 12/, /there are 3/, /truncated/);
    const long = new Uint8Array(good.length + 2);
    long.set(good);
    throwsInput(() => decodeIdx(long), 'idx.data', /2 extra bytes/);
    const i32 = idxFile(0x0c, [3], new Uint8Array(10));
    throwsInput(() => decodeIdx(i32, 'labels'), 'labels.data', /dims \[3\] of int32 need 12 data bytes/, /there are 10/);
  });

  it('says when offsets refer to gunzipped data, and rejects corrupt gzip', () => {
    throwsInput(() => decodeIdx(gzipSync(good.subarray(0, 15))), 'idx.data', /from byte 12 of the gunzipped data/);
    const gz = gzipSync(new Uint8Array(1000).fill(7));
    throwsInput(() => decodeIdx(gz.subarray(0, 12)), 'idx', /corrupt or truncated gzip/);
  });
});
