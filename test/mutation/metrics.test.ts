import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { accuracy, auroc, detectionMetrics, fprAtTpr } from '../../src/core/metrics.js';

describe('fprAtTpr with a rate whose product lands one ulp above an integer', () => {
  it('0.07 × 100 = 7.000000000000001 in doubles still means 7 OOD samples caught', () => {
    // OOD 1..100; catching 7 of them → threshold = the 7th largest = 94. ID 93.5 < 94 → FPR 0.
    // (Math.ceil(7.000000000000001) = 8 would give threshold 93 and flag 93.5.)
    const ood = Array.from({ length: 100 }, (_, i) => i + 1);
    const r = fprAtTpr([93.5], ood, 0.07);
    assert.equal(r.threshold, 94);
    assert.equal(r.fpr, 0);
  });
});

describe('label validation in metrics', () => {
  const isField = (field: string) => (e: unknown) => e instanceof InputError && e.field === field;
  it('needs both classes', () => {
    assert.throws(() => detectionMetrics([0.1, 0.2], [0, 0]), isField('labels'));
    assert.throws(() => detectionMetrics([0.1, 0.2], [1, 1]), isField('labels'));
    // auroc on one class would divide by 0 (n_id · n_ood = 0)
    assert.throws(() => auroc([0.1, 0.2], [0, 0]), isField('labels'));
    assert.throws(() => auroc([0.1, 0.2], [1, 1]), isField('labels'));
  });
  it('names a label that is not 0 or 1', () => {
    assert.throws(() => detectionMetrics([0.1, 0.2, 0.3], [0, 2, 1]), isField('labels[1]'));
  });
  it('accuracy of no predictions is an error, not NaN', () => {
    assert.throws(() => accuracy([], []), isField('truth'));
  });
});

describe('fprAtTpr rounds the number of OOD samples to catch up', () => {
  // Guards against flooring tpr·n: 0.95 × 10 = 9.5 OOD samples must round up to all 10, not down to 9.
  it('catching ≥ 9.5 of 10 OOD samples means all 10 → threshold = the smallest OOD score', () => {
    // OOD 1..10: need = ceil(9.5) = 10 → threshold = 1; ID 1.5 ≥ 1 → FPR 1. (need 9 → threshold 2, FPR 0.)
    const ood = Array.from({ length: 10 }, (_, i) => i + 1);
    const r = fprAtTpr([1.5], ood, 0.95);
    assert.deepEqual(r, { fpr: 1, threshold: 1 });
  });
});
