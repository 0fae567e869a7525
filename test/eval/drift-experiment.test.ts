import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { conformalThreshold } from '../../src/core/conformal.js';
import { mmdDrift } from '../../src/core/drift.js';
import { mulberry32 } from '../../src/core/random.js';
import type { Matrix } from '../../src/core/tensor.js';
import {
  binomialBand,
  conformalCountPmf,
  conformalSplitStudy,
  expectedBandCoverage,
  FastMmd,
  gatherRows,
  runDriftCell,
  sampleWithoutReplacement,
  selectKth,
} from '../../src/eval/drift-experiment.js';

const gauss = (rnd: () => number) => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
const randMatrix = (rows: number, cols: number, rnd: () => number, shift = 0): Matrix => ({
  data: Float32Array.from({ length: rows * cols }, () => gauss(rnd) + shift),
  rows,
  cols,
});

describe('binomial band and conformal coverage', () => {
  it('hand-checked band: Bin(20, 0.5) → [6, 14]', () => {
    // P(X ≤ 5) = 0.0207 ≤ 0.025 < P(X ≤ 6) = 0.0577; symmetric on the right.
    const b = binomialBand(20, 0.5);
    assert.equal(b.lo, 6);
    assert.equal(b.hi, 14);
    assert.ok(Math.abs(b.coverage - (1 - 2 * 0.020695)) < 1e-5, `${b.coverage}`);
  });
  it('band coverage is at least the level', () => {
    for (const [m, p] of [[100, 0.05], [500, 0.05], [1000, 0.05], [37, 0.3]] as const) assert.ok(binomialBand(m, p).coverage >= 0.95);
  });
  it('beta-binomial count pmf sums to 1 with mean m·(nCal+1−r)/(nCal+1)', () => {
    const pmf = conformalCountPmf(99, 50, 0.1); // r = ⌈100·0.9⌉ = 90, flag probability mean 10/100
    const sum = pmf.reduce((a, b) => a + b, 0);
    const mean = pmf.reduce((a, p, k) => a + p * k, 0);
    assert.ok(Math.abs(sum - 1) < 1e-12);
    assert.ok(Math.abs(mean - 5) < 1e-9, `${mean}`);
    // A large calibration set makes the count nearly binomial: coverage → the binomial band's own coverage.
    assert.ok(Math.abs(expectedBandCoverage(1e6, 200, 0.05) - binomialBand(200, 0.05).coverage) < 2e-3);
    assert.ok(expectedBandCoverage(500, 1000, 0.05) < binomialBand(1000, 0.05).coverage);
  });
});

describe('conformal split study (synthetic scores)', () => {
  it('realised false-alarm rate is near α, inside the band about as often as predicted, p-values ~ uniform', () => {
    const rnd = mulberry32(11);
    const scores = Float64Array.from({ length: 3000 }, () => gauss(rnd));
    const s = conformalSplitStudy(scores, { nCal: 2500, nTest: 500, splits: 60, alpha: 0.05, seed: 2 });
    assert.ok(s.mean > 0.04 && s.mean < 0.06, `mean ${s.mean}`);
    assert.ok(s.shareInBand >= 0.85, `share ${s.shareInBand}`);
    assert.ok(s.expectedCoverage > 0.9 && s.expectedCoverage < 0.97);
    const p05 = s.pValueShares.find((x) => x.level === 0.05)!;
    assert.ok(Math.abs(p05.share - s.mean) < 1e-12, 'p ≤ α is the same event as being flagged');
    const p50 = s.pValueShares.find((x) => x.level === 0.5)!;
    assert.ok(Math.abs(p50.share - 0.5) < 0.03, `p ≤ 0.5 share ${p50.share}`);
    assert.ok(Math.abs(s.pValueDeciles.reduce((a, b) => a + b, 0) - 1) < 1e-9);
  });
});

describe('window sampling', () => {
  it('draws distinct pool members, deterministically for a seed', () => {
    const pool = [3, 9, 4, 7, 1, 8];
    const a = sampleWithoutReplacement(pool, 4, mulberry32(5));
    const b = sampleWithoutReplacement(pool, 4, mulberry32(5));
    assert.deepEqual(a, b);
    assert.equal(new Set(a).size, 4);
    assert.ok([...a].every((x) => pool.includes(x)));
  });
});

describe('selectKth', () => {
  it('equals the sorted array at rank k, with ties and constant arrays', () => {
    const rnd = mulberry32(8);
    for (const len of [1, 2, 7, 1000, 20001]) {
      const a = Float64Array.from({ length: len }, () => Math.floor(rnd() * 50) * (rnd() < 0.1 ? 1000 : 1));
      const sorted = Float64Array.from(a).sort();
      for (const k of [0, len >> 1, len - 1]) assert.equal(selectKth(Float64Array.from(a), k), sorted[k]);
    }
    assert.equal(selectKth(new Float64Array(5).fill(3), 2), 3);
  });
});

