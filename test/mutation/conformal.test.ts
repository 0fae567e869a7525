import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conformalPValues, conformalThreshold } from '../../src/core/conformal.js';
import { InputError } from '../../src/core/errors.js';

describe('conformalThreshold edge cases', () => {
  it('accepts the largest order statistic (rank = n)', () => {
    // n = 19, α = 0.05: ⌈20 · 0.95⌉ = 19 = n → allowed, threshold just above the maximum 19.
    const cal = Array.from({ length: 19 }, (_, i) => i + 1);
    const t = conformalThreshold(cal, 0.05);
    assert.equal(t.rank, 19);
    assert.ok(t.threshold > 19 && t.threshold < 19 + 1e-9);
  });

  it('says the smallest holdout that works', () => {
    // α = 0.05 needs ⌈(n+1)·0.95⌉ ≤ n: n = 18 → ⌈18.05⌉ = 19 > 18; n = 19 → 19 ≤ 19. So 19.
    assert.throws(() => conformalThreshold([1, 2, 3], 0.05), (e: unknown) => e instanceof InputError && e.field === 'idHoldout' && /need at least 19$/.test(e.message));
  });

  it('threshold is the next double ABOVE the order statistic, also for negative and zero scores', () => {
    // n = 3, α = 0.25: ⌈4 · 0.75⌉ = 3 → the maximum. Flagging is score ≥ threshold, so no calibration score is flagged.
    for (const cal of [[-3, -2, -1], [-2, -1, 0]]) {
      const t = conformalThreshold(cal, 0.25);
      const top = cal[2]!;
      assert.equal(t.rank, 3);
      assert.ok(t.threshold > top && t.threshold < top + 1e-9, `${t.threshold} for max ${top}`);
      assert.equal(cal.filter((s) => s >= t.threshold).length, 0);
    }
  });

  it('rejects targetFpr outside (0, 1)', () => {
    for (const a of [1, 1.5, 0]) assert.throws(() => conformalThreshold([1, 2, 3, 4], a), (e: unknown) => e instanceof InputError && e.field === 'targetFpr', String(a));
  });
});

describe('conformalPValues input checks', () => {
  // Guards the empty-calibration check: with no calibration scores (1 + 0)/(0 + 1) = 1 would be a meaningless p-value.
  it('refuses an empty calibration set, naming it', () => {
    assert.throws(() => conformalPValues([], [0.5]), (e: unknown) => e instanceof InputError && e.field === 'calibration');
  });
});
