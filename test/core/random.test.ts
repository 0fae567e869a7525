import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { RowReservoir, seedFrom, subsampleRows } from '../../src/core/random.js';
import { selectRows } from '../../src/core/tensor.js';

/** A stream of `n` rows of width 2 whose values name the row: row i = [i, -i]. */
function stream(n: number, blocks: number[]): { data: Float32Array; rows: number; cols: number }[] {
  const out = [];
  let at = 0;
  for (const b of blocks) {
    out.push({ data: Float32Array.from({ length: b * 2 }, (_, k) => (k % 2 ? -1 : 1) * (at + Math.floor(k / 2))), rows: b, cols: 2 });
    at += b;
  }
  assert.equal(at, n);
  return out;
}

describe('seeded sampling', () => {
  it('RowReservoir keeps every row while under capacity, in arrival order', () => {
    const r = new RowReservoir(10, 2, 1);
    for (const b of stream(7, [3, 4])) r.add(b);
    assert.equal(r.seen, 7);
    assert.deepEqual(Array.from(r.sample().data), [0, -0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6]);
  });

  it('RowReservoir: whole rows, arrival order, the same sample for the same stream and seed whatever the block sizes', () => {
    const a = new RowReservoir(50, 2, 7);
    const b = new RowReservoir(50, 2, 7);
    const c = new RowReservoir(50, 2, 8);
    for (const x of stream(1000, [1000])) a.add(x);
    for (const x of stream(1000, [1, 499, 250, 250])) b.add(x);
    for (const x of stream(1000, [1000])) c.add(x);
    const s = a.sample();
    assert.equal(s.rows, 50);
    assert.deepEqual(s, b.sample());
    assert.notDeepEqual(s, c.sample());
    const ids = Array.from({ length: 50 }, (_, i) => s.data[2 * i]!);
    for (let i = 0; i < 50; i++) assert.equal(s.data[2 * i + 1], -ids[i]!, 'row values stay together');
    for (let i = 1; i < 50; i++) assert.ok(ids[i]! > ids[i - 1]!, 'arrival order, no repeats');
  });

  it('RowReservoir is uniform: each of 40 rows is kept with probability 10/40 (10,000 seeds, chi-square)', () => {
    const counts = new Array<number>(40).fill(0);
    const runs = 10000;
    for (let seed = 0; seed < runs; seed++) {
      const r = new RowReservoir(10, 2, seed);
      for (const x of stream(40, [13, 27])) r.add(x);
      const s = r.sample();
      for (let i = 0; i < s.rows; i++) counts[s.data[2 * i]!]!++;
    }
    const expected = (runs * 10) / 40;
    const chi2 = counts.reduce((a, c) => a + (c - expected) ** 2 / expected, 0);
    // 39 degrees of freedom: the 99.9% quantile is 72.1. Counts are not independent across rows (10 per run), which
    // only lowers the statistic, so a failure here is a real bias, not noise.
    assert.ok(chi2 < 72.1, `chi-square ${chi2.toFixed(1)} over counts ${counts.join(',')}`);
  });

  it('RowReservoir rejects a bad capacity and rows of another width, naming them', () => {
    assert.throws(() => new RowReservoir(0, 2, 0), (e: unknown) => e instanceof InputError && e.field === 'capacity');
    assert.throws(() => new RowReservoir(3, 2, 0).add({ data: new Float32Array(3), rows: 1, cols: 3 }), (e: unknown) => e instanceof InputError && e.field === 'rows');
  });

  it('subsampleRows and selectRows: sorted distinct indices, rows copied in the given order', () => {
    const idx = subsampleRows(100, 10, 3);
    assert.equal(idx.length, 10);
    assert.equal(new Set(idx).size, 10);
    assert.deepEqual(Array.from(idx), Array.from(idx).sort((a, b) => a - b));
    assert.deepEqual(Array.from(subsampleRows(5, 10, 3)), [0, 1, 2, 3, 4]);
    const m = { data: Float32Array.of(0, 1, 10, 11, 20, 21), rows: 3, cols: 2 };
    assert.deepEqual(selectRows(m, [2, 0]), { data: Float32Array.of(20, 21, 0, 1), rows: 2, cols: 2 });
    assert.throws(() => selectRows(m, [3]), (e: unknown) => e instanceof InputError && e.field === 'rows');
  });

  it('seedFrom is a stable FNV-1a over the parts (boundaries count)', () => {
    assert.equal(seedFrom(), 0x811c9dc5);
    assert.equal(seedFrom('a'), seedFrom('a'));
    assert.notEqual(seedFrom('ab', 'c'), seedFrom('a', 'bc'));
    // FNV-1a of "a\0": ((0x811c9dc5 ^ 0x61) * 0x01000193) ^ 0) * 0x01000193, mod 2^32.
    const step = (h: number, b: number) => Math.imul(h ^ b, 0x01000193) >>> 0;
    assert.equal(seedFrom('a'), step(step(0x811c9dc5, 0x61), 0));
  });
});
