import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { adoptNpy, decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { SEED } from '../helpers/paths.js';
import { throwsInput } from './assert-input.js';
import { dict, npyFile, rawBytes } from './build-npy.js';

describe('decodeNpy on the seed example files', () => {
  const cases: [string, number][] = [
    ['concept_train_lenet.npy', 1000],
    ['concept_test_lenet1.npy', 100],
    ['concept_test_lenet2.npy', 400],
  ];
  for (const [file, n] of cases) {
    it(`${file} is ${n}×1×32×32 float32 in [0,1]`, () => {
      const bytes = new Uint8Array(readFileSync(join(SEED, file)));
      const a = decodeNpy(bytes);
      assert.deepEqual(a.shape, [n, 1, 32, 32]);
      assert.equal(a.dtype, 'float32');
      assert.equal(a.data.length, n * 1024);
      let min = Infinity;
      let max = -Infinity;
      for (const v of a.data) { if (v < min) min = v; if (v > max) max = v; }
      assert.ok(min >= 0 && max <= 1, `range [${min}, ${max}]`);
      assert.ok(max > 0.5, 'images are not blank');
      // Spot-check against the raw little-endian floats after the 128-byte header.
      const dv = new DataView(bytes.buffer, bytes.byteOffset);
      for (const i of [0, 517, n * 1024 - 1]) assert.equal(a.data[i], dv.getFloat32(128 + 4 * i, true));
    });
  }
});

describe('decodeNpy dtypes and byte orders', () => {
  const values: Record<string, number[]> = {
    f4: [0, 1.5, -2.25, 3.4028234663852886e38, 1e-20],
    f8: [0, 1.5, -2.25, 1e100, 0.1],
    u1: [0, 1, 128, 255],
    i1: [0, -1, -128, 127],
    b1: [0, 1, 1, 0],
    u2: [0, 1, 65535, 258],
    i2: [0, -1, -32768, 32767, 258],
    u4: [0, 1, 4294967295, 16909060],
    i4: [0, -1, -2147483648, 2147483647, 16909060],
    u8: [0, 1, 2 ** 40, 2 ** 53],
    i8: [0, -1, -(2 ** 40), 2 ** 50, 300],
  };
  const expectedDtype: Record<string, string> = {
    f2: 'float16', f4: 'float32', f8: 'float64', u1: 'uint8', i1: 'int8', b1: 'bool', u2: 'uint16', i2: 'int16',
    u4: 'uint32', i4: 'int32', u8: 'uint64', i8: 'int64',
  };
  for (const version of [1, 2, 3] as const) {
    for (const [kind, vals] of Object.entries(values)) {
      const orders = Number(kind.slice(1)) === 1 ? ['|'] : ['<', '>'];
      for (const order of orders) {
        it(`v${version}.0 ${order}${kind}`, () => {
          const bytes = npyFile(version, dict(order + kind, [vals.length]), rawBytes(kind, vals, order !== '>'));
          const a = decodeNpy(bytes);
          assert.equal(a.dtype, expectedDtype[kind]);
          assert.deepEqual(a.shape, [vals.length]);
          assert.deepEqual(Array.from(a.data), vals.map((v) => Math.fround(v)));
        });
      }
    }
    // float16 given as bit patterns: 1, -2, 0.5, 65504 (max), 2^-24 (smallest subnormal), +inf, -0.
    const halfBits = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00, 0x8000];
    const halfValues = [1, -2, 0.5, 65504, 2 ** -24, Infinity, -0];
    for (const order of ['<', '>']) {
      it(`v${version}.0 ${order}f2`, () => {
        const a = decodeNpy(npyFile(version, dict(`${order}f2`, [7]), rawBytes('f2', halfBits, order === '<')));
        assert.equal(a.dtype, 'float16');
        assert.deepEqual(Array.from(a.data), halfValues);
        assert.ok(Object.is(a.data[6], -0));
      });
    }
    it(`v${version}.0 half NaN`, () => {
      const a = decodeNpy(npyFile(version, dict('<f2', [1]), rawBytes('f2', [0x7e00], true)));
      assert.ok(Number.isNaN(a.data[0]));
    });
  }

  it('accepts "=" (native), "?" (bool), double quotes and odd spacing; refuses extra keys and a __proto__ key, as numpy does', () => {
    const header = `{ "descr" : "=i4" ,"fortran_order":False,  'shape':(2 ,2) }`;
    const a = decodeNpy(npyFile(1, header, rawBytes('i4', [1, 2, 3, 4], true)));
    assert.deepEqual(Array.from(a.data), [1, 2, 3, 4]);
    throwsInput(() => decodeNpy(npyFile(1, `{ "descr" : "=i4" ,"fortran_order":False,  'shape':(2 ,2),'extra': [1, 'x', None] }`, rawBytes('i4', [1, 2, 3, 4], true))), 'npy.header', /unexpected key "extra"/);
    // A '__proto__' key holding the three keys used to satisfy the check through the prototype chain.
    throwsInput(() => decodeNpy(npyFile(1, `{'__proto__': {'descr': '<f4', 'fortran_order': False, 'shape': (1,)}}`, new Uint8Array(4))), 'npy.header.descr', /missing from the header dict/);
    const b = decodeNpy(npyFile(1, dict('|?', [3]), new Uint8Array([1, 0, 1])));
    assert.equal(b.dtype, 'bool');
    assert.deepEqual(Array.from(b.data), [1, 0, 1]);
  });

  it('decodes a scalar (shape ()) and an empty array (shape (0, 3))', () => {
    const s = decodeNpy(npyFile(1, `{'descr': '<f8', 'fortran_order': False, 'shape': (), }`, rawBytes('f8', [2.5], true)));
    assert.deepEqual(s.shape, []);
    assert.deepEqual(Array.from(s.data), [2.5]);
    const e = decodeNpy(npyFile(1, dict('<f4', [0, 3]), new Uint8Array(0)));
    assert.deepEqual(e.shape, [0, 3]);
    assert.equal(e.data.length, 0);
  });

  it('reads a v3.0 header as UTF-8 text', () => {
    const a = decodeNpy(npyFile(3, `{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }`, rawBytes('f4', [1, 2], true)));
    assert.deepEqual(Array.from(a.data), [1, 2]);
    // The UTF-8 is decoded (the dtype is named as written), not read as latin1 bytes.
    throwsInput(() => decodeNpy(npyFile(3, `{'descr': 'café ✓', 'fortran_order': False, 'shape': (2,), }`, new Uint8Array(8))), 'npy.header.descr', /café ✓/);
  });

  it('decodes data at a misaligned byte offset', () => {
    const file = npyFile(1, dict('<f4', [3]), rawBytes('f4', [1, 2, 3], true));
    const shifted = new Uint8Array(file.length + 1);
    shifted.set(file, 1);
    const a = decodeNpy(shifted.subarray(1));
    assert.deepEqual(Array.from(a.data), [1, 2, 3]);
  });
});

