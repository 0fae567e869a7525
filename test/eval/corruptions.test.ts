import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import type { Tensor } from '../../src/core/tensor.js';
import { classSubsetIndices, contrast, CORRUPTIONS, gaussianBlur, gaussianKernel, gaussianNoise, rotate } from '../../src/eval/corruptions.js';

const t = (data: number[], shape: number[]): Tensor => ({ data: Float32Array.from(data), shape });
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `index ${i}: ${a[i]} vs ${b[i]}`);
};

describe('gaussianNoise', () => {
  it('σ = 0 is the identity', () => {
    const x = t([0, 0.25, 0.5, 1], [1, 1, 2, 2]);
    assert.deepEqual(Array.from(gaussianNoise(x, 0, 7).data), [0, 0.25, 0.5, 1]);
  });
  it('is deterministic for a seed, differs between seeds, and does not modify its input', () => {
    const x = t(Array.from({ length: 64 }, () => 0.5), [1, 1, 8, 8]);
    const a = gaussianNoise(x, 0.1, 3);
    const b = gaussianNoise(x, 0.1, 3);
    const c = gaussianNoise(x, 0.1, 4);
    assert.deepEqual(a.data, b.data);
    assert.notDeepEqual(a.data, c.data);
    assert.ok(x.data.every((v) => v === 0.5));
  });
  it('clips to [0, 1] and has about the right spread', () => {
    const n = 20000;
    const y = gaussianNoise(t(Array.from({ length: n }, () => 0.5), [1, 1, 100, 200]), 0.1, 1).data;
    let m = 0;
    let v = 0;
    for (const x of y) m += x / n;
    for (const x of y) v += (x - m) ** 2 / n;
    assert.ok(Math.abs(m - 0.5) < 0.005, `mean ${m}`);
    assert.ok(Math.abs(Math.sqrt(v) - 0.1) < 0.005, `sd ${Math.sqrt(v)}`);
    const z = gaussianNoise(t([0, 1, 0, 1], [1, 1, 2, 2]), 5, 2).data;
    assert.ok(z.every((x) => x >= 0 && x <= 1));
  });
});

describe('gaussianBlur', () => {
  it('kernel: radius ⌈3σ⌉, sums to 1, symmetric; σ = 0 is [1]', () => {
    const k = gaussianKernel(1);
    assert.equal(k.length, 7);
    close([k.reduce((a, b) => a + b, 0)], [1], 1e-12);
    close([k[0]!], [k[6]!], 0);
    assert.deepEqual(Array.from(gaussianKernel(0)), [1]);
  });
  it('preserves a constant image (edge clamp) and is the identity at σ = 0', () => {
    const x = t(Array.from({ length: 2 * 25 }, () => 0.3), [2, 1, 5, 5]);
    close(gaussianBlur(x, 1.5).data, x.data);
    const y = t([0, 0.5, 1, 0.25], [1, 1, 2, 2]);
    close(gaussianBlur(y, 0).data, y.data, 0);
  });
  it('hand-computed 1×3 case: the centre of [0, 1, 0] gets the centre weight', () => {
    // σ = 0.5: radius 2, weights ∝ exp(−i²/0.5) for i = −2..2; a 1-row image blurs vertically onto itself (clamp).
    const k = gaussianKernel(0.5);
    const y = gaussianBlur(t([0, 1, 0], [1, 1, 1, 3]), 0.5).data;
    close([y[1]!], [k[2]!]);
    close([y[0]!], [k[3]!]); // x=0: only the +1 neighbour is 1; the clamped −1, −2 read the 0 at x=0
  });
});

describe('rotate', () => {
  it('90° of an asymmetric image equals numpy rot90 (transpose, then flip rows)', () => {
    // 2×3 is not square, so use 3×3 asymmetric; rot90(a)[i][j] = a[j][n−1−i]
    const a = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
    const r = rotate(t(a, [1, 1, 3, 3]), 90).data;
    const expected: number[] = [];
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) expected.push(a[j * 3 + (2 - i)]!);
    close(r, expected);
    // 4×4 (even size, centre between pixels)
    const b = Array.from({ length: 16 }, (_, i) => i / 16);
    const r4 = rotate(t(b, [1, 1, 4, 4]), 90).data;
    const e4: number[] = [];
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) e4.push(b[j * 4 + (3 - i)]!);
    close(r4, e4);
  });
  it('0° and 360° are the identity; 180° reverses the pixels', () => {
    const a = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6];
    close(rotate(t(a, [1, 1, 2, 3]), 0).data, a);
    close(rotate(t(a, [1, 1, 2, 3]), 360).data, a);
    close(rotate(t(a, [1, 1, 2, 3]), 180).data, [...a].reverse());
  });
  it('fills with zeros outside the source and interpolates bilinearly', () => {
    // 45° of a constant 3×3 image: the centre stays 1, corners sample outside → below 1.
    const y = rotate(t(Array.from({ length: 9 }, () => 1), [1, 1, 3, 3]), 45).data;
    close([y[4]!], [1]);
    assert.ok(y[0]! < 1 && y[0]! >= 0);
  });
});

describe('contrast', () => {
  it('moves each pixel towards the per-image mean by factor c; c = 1 is the identity', () => {
    const x = t([0, 1, 0, 1, /* second image */ 0.2, 0.2, 0.2, 0.6], [2, 1, 2, 2]);
    close(contrast(x, 0.5).data, [0.25, 0.75, 0.25, 0.75, 0.25, 0.25, 0.25, 0.45]);
    close(contrast(x, 1).data, x.data);
    close(contrast(x, 0).data, [0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3]);
  });
});

describe('shared checks', () => {
  it('rejects non-NCHW input and bad parameters', () => {
    assert.throws(() => gaussianBlur(t([0, 1], [1, 2]), 1), InputError);
    assert.throws(() => gaussianNoise(t([0], [1, 1, 1, 1]), -1, 0), InputError);
    assert.throws(() => contrast(t([0], [1, 1, 1, 1]), Number.NaN), InputError);
  });
  it('every registered corruption keeps the shape and stays in [0, 1] at every severity', () => {
    const x = t(Array.from({ length: 2 * 64 }, (_, i) => (i * 37) % 11 / 10), [2, 1, 8, 8]);
    for (const c of CORRUPTIONS) {
      assert.equal(c.severities.length, 3);
      for (const s of c.severities) {
        const y = c.apply(x, s, 1);
        assert.deepEqual(y.shape, x.shape);
        assert.ok(y.data.every((v) => v >= 0 && v <= 1), `${c.name} ${s}`);
      }
    }
  });
  it('classSubsetIndices keeps the listed classes, in order', () => {
    // labels at indices 5, 0, 1, 2, 3 are 0, 0, 5, 1, 2
    assert.deepEqual(Array.from(classSubsetIndices([0, 5, 1, 2, 9, 0], [5, 0, 1, 2, 3], [0, 1, 2])), [5, 0, 2, 3]);
  });
});
