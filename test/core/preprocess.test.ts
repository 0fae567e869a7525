import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { defaultPreprocess, resizeBilinear, toModelInput } from '../../src/core/preprocess.js';
import type { DecodedArray } from '../../src/core/tensor.js';
import { decodeNpy } from '../../src/io/npy.js';
import { SEED } from '../helpers/paths.js';

const lenet = defaultPreprocess({ channels: 1, height: 32, width: 32 });
const isInput = (field: RegExp | string, msg?: RegExp) => (e: unknown) =>
  e instanceof InputError && (typeof field === 'string' ? e.field === field : field.test(e.field ?? '')) && (!msg || msg.test(e.message));

describe('toModelInput', () => {
  it('passes the tutorial arrays (1×32×32 float in [0,1]) through unchanged', () => {
    const a = decodeNpy(new Uint8Array(readFileSync(join(SEED, 'concept_test_lenet1.npy'))));
    const t = toModelInput(a, lenet);
    assert.deepEqual(t.shape, [100, 1, 32, 32]);
    assert.deepEqual(t.data, a.data);
  });

  it('resizes 28×28 uint8 to 32×32 and scales by 1/255', () => {
    const data = new Float32Array(2 * 28 * 28).fill(255);
    const t = toModelInput({ data, shape: [2, 28, 28], dtype: 'uint8' }, lenet);
    assert.deepEqual(t.shape, [2, 1, 32, 32]);
    assert.ok(t.data.every((v) => Math.abs(v - 1) < 1e-6));
  });

  it('converts RGB to grey with BT.601 weights, in NCHW and NHWC', () => {
    const nchw: DecodedArray = { data: Float32Array.from([...new Array(1024).fill(255), ...new Array(1024).fill(0), ...new Array(1024).fill(0)]), shape: [1, 3, 32, 32], dtype: 'uint8' };
    assert.ok(Math.abs(toModelInput(nchw, lenet).data[5]! - 0.299) < 1e-6);
    const nhwc: DecodedArray = { data: Float32Array.from({ length: 3072 }, (_, i) => (i % 3 === 1 ? 255 : 0)), shape: [1, 32, 32, 3], dtype: 'uint8' };
    assert.ok(Math.abs(toModelInput(nhwc, lenet).data[7]! - 0.587) < 1e-6);
  });

  it('bilinear upsampling uses half-pixel centres (2→4 matches OpenCV/PIL)', () => {
    const out = new Float32Array(4);
    resizeBilinear(Float32Array.from([0, 1]), 1, 2, out, 1, 4);
    assert.deepEqual(Array.from(out), [0, 0.25, 0.75, 1]);
  });

  it('never guesses an ambiguous layout', () => {
    const a: DecodedArray = { data: new Float32Array(3 * 32 * 3), shape: [1, 3, 32, 3], dtype: 'float32' };
    // The error says where a layout can be stated: at fit (predict takes none; the detector records it).
    assert.throws(() => toModelInput(a, lenet), isInput('data', /ambiguous .*fit the detector with layout NCHW or NHWC \(CLI: fit --layout\)/));
    assert.doesNotThrow(() => toModelInput(a, { ...lenet, layout: 'NHWC' }));
  });

  it('a layout recorded at fit settles only ambiguous shapes: later data in the other layout is read off its shape', () => {
    const nchw: DecodedArray = { data: Float32Array.from({ length: 1024 }, (_, i) => (i % 7) / 7), shape: [1, 1, 32, 32], dtype: 'float32' };
    const nhwc: DecodedArray = { data: nchw.data, shape: [1, 32, 32, 1], dtype: 'float32' };
    const fittedNhwc = { ...lenet, layout: 'NHWC' as const };
    // Once "layout NHWC gives 32 channels": the fit-time layout was forced onto unambiguous NCHW data.
    assert.deepEqual(toModelInput(nchw, fittedNhwc).data, toModelInput(nhwc, fittedNhwc).data);
    assert.deepEqual(toModelInput(nchw, fittedNhwc).data, nchw.data);
  });

  it('refuses a rank-3 H×W×C image instead of reading it as H strips W pixels wide', () => {
    const hwc: DecodedArray = { data: new Float32Array(32 * 32 * 3), shape: [32, 32, 3], dtype: 'float32' };
    assert.throws(() => toModelInput(hwc, lenet), isInput('data', /ambiguous.*batch axis/));
    assert.deepEqual(toModelInput({ ...hwc, shape: [1, 32, 32, 3] }, lenet).shape, [1, 1, 32, 32]);
    // Ordinary N×H×W grey batches are unaffected (28×28 MNIST, 32×32 tutorial arrays).
    assert.deepEqual(toModelInput({ data: new Float32Array(5 * 28 * 28), shape: [5, 28, 28], dtype: 'uint8' }, lenet).shape, [5, 1, 32, 32]);
  });

  it('bool arrays are masks: true is 1.0, not 1/255', () => {
    const mask: DecodedArray = { data: Float32Array.from({ length: 1024 }, (_, i) => i % 2), shape: [1, 32, 32], dtype: 'bool' };
    assert.deepEqual(toModelInput(mask, lenet).data, mask.data);
  });

  it('rejects wrong rank, empty arrays, bad channel counts, NaN/Inf and out-of-range floats, naming the sample', () => {
    assert.throws(() => toModelInput({ data: new Float32Array(4), shape: [4], dtype: 'float32' }, lenet), isInput('data', /rank/));
    assert.throws(() => toModelInput({ data: new Float32Array(0), shape: [0, 32, 32], dtype: 'float32' }, lenet), isInput('data', /empty/));
    assert.throws(() => toModelInput({ data: new Float32Array(2 * 32 * 32), shape: [1, 2, 32, 32], dtype: 'float32' }, { ...lenet, layout: 'NCHW' }), isInput('data', /channel/));
    const nan = new Float32Array(2 * 1024);
    nan[1024 + 5] = Number.NaN;
    assert.throws(() => toModelInput({ data: nan, shape: [2, 1, 32, 32], dtype: 'float32' }, lenet), isInput('data[1]', /NaN/));
    const inf = new Float32Array(1024);
    inf[0] = Infinity;
    assert.throws(() => toModelInput({ data: inf, shape: [1, 32, 32], dtype: 'float32' }, lenet), isInput('data[0]', /infinite/));
    const big = new Float32Array(1024).fill(255);
    assert.throws(() => toModelInput({ data: big, shape: [1, 32, 32], dtype: 'float32' }, lenet), isInput('data[0]', /outside \[0, 1\]/));
  });
});