describe('adoptNpy: the caller hands its bytes over', () => {
  it('returns native-endian aligned float32 data as a view of the bytes; decodeNpy copies them', () => {
    const bytes = npyFile(1, dict('<f4', [3]), rawBytes('f4', [1.5, -2, 3], true));
    const adopted = adoptNpy(bytes);
    const copied = decodeNpy(bytes);
    assert.equal(adopted.data.buffer, bytes.buffer);
    assert.notEqual(copied.data.buffer, bytes.buffer);
    assert.deepEqual(adopted, copied);
  });

  it('still copies what a view cannot hold: big-endian float32, a misaligned start, other dtypes', () => {
    const be = npyFile(1, dict('>f4', [2]), rawBytes('f4', [1.5, -2], false));
    const le = npyFile(1, dict('<f4', [2]), rawBytes('f4', [1.5, -2], true));
    const shifted = new Uint8Array(le.length + 1);
    shifted.set(le, 1);
    const f8 = npyFile(1, dict('<f8', [2]), rawBytes('f8', [1.5, -2], true));
    for (const bytes of [be, shifted.subarray(1, 1 + le.length), f8]) {
      const a = adoptNpy(bytes);
      assert.notEqual(a.data.buffer, bytes.buffer);
      assert.deepEqual(Array.from(a.data), [1.5, -2]);
    }
  });
});

