import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { aurocOf } from '../../src/core/metrics.js';
import { rocCurve, type RocPoint } from '../../src/report/roc.js';

/** Trapezoid area under a ROC curve: for a `rocCurve` result it must equal the midrank AUROC (the test oracle). */
function rocArea(points: readonly Pick<RocPoint, 'fpr' | 'tpr'>[]): number {
  let a = 0;
  for (let k = 1; k < points.length; k++) a += ((points[k]!.fpr - points[k - 1]!.fpr) * (points[k]!.tpr + points[k - 1]!.tpr)) / 2;
  return a;
}

describe('rocCurve (OOD = positive, flagged where score ≥ threshold)', () => {
  it('matches hand-computed points, one per distinct threshold, ties moving together', () => {
    // distinct scores, descending: 0.9 (ood) 0.8 (id) 0.6 (ood) 0.4 (id + ood tie) 0.35 (id) 0.1 (id)
    const pts = rocCurve([0.1, 0.4, 0.35, 0.8], [0.9, 0.4, 0.6]);
    assert.deepEqual(pts, [
      { fpr: 0, tpr: 0, threshold: Infinity },
      { fpr: 0, tpr: 1 / 3, threshold: 0.9 },
      { fpr: 1 / 4, tpr: 1 / 3, threshold: 0.8 },
      { fpr: 1 / 4, tpr: 2 / 3, threshold: 0.6 },
      { fpr: 2 / 4, tpr: 1, threshold: 0.4 },
      { fpr: 3 / 4, tpr: 1, threshold: 0.35 },
      { fpr: 1, tpr: 1, threshold: 0.1 },
    ]);
    // trapezoids: 1/4·1/3 + 1/4·(2/3+1)/2 + 1/4 + 1/4 = 19/24; Mann–Whitney: 9.5 of 12 pairs
    assert.ok(Math.abs(rocArea(pts) - 19 / 24) < 1e-12);
  });

  it('all scores tied: the origin and one diagonal step to (1, 1)', () => {
    assert.deepEqual(rocCurve([2, 2], [2]), [
      { fpr: 0, tpr: 0, threshold: Infinity },
      { fpr: 1, tpr: 1, threshold: 2 },
    ]);
  });

  it('perfect separation goes up the left edge first', () => {
    const pts = rocCurve([0, 1], [5, 6]);
    assert.deepEqual(pts.map((p) => [p.fpr, p.tpr]), [[0, 0], [0, 0.5], [0, 1], [0.5, 1], [1, 1]]);
  });

  it('its area equals the midrank AUROC and it is monotone (property)', () => {
    const scores = fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 25 });
    fc.assert(
      fc.property(scores, scores, (id, ood) => {
        const pts = rocCurve(id, ood);
        assert.equal(pts.length, new Set([...id, ...ood]).size + 1);
        for (let k = 1; k < pts.length; k++) {
          assert.ok(pts[k]!.fpr >= pts[k - 1]!.fpr && pts[k]!.tpr >= pts[k - 1]!.tpr);
          assert.ok(pts[k]!.threshold < pts[k - 1]!.threshold);
        }
        assert.deepEqual([pts.at(-1)!.fpr, pts.at(-1)!.tpr], [1, 1]);
        assert.ok(Math.abs(rocArea(pts) - aurocOf(id, ood)) < 1e-12);
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('rejects empty sets and non-finite scores, naming the field', () => {
    assert.throws(() => rocCurve([], [1]), /scores: .*0 ID and 1 OOD/);
    assert.throws(() => rocCurve([1, NaN], [1]), /idScores\[1\]: .*NaN/);
  });
});
