import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mmdPerPermutation, mmdVectorised } from '../../benchmarks/lib/mmd-loop.js';
import { conformalPValues, conformalRank, conformalThreshold } from '../../src/core/conformal.js';
import { binomialCountDrift, binomialDrift, bonferroniRejects, ksDrift, ksPValue, ksStatistic, mmdDrift } from '../../src/core/drift.js';
import { InputError } from '../../src/core/errors.js';
import { mulberry32 } from '../../src/core/random.js';

const gauss = (rnd: () => number) => Math.sqrt(-2 * Math.log(rnd() + 1e-300)) * Math.cos(2 * Math.PI * rnd());

describe('conformal threshold and p-values', () => {
  it('uses the ⌈(n+1)(1−α)⌉-th order statistic and flags with ≥', () => {
    const cal = Array.from({ length: 19 }, (_, i) => i + 1); // 1..19, α=0.1 → rank ⌈20·0.9⌉ = 18 → 18
    const t = conformalThreshold(cal, 0.1);
    assert.equal(t.rank, 18);
    assert.ok(t.threshold > 18 && t.threshold < 18 + 1e-9);
    assert.equal(cal.filter((s) => s >= t.threshold).length, 1);
  });

  it('realised false-alarm rate on fresh ID data is within the binomial band of the target (many splits)', () => {
    const rnd = mulberry32(3);
    const rates: number[] = [];
    for (let rep = 0; rep < 200; rep++) {
      const cal = Array.from({ length: 500 }, () => gauss(rnd));
      const fresh = Array.from({ length: 2000 }, () => gauss(rnd));
      const t = conformalThreshold(cal, 0.05).threshold;
      rates.push(fresh.filter((s) => s >= t).length / 2000);
    }
    const mean = rates.reduce((a, b) => a + b) / rates.length;
    assert.ok(mean > 0.04 && mean < 0.06, `mean realised FPR ${mean}`);
  });

  it('the rank is exactly ⌈(n+1)(1−α)⌉ for α as written, where floating point lands one ulp above an integer', () => {
    // 150 · (1 − 0.18) evaluates to 123.00000000000001 in doubles; Math.ceil of it is 124.
    assert.equal(conformalRank(149, 0.18), 123);
    const cal = Array.from({ length: 149 }, (_, i) => i + 1);
    const t = conformalThreshold(cal, 0.18);
    assert.equal(t.rank, 123);
    assert.ok(t.threshold > 123 && t.threshold < 124);
    // Against integer arithmetic for every α = i/1000 and n ≤ 400: ⌈(n+1)(1000−i)/1000⌉.
    for (let n = 1; n <= 400; n++) {
      for (let i = 1; i < 1000; i++) {
        const want = Math.floor(((n + 1) * (1000 - i) + 999) / 1000);
        if (conformalRank(n, i / 1000) !== want) assert.fail(`n=${n} α=${i / 1000}: ${conformalRank(n, i / 1000)} ≠ ${want}`);
      }
    }
    assert.equal(conformalRank(100, 1e-7), 101); // exponent notation
    assert.equal(conformalRank(9500, 0.05), 9026);
  });

  it('p-values are (1 + #{cal ≥ s}) / (n + 1) and too few samples is an error naming the holdout', () => {
    assert.deepEqual(Array.from(conformalPValues([1, 2, 3], [0, 2, 5])), [1, 3 / 4, 1 / 4]);
    assert.throws(() => conformalPValues([1, Number.NaN, 3], [2]), (e: unknown) => e instanceof InputError && e.field === 'calibration[1]');
    assert.throws(() => conformalThreshold([1, 2, 3], 0.05), (e: unknown) => e instanceof InputError && e.field === 'idHoldout');
  });
});