describe('decodeNpy Fortran order', () => {
  it('transposes a 2×3 column-major matrix to row-major', () => {
    // C order [[1,2,3],[4,5,6]] stored column by column.
    const a = decodeNpy(npyFile(1, dict('<f4', [2, 3], true), rawBytes('f4', [1, 4, 2, 5, 3, 6], true)));
    assert.deepEqual(a.shape, [2, 3]);
    assert.deepEqual(Array.from(a.data), [1, 2, 3, 4, 5, 6]);
  });

  it('transposes a 2×3×4 big-endian int16 array', () => {
    const [I, J, K] = [2, 3, 4];
    const fortran: number[] = [];
    for (let k = 0; k < K; k++) for (let j = 0; j < J; j++) for (let i = 0; i < I; i++) fortran.push(100 * i + 10 * j + k);
    const a = decodeNpy(npyFile(2, dict('>i2', [I, J, K], true), rawBytes('i2', fortran, false)));
    const c: number[] = [];
    for (let i = 0; i < I; i++) for (let j = 0; j < J; j++) for (let k = 0; k < K; k++) c.push(100 * i + 10 * j + k);
    assert.deepEqual(a.shape, [I, J, K]);
    assert.deepEqual(Array.from(a.data), c);
  });

  it('leaves rank-1 Fortran arrays and arrays with a zero dimension as they are', () => {
    const a = decodeNpy(npyFile(1, dict('<f4', [3], true), rawBytes('f4', [1, 2, 3], true)));
    assert.deepEqual(Array.from(a.data), [1, 2, 3]);
    const e = decodeNpy(npyFile(1, dict('<f4', [3, 0], true), new Uint8Array(0)));
    assert.deepEqual(e.shape, [3, 0]);
  });
});

describe('decodeNpy errors', () => {
  const good = npyFile(1, dict('<f4', [2, 2]), rawBytes('f4', [1, 2, 3, 4], true));

  it('rejects a bad magic string, showing the bytes found', () => {
    throwsInput(() => decodeNpy(new TextEncoder().encode('hello world, not numpy')), 'npy.magic', /not a \.npy file/, /68 65 6c 6c 6f 20/);
    throwsInput(() => decodeNpy(new Uint8Array(0)), 'npy.magic', /bytes 0-5 are \[\]/);
  });

  it('rejects a truncated header', () => {
    throwsInput(() => decodeNpy(good.subarray(0, 9)), 'npy.header', /truncated/, /9 bytes/);
    throwsInput(() => decodeNpy(good.subarray(0, 50)), 'npy.header', /truncated/, /declares 118 bytes from byte 10/, /only 50 bytes/);
  });

  it('rejects unknown format versions', () => {
    const bad = good.slice();
    bad[6] = 4;
    throwsInput(() => decodeNpy(bad), 'npy.version', /version 4\.0/, /byte 6/);
  });

  it('names unsupported dtypes', () => {
    throwsInput(() => decodeNpy(npyFile(1, dict('<c8', [1]), new Uint8Array(8))), 'npy.header.descr', /'<c8'/, /complex/, /supported: <f2/);
    throwsInput(() => decodeNpy(npyFile(1, dict('<U5', [1]), new Uint8Array(20))), 'npy.header.descr', /'<U5'/, /unicode/);
    throwsInput(() => decodeNpy(npyFile(1, dict('<f16', [1]), new Uint8Array(16))), 'npy.header.descr', /unsupported dtype '<f16'/);
    throwsInput(() => decodeNpy(npyFile(1, dict('|i4', [1]), new Uint8Array(4))), 'npy.header.descr', /no byte order/);
  });

  it('rejects object and structured dtypes', () => {
    throwsInput(() => decodeNpy(npyFile(1, dict('|O', [2]), new Uint8Array(16))), 'npy.header.descr', /'\|O'/, /object arrays/);
    const structured = `{'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, 'shape': (1,), }`;
    throwsInput(() => decodeNpy(npyFile(1, structured, new Uint8Array(8))), 'npy.header.descr', /structured/);
  });

  it('gives expected and actual byte counts when the data is short or long', () => {
    throwsInput(() => decodeNpy(good.subarray(0, good.length - 3)), 'npy.data', /needs 16 data bytes from byte 128/, /has 13/, /truncated/);
    const long = new Uint8Array(good.length + 5);
    long.set(good);
    throwsInput(() => decodeNpy(long), 'npy.data', /needs 16 data bytes/, /has 21/, /5 extra bytes/);
  });

  it('rejects malformed header dicts with the byte offset', () => {
    throwsInput(() => decodeNpy(npyFile(1, `{'descr': '<f4', 'fortran_order': False}`, new Uint8Array(0))), 'npy.header.shape', /missing/);
    throwsInput(() => decodeNpy(npyFile(1, `{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }`, new Uint8Array(0))), 'npy.header.shape[1]', /non-negative integer/, /-1/);
    throwsInput(() => decodeNpy(npyFile(1, `{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }`, new Uint8Array(4))), 'npy.header.fortran_order', /True or False/);
    throwsInput(() => decodeNpy(npyFile(1, `{'descr': '<f4' 'shape': (1,)}`, new Uint8Array(4))), 'npy.header', /expected ',' or '}'/, /at byte 26/);
    throwsInput(() => decodeNpy(npyFile(1, `{'descr': '<f4', 'shape': (1,`, new Uint8Array(4))), 'npy.header', /ends inside/);
    throwsInput(() => decodeNpy(npyFile(1, `__import__('os')`, new Uint8Array(0))), 'npy.header', /unexpected '_' at byte 10/);
    throwsInput(() => decodeNpy(npyFile(1, `[1, 2]`, new Uint8Array(0))), 'npy.header', /not a dict/);
  });

  it('uses the given field name', () => {
    throwsInput(() => decodeNpy(good.subarray(0, good.length - 1), 'features.npy'), 'features.npy.data', /needs 16/);
  });
});

