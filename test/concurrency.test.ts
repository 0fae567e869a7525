import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapBounded, mapSettledBounded } from '../src/concurrency.js';

/** Resolves after `ms` of timers, so calls finish in an order other than the items'. */
const after = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

test('mapSettledBounded: results in item order, at most `width` calls at once, failures kept in place', async () => {
  let running = 0;
  let peak = 0;
  const delays = [30, 5, 20, 1, 15, 2, 25, 3, 10];
  const out = await mapSettledBounded(delays, 3, async (d, i) => {
    running++;
    peak = Math.max(peak, running);
    await after(d);
    running--;
    if (i === 4) throw new Error('four');
    return d * 10 + i;
  });
  assert.equal(peak, 3);
  assert.equal(out.length, delays.length);
  out.forEach((r, i) => {
    if (i === 4) assert.deepEqual(Object.keys(r as object), ['error']);
    else assert.equal(r, delays[i]! * 10 + i);
  });
});

test('mapBounded: throws the first failure in item order, not the first to happen', async () => {
  // Item 1 fails late, item 5 fails at once: item 1's error is the one reported.
  const p = mapBounded([0, 1, 2, 3, 4, 5], 6, async (x) => {
    await after(x === 1 ? 40 : 1);
    if (x === 1 || x === 5) throw new Error(`item ${x}`);
    return x;
  });
  await assert.rejects(p, /item 1/);
  assert.deepEqual(await mapBounded([3, 1, 2], 2, async (x) => { await after(x * 5); return x; }), [3, 1, 2]);
  assert.deepEqual(await mapBounded([], 4, async (x: number) => x), []);
});
