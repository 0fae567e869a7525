/**
 * The baseline the vectorised permutation MMD (src/core/drift.ts `mmdDrift`) is measured against: the same kernel
 * (`rbfKernelUpper`), bandwidth and permutation sequence, but each permutation's MMD² computed by its own pass over
 * the kernel (what "one loop pass per permutation" means). Deliberately plain; used by the drift benchmark for the speed ratio
 * and by test/core/drift.test.ts to check that both give the same statistic and p-value.
 */
import { rbfKernelUpper } from '../../src/core/drift.js';
import { mulberry32 } from '../../src/core/random.js';
import type { Matrix } from '../../src/core/tensor.js';

export function mmdPerPermutation(reference: Matrix, data: Matrix, opts: { permutations: number; seed: number }): { statistic: number; pValue: number } {
  const n = reference.rows;
  const m = data.rows;
  const N = n + m;
  const d = reference.cols;
  const X = new Float64Array(N * d);
  X.set(reference.data.subarray(0, n * d));
  X.set(data.data.subarray(0, m * d), n * d);
  const { K } = rbfKernelUpper(X, N, d); // the same kernel as mmdDrift (upper triangle, unit diagonal)
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