describe('drift tests', () => {
  it('binomial: more flags than the baseline is drift, the baseline rate is not', () => {
    const flags = (k: number, n: number) => Array.from({ length: n }, (_, i) => (i < k ? 1 : 0));
    assert.equal(binomialDrift(flags(5, 100), 0.05).isDrift, false);
    const r = binomialDrift(flags(20, 100), 0.05);
    assert.ok(r.isDrift && r.pValue < 1e-6);
    assert.equal(r.statistic, 0.2);
    assert.deepEqual(binomialCountDrift(20, 100, 0.05), r, 'counts and flags give one result');
    assert.throws(() => binomialCountDrift(101, 100, 0.05), /flagged: must be an integer in \[0, 100\]/);
    // The public calls name their own fields: a baseline that is no probability, a flag that is not 0/1 (a 2 or a NaN
    // used to count as flagged or not, silently).
    assert.throws(() => binomialCountDrift(1, 10, 1.5), (e: unknown) => e instanceof InputError && e.field === 'baselineRate');
    assert.throws(() => binomialDrift([0, 2, 1], 0.1), (e: unknown) => e instanceof InputError && e.field === 'flags[1]' && /must be 0 or 1, got 2/.test(e.message));
    assert.throws(() => binomialDrift([1, NaN], 0.1), (e: unknown) => e instanceof InputError && e.field === 'flags[1]');
  });

  it('Bonferroni: any p below alpha / m rejects; alpha itself does not when m > 1', () => {
    assert.equal(bonferroniRejects([0.04, 0.5], 0.05), false, '0.04 ≥ 0.05 / 2');
    assert.equal(bonferroniRejects([0.024, 0.5], 0.05), true);
    assert.equal(bonferroniRejects([0.049], 0.05), true);
    assert.equal(bonferroniRejects([], 0.05), false);
    assert.throws(() => bonferroniRejects([0.1], 1.5), /alpha/);
  });

  it('KS statistic on a hand-computed case and p-value near scipy\'s asymptotic values', () => {
    assert.ok(Math.abs(ksStatistic([1, 2, 3], [2.5, 3.5, 4.5]) - 2 / 3) < 1e-15);
    assert.equal(ksStatistic([1, 2], [1, 2]), 0);
    // Q_KS(1.36) ≈ 0.049 (the classic 5% critical value) for large samples
    const p = ksPValue(1.36 / Math.sqrt(5000), 10000, 10000);
    assert.ok(Math.abs(p - 0.05) < 0.005, `p ${p}`);
    const rnd = mulberry32(1);
    const a = Array.from({ length: 300 }, () => gauss(rnd));
    assert.equal(ksDrift(a, Array.from({ length: 300 }, () => gauss(rnd) + 1)).isDrift, true);
  });

  it('KS p-value equals the Kolmogorov survival function over its whole range, small λ included', () => {
    // Reference: scipy 1.17 `scipy.special.kolmogorov(λ)`. With n = m = 1e6, λ = (√N + 0.12 + 0.11/√N)·D.
    const ref: [number, number][] = [
      [0.005, 1], [0.1, 1], [0.3, 0.9999906941986655], [0.5, 0.9639452436648751], [0.8, 0.5441424115741981],
      [1, 0.26999967167735456], [1.17, 0.12939004218561884], [1.18, 0.1234538094297657], [1.5, 0.022217962616525127],
      [2, 0.0006709252557796953], [3, 3.045995948942526e-8],
    ];
    const en = Math.sqrt(1e6 / 2);
    for (const [lambda, want] of ref) {
      const got = ksPValue(lambda / (en + 0.12 + 0.11 / en), 1e6, 1e6);
      assert.ok(Math.abs(got - want) <= 1e-12 + 1e-12 * want, `λ=${lambda}: ${got} vs ${want}`);
    }
    // Two interleaved samples of one distribution (D = 1/n) are not drift at any size: a truncated alternating
    // series once gave p ≈ 0.049 here at n = 200,000.
    for (const n of [10_000, 200_000, 400_000]) {
      const even = Float64Array.from({ length: n }, (_, i) => 2 * i);
      const odd = Float64Array.from({ length: n }, (_, i) => 2 * i + 1);
      const r = ksDrift(even, odd);
      assert.ok(Math.abs(r.statistic - 1 / n) < 1e-12, `D ${r.statistic}`);
      assert.ok(r.pValue > 0.999 && !r.isDrift, `n=${n}: p ${r.pValue}`);
    }
  });

  it('MMD: same distribution → no drift; shifted → drift; p-values and statistics match one pass per permutation and the K·W vectorisation', () => {
    const rnd = mulberry32(2);
    const sample = (n: number, shift: number) => ({ data: Float32Array.from({ length: n * 3 }, () => gauss(rnd) + shift), rows: n, cols: 3 });
    const ref = sample(60, 0);
    assert.equal(mmdDrift(ref, sample(60, 0), { permutations: 200, seed: 1 }).isDrift, false);
    // A seed that is no integer used to be truncated by the generator (1.7 ran as 1) or taken as 0 (NaN).
    for (const seed of [1.7, NaN]) assert.throws(() => mmdDrift(ref, sample(60, 0), { permutations: 200, seed }), (e: unknown) => e instanceof InputError && e.field === 'seed');
    const shifted = mmdDrift(ref, sample(60, 1), { permutations: 200, seed: 1 });
    assert.ok(shifted.isDrift && shifted.pValue <= 1 / 201 + 1e-12);
    // The vectorised permutations give exactly what one pass per permutation gives (same kernel and permutations).
    for (const [shift, seed] of [[0, 1], [0.3, 4], [1, 1]] as const) {
      const x = sample(45, shift);
      const fast = mmdDrift(ref, x, { permutations: 300, seed });
      for (const other of [mmdPerPermutation(ref, x, { permutations: 300, seed }), mmdVectorised(ref, x, { permutations: 300, seed })]) {
        assert.equal(fast.pValue, other.pValue, `shift ${shift}`);
        assert.ok(Math.abs(fast.statistic - other.statistic) < 1e-12, `shift ${shift}: ${fast.statistic} vs ${other.statistic}`);
      }
    }
    // The smaller group is the reference when the window is larger: the same identity from the other side.
    for (const seed of [1, 2]) {
      const small = sample(12, 0);
      const big = sample(70, 0.4);
      const fast = mmdDrift(small, big, { permutations: 200, seed });
      const loop = mmdPerPermutation(small, big, { permutations: 200, seed });
      assert.equal(fast.pValue, loop.pValue);
      assert.ok(Math.abs(fast.statistic - loop.statistic) < 1e-12);
    }
    assert.throws(() => mmdDrift(ref, { data: new Float32Array(8), rows: 2, cols: 4 }), (e: unknown) => e instanceof InputError && e.field === 'data');
  });

  it('MMD observed statistic equals the plain biased V-statistic', () => {
    const rnd = mulberry32(9);
    const X = Array.from({ length: 8 }, () => [gauss(rnd), gauss(rnd)]);
    const Y = Array.from({ length: 6 }, () => [gauss(rnd) + 0.5, gauss(rnd)]);
    const pooled = [...X, ...Y];
    const d2 = (a: number[], b: number[]) => (a[0]! - b[0]!) ** 2 + (a[1]! - b[1]!) ** 2;
    const ds: number[] = [];
    for (let i = 0; i < pooled.length; i++) for (let j = i + 1; j < pooled.length; j++) ds.push(d2(pooled[i]!, pooled[j]!));
    ds.sort((a, b) => a - b);
    const med = ds[Math.floor(ds.length / 2)]!;
    const k = (a: number[], b: number[]) => Math.exp(-d2(a, b) / med);
    const mean = (A: number[][], B: number[][]) => A.reduce((s, a) => s + B.reduce((t, b) => t + k(a, b), 0), 0) / (A.length * B.length);
    const want = mean(X, X) + mean(Y, Y) - 2 * mean(X, Y);
    const got = mmdDrift({ data: Float32Array.from(X.flat()), rows: 8, cols: 2 }, { data: Float32Array.from(Y.flat()), rows: 6, cols: 2 }, { permutations: 20 }).statistic;
    assert.ok(Math.abs(got - want) < 1e-5, `${got} vs ${want}`);
  });
});
