import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { InputError, NotFittedError } from '../../src/core/errors.js';
import { applyThreshold, exactThreshold, gridThreshold, validateLabels } from '../../src/core/threshold.js';

/** Accuracy of "flag where score ≥ t". */
function acc(scores: number[], labels: number[], t: number): number {
  let c = 0;
  for (let i = 0; i < scores.length; i++) if ((scores[i]! >= t ? 1 : 0) === labels[i]) c++;
  return c / scores.length;
}

/** MindArmour's get_optimal_threshold, ported line by line (np.arange(0,1,0.01); first maximum). */
function mindarmourGrid(scores: number[], labels: number[]): number {
  const accs: number[] = [];
  const ts: number[] = [];
  for (let g = 0; g < 100; g++) {
    const t = g * 0.01;
    let count = 0;
    for (let i = 0; i < scores.length; i++) {
      if (scores[i]! < t && labels[i] === 0) count++;
      if (scores[i]! >= t && labels[i] === 1) count++;
    }
    accs.push(count / scores.length);
    ts.push(t);
  }
  const m = Math.max(...accs);
  return ts[accs.indexOf(m)]!;
}

const labelled = fc
  .array(fc.tuple(fc.oneof(fc.double({ min: -5, max: 5, noNaN: true }), fc.integer({ min: 0, max: 4 }).map((x) => x / 4)), fc.integer({ min: 0, max: 1 })), { minLength: 2, maxLength: 60 })
  .filter((xs) => xs.some(([, l]) => l === 0) && xs.some(([, l]) => l === 1));

describe('exactThreshold', () => {
  it('is optimal against brute force over every candidate cut (property)', () => {
    fc.assert(
      fc.property(labelled, (xs) => {
        const s = xs.map(([v]) => v);
        const l = xs.map(([, y]) => y);
        const fit = exactThreshold(s, l);
        const cands = [...new Set(s), Math.max(...s) + 1];
        const best = Math.max(...cands.map((t) => acc(s, l, t)));
        assert.equal(fit.accuracy, best);
        assert.equal(acc(s, l, fit.threshold), best, 'the returned threshold achieves the reported accuracy');
      }),
      { numRuns: 300, seed: 42 },
    );
  });

  it('keeps tied scores on one side and cuts at the midpoint of the gap', () => {
    const fit = exactThreshold([0.1, 0.2, 0.2, 0.9, 0.9], [0, 0, 1, 1, 1]);
    // the tie at 0.2 cannot be split: best is flagging {0.2,0.2,0.9,0.9} (4/5) or {0.9,0.9} (4/5); lowest cut wins.
    assert.equal(fit.accuracy, 0.8);
    assert.equal(fit.threshold, (0.1 + 0.2) / 2);
    assert.equal(exactThreshold([1, 2, 3, 4], [0, 0, 1, 1]).threshold, 2.5);
  });

  it('handles "flag everything" and "flag nothing" optima with thresholds that realise them', () => {
    const all = exactThreshold([5, 1, 3], [1, 1, 0]);
    assert.equal(acc([5, 1, 3], [1, 1, 0], all.threshold), all.accuracy);
    const none = exactThreshold([5, 6, 7], [0, 0, 1]);
    assert.equal(none.accuracy, 1);
    assert.equal(acc([5, 6, 7], [0, 0, 1], none.threshold), 1);
  });

  it('realises its accuracy when the two sides of the cut are adjacent doubles, or at the ends of the double range', () => {
    const up = 0.5 + Number.EPSILON / 2; // the next double after 0.5: their midpoint rounds onto 0.5
    for (const [scores, labels] of [
      [[0.5, up, 0.5, up], [0, 1, 0, 1]],
      [[-Number.MAX_VALUE, Number.MAX_VALUE], [0, 1]], // (lo + hi) / 2 of 1.7e308 and 1.7e308 would overflow
      [[1.5e308, 1.7e308], [0, 1]],
      [[0, Number.MIN_VALUE], [0, 1]],
    ] as [number[], number[]][]) {
      const t = exactThreshold(scores, labels);
      assert.equal(t.accuracy, 1, JSON.stringify(scores));
      assert.equal(acc(scores, labels, t.threshold), 1, `threshold ${t.threshold} for ${JSON.stringify(scores)}`);
      assert.ok(Number.isFinite(t.threshold));
    }
  });
});

