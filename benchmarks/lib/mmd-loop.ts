/**
 * The two baselines `mmdDrift` (src/core/drift.ts) is measured against, on the same kernel (`pooledKernel`),
 * bandwidth and permutation sequence:
 * - `mmdPerPermutation`: each permutation's MMD² = wᵀKw by its own pass over the kernel ("one loop pass per
 *   permutation"); deliberately plain;
 * - `mmdVectorised`: all permutations at once as W (N×(P+1)) and one tiled pass computing K·W (the textbook
 *   vectorisation; it was `mmdDrift`'s method until the group-block identity measured faster).
 * Used by the drift benchmark for the speed ratios and by test/core/drift.test.ts, which checks that all three give the
 * same statistic and p-value.
 */
import { pooledKernel } from '../../src/core/drift.js';
import { mulberry32 } from '../../src/core/random.js';
import type { Matrix } from '../../src/core/tensor.js';

export function mmdPerPermutation(reference: Matrix, data: Matrix, opts: { permutations: number; seed: number }): { statistic: number; pValue: number } {
  const n = reference.rows;
  const m = data.rows;
  const { K, N } = pooledKernel(reference, data); // the same kernel as mmdDrift (upper triangle, unit diagonal)
  const w = new Float64Array(N);
  // One pass over the kernel for one weight vector: wᵀKw = Σ_i w_i² + 2·Σ_{i<j} w_i·w_j·K_ij.
  const mmdOf = (): number => {
    let total = 0;
    for (let i = 0; i < N; i++) {
      let kw = 0;
      for (let j = i + 1; j < N; j++) kw += K[i * N + j]! * w[j]!;
      total += w[i]! * (w[i]! + 2 * kw);
    }
    return total;
  };
  for (let i = 0; i < N; i++) w[i] = i < n ? 1 / n : -1 / m;
  const observed = mmdOf();
  const rnd = mulberry32(opts.seed);
  const perm = Int32Array.from({ length: N }, (_, i) => i);
  let ge = 0;
  for (let c = 0; c < opts.permutations; c++) {
    for (let i = N - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      const t = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = t;
    }
    for (let i = 0; i < N; i++) w[perm[i]!] = i < n ? 1 / n : -1 / m;
    if (mmdOf() >= observed - 1e-12) ge++;
  }
  return { statistic: observed, pValue: (1 + ge) / (1 + opts.permutations) };
}

/** All permutations as one weight matrix: MMD²_c = Σ_i W[i,c]·(K·W)[i,c]. */
export function mmdVectorised(reference: Matrix, data: Matrix, opts: { permutations: number; seed: number }): { statistic: number; pValue: number } {
  const n = reference.rows;
  const m = data.rows;
  const { K, N } = pooledKernel(reference, data); // the same kernel as mmdDrift (upper triangle, unit diagonal)
  const cols = opts.permutations + 1; // column 0 is the observed split
  const W = new Float64Array(N * cols);
  const rnd = mulberry32(opts.seed);
  const perm = Int32Array.from({ length: N }, (_, i) => i);
  for (let c = 0; c < cols; c++) {
    if (c > 0) {
      for (let i = N - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        const t = perm[i]!;
        perm[i] = perm[j]!;
        perm[j] = t;
      }
    }
    for (let i = 0; i < N; i++) W[(c === 0 ? i : perm[i]!) * cols + c] = i < n ? 1 / n : -1 / m;
  }
  const KW = kernelTimes(K, W, N, cols);
  const mmd = new Float64Array(cols);
  for (let i = 0; i < N; i++) for (let c = 0; c < cols; c++) mmd[c] += W[i * cols + c]! * KW[i * cols + c]!;
  const observed = mmd[0]!;
  let ge = 0;
  for (let c = 1; c < cols; c++) if (mmd[c]! >= observed - 1e-12) ge++;
  return { statistic: observed, pValue: (1 + ge) / cols };
}

/** Rows of i and j in blocks of this many, so the W and KW rows a block touches stay in cache. */
const KW_BLOCK = 128;

/**
 * K·W for a symmetric kernel given by its upper triangle (unit diagonal) and an N×cols weight matrix: every K_ij,
 * i < j, is read once and updates rows i and j, in KW_BLOCK × KW_BLOCK tiles.
 */
function kernelTimes(K: Float64Array, W: Float64Array, N: number, cols: number): Float64Array {
  const KW = Float64Array.from(W); // the diagonal term: K_ii = 1
  for (let I = 0; I < N; I += KW_BLOCK) {
    const iEnd = Math.min(N, I + KW_BLOCK);
    for (let J = I; J < N; J += KW_BLOCK) {
      const jEnd = Math.min(N, J + KW_BLOCK);
      for (let i = I; i < iEnd; i++) {
        const wi = i * cols;
        for (let j = Math.max(J, i + 1); j < jEnd; j++) {
          const kij = K[i * N + j]!;
          const wj = j * cols;
          for (let c = 0; c < cols; c++) {
            KW[wi + c] += kij * W[wj + c]!;
            KW[wj + c] += kij * W[wi + c]!;
          }
        }
      }
    }
  }
  return KW;
}