describe('error order and values', () => {
  const arr = (shape: number[], data: Float32Array | Uint8Array, dtype: DecodedArray['dtype'] = 'float32'): DecodedArray => ({ shape, data, dtype }) as DecodedArray;
  const fails = (a: DecodedArray, re: RegExp) => assert.throws(() => toModelInput(a, lenet), (e: unknown) => e instanceof InputError && re.test(e.message), String(re));

  it('a shape that does not match the data, or is not integers, is named before any layout or channel question', () => {
    fails(arr([2, 2, 32, 32], new Float32Array(10)), /holds 10 values but its shape \[2,2,32,32\] needs 4096/);
    fails(arr([2, 1.5, 32, 32], new Float32Array(10)), /needs non-negative integer sizes/);
    fails(arr([2, 1, -1, 32], new Float32Array(10)), /needs non-negative integer sizes/);
  });

  it('an out-of-range value is reported as stored and as scaled; for RGB into a grey model, as the BT.601 grey value', () => {
    // uint16-like values in a float array, scale 1: stored 2 → 2 after scaling.
    fails(arr([1, 1, 32, 32], Float32Array.from({ length: 1024 }, (_, i) => (i === 5 ? 2 : 0))), /sample 0 has pixel value 2, 2 after scaling by 1, outside \[0, 1\]/);
    // An RGB pixel (2, 2, 2) converts to grey 0.299·2 + 0.587·2 + 0.114·2 = 2 (up to rounding).
    const rgb = new Float32Array(3 * 1024);
    for (const c of [0, 1, 2]) rgb[c * 1024 + 7] = 2;
    fails(arr([1, 3, 32, 32], rgb), /sample 0 has grey value \(BT\.601 of R, G, B\) (2|1\.9999\d*), (2|1\.9999\d*) after scaling by 1, outside \[0, 1\]/);
  });
});

describe('the batch fill is bit for bit the plain per-plane resize', () => {
  /** The reference: gather each channel (scaled, as float32), then resizeBilinear, the straightforward way. */
  const reference = (src: Float32Array, n: number, c: number, h: number, w: number, oc: number, oh: number, ow: number, scale: number): Float32Array => {
    const out = new Float32Array(n * oc * oh * ow);
    const plane = new Float32Array(h * w);
    for (let s = 0; s < n; s++) {
      for (let ch = 0; ch < oc; ch++) {
        for (let p = 0; p < h * w; p++) {
          const at = s * c * h * w + p;
          plane[p] = (c === oc ? src[at + ch * h * w]! : 0.299 * src[at]! + 0.587 * src[at + h * w]! + 0.114 * src[at + 2 * h * w]!) * scale;
        }
        resizeBilinear(plane, h, w, out.subarray((s * oc + ch) * oh * ow, (s * oc + ch + 1) * oh * ow), oh, ow);
      }
    }
    return out;
  };
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 2 ** 24;
  const cases: [string, number, number, number, number, number, number][] = [
    // name, c, h, w → oc, oh, ow
    ['MNIST 28×28 → LeNet 32×32', 1, 28, 28, 1, 32, 32],
    ['downsampling 64×48 → 32×32', 1, 64, 48, 1, 32, 32],
    ['one row and one column 1×1 → 32×32', 1, 1, 1, 1, 32, 32],
    ['a strip 3×40 → 5×7', 1, 3, 40, 1, 5, 7],
    ['RGB 32×32 → grey 28×28', 3, 32, 32, 1, 28, 28],
    ['RGB 17×23 → RGB 32×32', 3, 17, 23, 3, 32, 32],
  ];
  for (const [name, c, h, w, oc, oh, ow] of cases) {
    it(name, () => {
      const n = 9;
      const src = Float32Array.from({ length: n * c * h * w }, () => Math.floor(rand() * 256));
      const got = toModelInput({ data: src, shape: [n, c, h, w], dtype: 'uint8' }, defaultPreprocess({ channels: oc, height: oh, width: ow }, { layout: 'NCHW' }));
      const want = reference(src, n, c, h, w, oc, oh, ow, 1 / 255);
      assert.equal(got.data.length, want.length);
      for (let i = 0; i < want.length; i++) if (!Object.is(got.data[i], want[i])) assert.fail(`value ${i}: ${got.data[i]} ≠ ${want[i]}`);
    });
  }
});