describe('encodeNpy', () => {
  it('writes a numpy-compatible v1.0 header, data aligned to 64 bytes', () => {
    const bytes = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3], 'float32');
    const header = new TextDecoder('latin1').decode(bytes.subarray(10, 128));
    assert.equal(bytes[6], 1);
    assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
    assert.equal(bytes.length, 128 + 24);
    assert.match(new TextDecoder().decode(encodeNpy(new Uint8Array([7]), [1], 'uint8').subarray(10, 128)), /'\|u1'.*'shape': \(1,\)/);
  });

  it('checks the data length and uint8 range', () => {
    throwsInput(() => encodeNpy(new Float32Array(5), [2, 3], 'float32'), 'data', /length 5/, /6 elements/);
    throwsInput(() => encodeNpy(new Float32Array([1, 256]), [2], 'uint8'), 'data[1]', /256/, /0\.\.255/);
    throwsInput(() => encodeNpy(new Float32Array([0.5]), [1], 'uint8'), 'data[0]', /0\.5/);
    throwsInput(() => encodeNpy(new Float32Array(1), [1.5], 'float32'), 'shape[0]', /1\.5/);
  });

  it('round-trips random shapes and data (property)', () => {
    const shapeArb = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 4 });
    fc.assert(
      fc.property(
        shapeArb.chain((shape) => {
          const n = shape.reduce((a, b) => a * b, 1);
          return fc.tuple(fc.constant(shape), fc.float32Array({ minLength: n, maxLength: n }), fc.uint8Array({ minLength: n, maxLength: n }));
        }),
        ([shape, f32, u8]) => {
          const a = decodeNpy(encodeNpy(f32, shape, 'float32'));
          assert.deepEqual(a.shape, shape);
          assert.equal(a.dtype, 'float32');
          assert.equal(a.data.length, f32.length);
          for (let i = 0; i < f32.length; i++) assert.ok(Object.is(a.data[i], f32[i]), `element ${i}`);
          const b = decodeNpy(encodeNpy(u8, shape, 'uint8'));
          assert.deepEqual(b.shape, shape);
          assert.equal(b.dtype, 'uint8');
          assert.deepEqual(Array.from(b.data), Array.from(u8));
          const c = decodeNpy(encodeNpy(Float32Array.from(u8), shape, 'uint8'));
          assert.deepEqual(Array.from(c.data), Array.from(u8));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('switches to format 2.0 when the header does not fit in 65535 bytes', () => {
    const shape = Array.from({ length: 30000 }, () => 1);
    const bytes = encodeNpy(new Float32Array([42]), shape, 'float32');
    assert.equal(bytes[6], 2);
    // Such a header is beyond the default limits (maxHeaderBytes, maxRank); lifted here to test the format itself.
    throwsInput(() => decodeNpy(bytes), 'npy.header', /more than maxHeaderBytes 65536/);
    const a = decodeNpy(bytes, 'npy', { maxHeaderBytes: Infinity, maxRank: Infinity });
    assert.equal(a.shape.length, 30000);
    assert.deepEqual(Array.from(a.data), [42]);
  });
});
