import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { defaultPreprocess, toModelInput } from '../../src/core/preprocess.js';
import type { DecodedArray } from '../../src/core/tensor.js';

describe('toModelInput conversions', () => {
  it('resizes with half-pixel centres (1×2 → 1×4 gives 0, ¼, ¾, 1 as OpenCV/PIL)', () => {
    // source x centres: out o maps to f = (o + ½)·(2/4) − ½ = −¼→0, ¼, ¾, 1¼→clamped to x0 = 1, so 0, 0.25, 0.75, 1.
    const t = toModelInput({ data: Float32Array.from([0, 1]), shape: [1, 1, 2], dtype: 'float32' }, defaultPreprocess({ channels: 1, height: 1, width: 4 }));
    assert.deepEqual(Array.from(t.data), [0, 0.25, 0.75, 1]);
  });

  it('grey → RGB model: the grey plane is copied into all three channels, per sample', () => {
    const grey: DecodedArray = { data: Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]), shape: [2, 1, 2, 2], dtype: 'float32' };
    const t = toModelInput(grey, defaultPreprocess({ channels: 3, height: 2, width: 2 }));
    const f = (v: number[]) => v.map(Math.fround);
    assert.deepEqual(Array.from(t.data), f([0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.5, 0.6, 0.7, 0.8, 0.5, 0.6, 0.7, 0.8]));
  });

  it('RGBA → RGB model drops alpha and keeps R, G, B as they are', () => {
    // NCHW, 2×2 planes: R = 0.1, G = 0.2, B = 0.3, A = 1.
    const rgba: DecodedArray = { data: Float32Array.from([0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3, 1, 1, 1, 1]), shape: [1, 4, 2, 2], dtype: 'float32' };
    const t = toModelInput(rgba, defaultPreprocess({ channels: 3, height: 2, width: 2 }));
    assert.deepEqual(Array.from(t.data), [0.1, 0.1, 0.1, 0.1, 0.2, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3, 0.3].map(Math.fround));
  });

  it('float pixels within 1e-3 of the range are accepted (rounding), further out refused', () => {
    const cfg = defaultPreprocess({ channels: 1, height: 1, width: 2 });
    assert.doesNotThrow(() => toModelInput({ data: Float32Array.from([0, 1.0005]), shape: [1, 1, 2], dtype: 'float32' }, cfg));
    assert.doesNotThrow(() => toModelInput({ data: Float32Array.from([-0.0005, 1]), shape: [1, 1, 2], dtype: 'float32' }, cfg));
    assert.throws(() => toModelInput({ data: Float32Array.from([0, 1.002]), shape: [1, 1, 2], dtype: 'float32' }, cfg), (e: unknown) => e instanceof InputError && e.field === 'data[0]');
  });

  it('a rank-3 N×H×W batch 3 pixels wide is not ambiguous for a model 3 pixels wide', () => {
    // The H×W×C guard applies only when the model's width is > 4; a model with width 3 takes [2, 8, 3] as 2 images 8×3.
    const t = toModelInput({ data: new Float32Array(2 * 8 * 3), shape: [2, 8, 3], dtype: 'uint8' }, defaultPreprocess({ channels: 1, height: 8, width: 3 }));
    assert.deepEqual(t.shape, [2, 1, 8, 3]);
  });
});

describe('toModelInput auto scale for float dtypes', () => {
  // Guards the auto scale rule: every float dtype (float64, float16 — not only float32) is already in [0, 1], scale 1.
  it('float64 and float16 data pass through unscaled (not divided by 255)', () => {
    for (const dtype of ['float64', 'float16'] as const) {
      const arr: DecodedArray = { data: Float32Array.from([0, 0.5, 1, 0.25]), shape: [1, 1, 2, 2], dtype };
      const t = toModelInput(arr, defaultPreprocess({ channels: 1, height: 2, width: 2 }));
      assert.deepEqual(Array.from(t.data), [0, 0.5, 1, 0.25], dtype);
    }
  });
});
