import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { accuracy, auroc, aurocOf, detectionMetrics, fprAtTpr } from '../../src/core/metrics.js';

describe('metrics (OOD = positive class)', () => {
  it('AUROC on hand-computed cases, ties counted one half', () => {
    assert.equal(auroc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), 1);
    assert.equal(auroc([0.9, 0.8, 0.1, 0.2], [0, 0, 1, 1]), 0);
    // pairs (id, ood): (0.1,0.5)=1 (0.1,0.3)=1 (0.5,0.5)=½ (0.5,0.3)=0 → 2.5/4
    assert.equal(auroc([0.1, 0.5, 0.5, 0.3], [0, 0, 1, 1]), 0.625);
    assert.equal(auroc([1, 1, 1, 1], [0, 1, 0, 1]), 0.5);
  });

  it('AUROC equals the pairwise definition (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 20 }), fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 20 }), (id, ood) => {
        let s = 0;
        for (const a of id) for (const b of ood) s += b > a ? 1 : b === a ? 0.5 : 0;
        assert.ok(Math.abs(aurocOf(id, ood) - s / (id.length * ood.length)) < 1e-12);
      }),
      { numRuns: 200, seed: 4 },
    );
  });

  it('FPR@95TPR: share of ID flagged at the threshold that catches 95% of OOD', () => {
    const ood = Array.from({ length: 20 }, (_, i) => i + 1); // 1..20; 95% = 19 caught → threshold 2
    const id = [0, 1, 1.5, 2, 3];
    const r = fprAtTpr(id, ood);
    assert.equal(r.threshold, 2);
    assert.equal(r.fpr, 2 / 5); // 2 and 3 are ≥ 2
    const m = detectionMetrics([...id, ...ood], [...id.map(() => 0), ...ood.map(() => 1)]);
    assert.equal(m.fpr95, 0.4);
    assert.equal(m.nId, 5);
  });

  it('accuracy', () => {
    assert.equal(accuracy([1, 0, 1, 1], [1, 0, 0, 1]), 0.75);
  });
});

describe('AUPR and detection accuracy', () => {
  it('average precision on hand-computed cases (scikit-learn convention)', async () => {
    const { averagePrecision, detectionAccuracyOf } = await import('../../src/core/metrics.js');
    assert.equal(averagePrecision([0.9, 0.8], [0.1, 0.2]), 1);
    // ranking: 0.9(+) 0.8(−) 0.7(+) → AP = ½·1 + ½·(2/3)
    assert.ok(Math.abs(averagePrecision([0.9, 0.7], [0.8]) - (0.5 + 1 / 3)) < 1e-12);
    // a tie between one + and one − at the top: P = ½ at recall 1
    assert.equal(averagePrecision([0.5], [0.5]), 0.5);
    assert.equal(detectionAccuracyOf([0.1, 0.2], [0.8, 0.9]), 1);
    // id {0.1, 0.6}, ood {0.5, 0.9}: best cut at 0.9 → ½·0 + ½·½ = ¼ error, or at 0.5 → ½·½ + 0 = ¼ → 0.75
    assert.equal(detectionAccuracyOf([0.1, 0.6], [0.5, 0.9]), 0.75);
  });

  it('AUPR-In mirrors AUPR-Out with roles and signs swapped', async () => {
    const { detectionMetricsOf, averagePrecision } = await import('../../src/core/metrics.js');
    const m = detectionMetricsOf([0.1, 0.4, 0.35], [0.8, 0.3]);
    assert.equal(m.auprIn, averagePrecision([-0.1, -0.4, -0.35], [-0.8, -0.3]));
    assert.equal(m.auprOut, averagePrecision([0.8, 0.3], [0.1, 0.4, 0.35]));
  });
});
