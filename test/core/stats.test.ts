import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { binomialTestGreater } from '../../src/core/stats.js';

const close = (a: number, b: number, rel = 1e-12) => assert.ok(Math.abs(a - b) <= rel * Math.max(Math.abs(b), 1e-300), `${a} vs ${b}`);

test('binomialTestGreater matches hand-computed tails', () => {
  // n=10, p=1/2: P(X>=8) = (C(10,8)+C(10,9)+C(10,10))/2^10 = (45+10+1)/1024
  close(binomialTestGreater(8, 10, 0.5), 56 / 1024);
  // n=5, p=0.2: P(X>=2) = 1 − 0.8^5 − 5·0.2·0.8^4 = 1 − 0.32768 − 0.4096 = 0.26272
  close(binomialTestGreater(2, 5, 0.2), 0.26272);
  // n=4, p=0.1: P(X>=4) = 0.1^4
  close(binomialTestGreater(4, 4, 0.1), 1e-4);
  // n=3, p=0.3: P(X>=1) = 1 − 0.7^3 = 0.657
  close(binomialTestGreater(1, 3, 0.3), 0.657);
  // n=6, p=0.25: P(X>=3) = [C(6,3)·27 + C(6,4)·9 + C(6,5)·3 + 1] / 4^6 = (540+135+18+1)/4096 = 694/4096
  close(binomialTestGreater(3, 6, 0.25), 694 / 4096);
});

test('binomialTestGreater edge cases', () => {
  assert.equal(binomialTestGreater(0, 10, 0.3), 1);
  assert.equal(binomialTestGreater(0, 0, 0.3), 1);
  assert.equal(binomialTestGreater(1, 10, 0), 0);
  assert.equal(binomialTestGreater(10, 10, 1), 1);
});

test('binomialTestGreater agrees with an exact rational sum for n <= 40', () => {
  // pmf with p = a/b exactly: C(n,i) a^i (b−a)^(n−i) / b^n, summed in BigInt.
  const choose = (n: bigint, k: bigint): bigint => {
    let r = 1n;
    for (let i = 1n; i <= k; i++) r = (r * (n - k + i)) / i;
    return r;
  };
  for (const [a, b] of [[1, 20], [3, 10], [1, 2], [9, 10]] as const) {
    for (const n of [1, 7, 25, 40]) {
      for (let k = 0; k <= n; k += 3) {
        let num = 0n;
        for (let i = k; i <= n; i++) num += choose(BigInt(n), BigInt(i)) * BigInt(a) ** BigInt(i) * BigInt(b - a) ** BigInt(n - i);
        const exact = Number((num * 10n ** 30n) / BigInt(b) ** BigInt(n)) / 1e30;
        const got = binomialTestGreater(k, n, a / b);
        assert.ok(Math.abs(got - exact) <= 1e-12 + 1e-10 * exact, `k=${k} n=${n} p=${a}/${b}: ${got} vs ${exact}`);
      }
    }
  }
});

test('binomialTestGreater is accurate far in the tail for large n', () => {
  // n=100000, p=0.01 (mean 1000, sd ≈ 31.46): P(X>=1000) is just above 1/2; P(X>=1200) is ~1e-10.
  const half = binomialTestGreater(1000, 100000, 0.01);
  assert.ok(half > 0.5 && half < 0.52, String(half));
  const tail = binomialTestGreater(1200, 100000, 0.01);
  assert.ok(tail > 1e-11 && tail < 1e-9, String(tail));
});

test('binomialTestGreater rejects invalid arguments naming them', () => {
  assert.throws(() => binomialTestGreater(3, 2, 0.5), (e: unknown) => e instanceof InputError && e.field === 'k');
  assert.throws(() => binomialTestGreater(1, -1, 0.5), (e: unknown) => e instanceof InputError && e.field === 'n');
  assert.throws(() => binomialTestGreater(1, 2, 1.5), (e: unknown) => e instanceof InputError && e.field === 'p');
  assert.throws(() => binomialTestGreater(1, 2, Number.NaN), (e: unknown) => e instanceof InputError && e.field === 'p');
  assert.throws(() => binomialTestGreater(1.5, 2, 0.5), (e: unknown) => e instanceof InputError && e.field === 'k');
});

test('binomialTestGreater does not underflow to 0 below the mean for huge n', () => {
  // pmf(1) for n=1e6, p=0.5 underflows double precision; the tail P(X>=1) is 1.
  assert.equal(binomialTestGreater(1, 1_000_000, 0.5), 1);
  const mid = binomialTestGreater(500_000, 1_000_000, 0.5); // = 1/2 + pmf(500000)/2 ≈ 0.5004
  assert.ok(Math.abs(mid - (0.5 + 0.5 * Math.sqrt(2 / (Math.PI * 1_000_000)))) < 1e-6, String(mid));
});

test('binomialTestGreater agrees with scipy.stats.binom.sf to 1e-9 (relative) up to n = 1e7', () => {
  // Reference values: scipy 1.17 `binom.sf(k - 1, n, p)`, an independent implementation (incomplete beta).
  const cases: [number, number, number, number][] = [
    [5_000_000, 10_000_000, 0.5, 0.5001261566229462],
    [5_003_000, 10_000_000, 0.5, 0.028910642657921592],
    [100_500, 1_000_000, 0.1, 0.04803478220540201],
    [99_000, 1_000_000, 0.1, 0.9995803824844305],
  ];
  for (const [k, n, p, want] of cases) {
    const got = binomialTestGreater(k, n, p);
    assert.ok(Math.abs(got - want) / want < 1e-9, `k=${k} n=${n} p=${p}: ${got} vs scipy ${want}`);
  }
});
