import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InputError } from '../../src/core/errors.js';
import { countDistinctRows, fitKMeans } from '../../src/core/kmeans.js';
import type { Matrix } from '../../src/core/tensor.js';

const matrix = (rows: number[][]): Matrix => ({ data: Float32Array.from(rows.flat()), rows: rows.length, cols: rows[0]!.length });
const params = (nCluster: number) => ({ nCluster, seed: 0, nInit: 4, maxIterations: 300, tolerance: 1e-4 });

describe('fitKMeans with fewer distinct rows than clusters', () => {
  // Before, whether this failed depended on how the iterations went: [2,2]×10 with k=2 returned two identical
  // centres, with k=3 it threw; 3 distinct points with k=4 returned a duplicate centre.
  const cases: [string, number[][], number, number][] = [
    ['one distinct row, k=2', Array.from({ length: 10 }, () => [2, 2]), 2, 1],
    ['one distinct row, k=3', Array.from({ length: 10 }, () => [2, 2]), 3, 1],
    ['two distinct rows, k=3', Array.from({ length: 10 }, (_, i) => (i % 2 ? [0, 0] : [3, 3])), 3, 2],
    ['three distinct rows, k=4', Array.from({ length: 30 }, (_, i) => [[0, 0], [1, 1], [5, 5]][i % 3]!), 4, 3],
  ];
  for (const [name, rows, k, distinct] of cases) {
    it(`${name}: one InputError on nCluster that says how many distinct rows there are`, () => {
      assert.throws(
        () => fitKMeans(matrix(rows), params(k)),
        (e: unknown) => e instanceof InputError && e.field === 'nCluster' && e.message.includes(`only ${distinct} distinct row`),
      );
    });
  }

  it('exactly as many distinct rows as clusters fits, one centre per distinct row', () => {
    const fit = fitKMeans(matrix(Array.from({ length: 30 }, (_, i) => [[0, 0], [1, 1], [5, 5]][i % 3]!)), params(3));
    const centres = [0, 1, 2].map((j) => Array.from(fit.centres.subarray(2 * j, 2 * j + 2)).join(',')).sort();
    assert.deepEqual(centres, ['0,0', '1,1', '5,5']);
    assert.equal(fit.inertia, 0);
  });

  it('countDistinctRows stops at the limit and treats −0 and +0 as equal', () => {
    assert.equal(countDistinctRows(matrix([[0, -0], [-0, 0], [0, 0]]), 5), 1);
    assert.equal(countDistinctRows(matrix([[1], [2], [3], [4]]), 2), 2);
    assert.equal(countDistinctRows(matrix([[1], [2], [1], [2]]), 10), 2);
  });
});