describe('FastMmd', () => {
  it('gives exactly mmdDrift’s p-value and statistic (full bank and subsampled references, null and shifted windows)', () => {
    const rnd = mulberry32(21);
    const bank = randMatrix(40, 6, rnd);
    const pool = randMatrix(60, 6, rnd, 0.4);
    const fast = new FastMmd(bank);
    const cross = fast.crossDistances(pool);
    const allBank = Int32Array.from({ length: 40 }, (_, i) => i);
    const allPool = Int32Array.from({ length: 60 }, (_, i) => i);
    for (let w = 0; w < 4; w++) {
      const refRows = w % 2 ? sampleWithoutReplacement(allBank, 25, rnd).sort() : allBank;
      const idx = sampleWithoutReplacement(allPool, 12 + w, rnd);
      const got = fast.test(refRows, pool, cross, idx, { permutations: 60, seed: w, alpha: 0.05 });
      const want = mmdDrift(gatherRows(bank, refRows), gatherRows(pool, idx), { permutations: 60, seed: w });
      assert.equal(got.pValue, want.pValue);
      assert.ok(Math.abs(got.statistic - want.statistic) < 1e-12, `${got.statistic} vs ${want.statistic}`);
      assert.equal(got.isDrift, want.isDrift);
    }
  });
});

describe('drift cells on synthetic pools (scaled-down experiment)', () => {
  const rnd = mulberry32(99);
  const n = 1200;
  // ID scores ~ U(0,1) (so conformal p-values are uniform); features 4-d Gaussian. Shifted pool: scores + 0.3, features + 0.8.
  const ref = { scores: Float64Array.from({ length: n }, () => rnd()), features: randMatrix(80, 4, rnd) };
  const cal = Float64Array.from({ length: 1000 }, () => rnd());
  const c = conformalThreshold(cal, 0.05);
  const baselineRate = cal.filter((s) => s >= c.threshold).length / cal.length;
  const mmd = new FastMmd(ref.features);
  const all = Int32Array.from({ length: n }, (_, i) => i);
  const cleanF = randMatrix(n, 4, rnd);
  const shiftF = randMatrix(n, 4, rnd, 0.8);
  const clean = { scores: Float64Array.from({ length: n }, () => rnd()), features: cleanF, cross: mmd.crossDistances(cleanF), indices: all };
  const shifted = { scores: Float64Array.from({ length: n }, () => rnd() + 0.3), features: shiftF, cross: mmd.crossDistances(shiftF), indices: all };
  const reference = { threshold: c.threshold, baselineRate, scores: ref.scores, mmd, mmdReference: 40 };

  it('false alarms on clean windows stay near or below α for every test', () => {
    const r = runDriftCell(reference, clean, { windowSize: 50, windows: 300, alpha: 0.05, seed: 1, tests: ['binomial', 'ks'] });
    assert.ok(r.rate.binomial! <= 0.05 + 0.03, `binomial ${r.rate.binomial}`);
    assert.ok(r.rate.ks! <= 0.05 + 0.03, `ks ${r.rate.ks}`);
    const m = runDriftCell(reference, clean, { windowSize: 20, windows: 60, alpha: 0.05, seed: 2, tests: ['mmd'], permutations: 40 });
    assert.ok(m.rate.mmd! <= 0.05 + 0.1, `mmd ${m.rate.mmd}`);
  });

  it('power is high on clearly shifted windows', () => {
    const r = runDriftCell(reference, shifted, { windowSize: 50, windows: 100, alpha: 0.05, seed: 3, tests: ['binomial', 'ks'] });
    assert.ok(r.rate.binomial! >= 0.9, `binomial ${r.rate.binomial}`);
    assert.ok(r.rate.ks! >= 0.9, `ks ${r.rate.ks}`);
    const m = runDriftCell(reference, shifted, { windowSize: 20, windows: 30, alpha: 0.05, seed: 4, tests: ['mmd'], permutations: 40 });
    assert.ok(m.rate.mmd! >= 0.8, `mmd ${m.rate.mmd}`);
  });

  it('respects the pool’s allowed indices (class-imbalance style subsets)', () => {
    const sub = { ...clean, scores: Float64Array.from(clean.scores, (s, i) => (i < 100 ? 1e9 : s)), indices: Int32Array.from({ length: 100 }, (_, i) => i) };
    const r = runDriftCell(reference, sub, { windowSize: 10, windows: 20, alpha: 0.05, seed: 5, tests: ['binomial'] });
    assert.equal(r.rate.binomial, 1);
  });
});