describe('gridThreshold', () => {
  it('reproduces MindArmour get_optimal_threshold exactly (property)', () => {
    fc.assert(
      fc.property(labelled, (xs) => {
        const s = xs.map(([v]) => Math.abs(v) / 5);
        const l = xs.map(([, y]) => y);
        // Where some grid point t has min < t ≤ max, the result is MindArmour's; otherwise every grid threshold gives
        // one split and the call is refused (see the next test).
        const [lo, hi] = [Math.min(...s), Math.max(...s)];
        const separates = Array.from({ length: 100 }, (_, g) => g * 0.01).some((t) => lo < t && t <= hi);
        if (separates) assert.equal(gridThreshold(s, l, 0.01).threshold, mindarmourGrid(s, l));
        else assert.throws(() => gridThreshold(s, l, 0.01), (e: unknown) => e instanceof InputError && e.field === 'grid');
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('refuses scores the grid cannot split (energy/msp scores are negative) instead of returning threshold 0 at chance', () => {
    const labels = [0, 0, 1, 1];
    assert.throws(() => gridThreshold([-9.1, -8.7, -3.2, -2.5], labels, 0.01), (e: unknown) => e instanceof InputError && e.field === 'grid' && /outside the grid/.test(e.message));
    assert.throws(() => gridThreshold([1.2, 1.5, 3, 4], labels, 0.01), (e: unknown) => e instanceof InputError && e.field === 'grid');
    assert.throws(() => gridThreshold([0.501, 0.502, 0.503, 0.504], labels, 0.01), (e: unknown) => e instanceof InputError && e.field === 'grid');
    assert.equal(gridThreshold([-1, -0.5, 0.3, 2], labels, 0.01).threshold, 0); // t=0 separates -0.5 | 0.3
  });

  it('rejects a step outside (0,1)', () => {
    assert.throws(() => gridThreshold([0.1, 0.2], [0, 1], 0), (e: unknown) => e instanceof InputError && e.field === 'grid');
  });
});

describe('labels and scores validation', () => {
  it('names the problem: length, non-0/1 value, one class only', () => {
    assert.throws(() => validateLabels([0, 1], 3), (e: unknown) => e instanceof InputError && e.field === 'oodLabels' && /2 labels but the data has 3/.test(e.message));
    assert.throws(() => validateLabels([0, 2, 1], 3), (e: unknown) => e instanceof InputError && e.field === 'oodLabels[1]' && /got 2/.test(e.message));
    assert.throws(() => validateLabels([1, 1, 1], 3), (e: unknown) => e instanceof InputError && /all 3 labels are 1/.test(e.message));
  });

  it('a NaN or infinite score is an error naming the sample, never dropped', () => {
    assert.throws(() => exactThreshold([0.1, Number.NaN, 0.3], [0, 1, 1]), (e: unknown) => e instanceof InputError && e.field === 'scores[1]');
    assert.throws(() => applyThreshold([0.1, 0.2, Infinity], 0.5), (e: unknown) => e instanceof InputError && e.field === 'scores[2]');
  });
});

describe('applyThreshold', () => {
  it('flags score ≥ threshold, one entry per input in input order', () => {
    assert.deepEqual(Array.from(applyThreshold([0.5, 0.1, 0.49999, 0.9], 0.5)), [1, 0, 0, 1]);
  });
  it('refuses to predict without a threshold', () => {
    assert.throws(() => applyThreshold([0.1], undefined), NotFittedError);
  });
});
