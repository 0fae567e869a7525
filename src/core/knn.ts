import type { Detector, FittedDetector } from './detector.js';
import { InputError } from './errors.js';
import { subsampleRows } from './random.js';
import { kthSmallest } from './stats.js';
import { l2Normalise } from './scores.js';
import { assertFinite, assertScoreInput, matrix, type Matrix } from './tensor.js';

/**
 * k-nearest-neighbour distance to the training features (Sun et al. 2022): score = distance to the k-th nearest
 * training sample. `cosine` L2-normalises features first (distance 1 − cos); `l2` uses raw Euclidean distance.
 * Exact search, one query at a time against the whole bank with one reused distance buffer, so memory stays bounded by
 * the bank. The bank is the training set, or a seeded uniform subsample of `maxBank` rows (order preserved).
 */
export interface KnnParams {
  readonly k: number;
  readonly metric: 'cosine' | 'l2';
  readonly maxBank: number;
  readonly seed: number;
}

export const KNN_DEFAULTS: KnnParams = { k: 50, metric: 'cosine', maxBank: 10000, seed: 0 };

/** Queries scored per pass over the bank: each bank value read is used for this many queries. */
const QUERY_BLOCK = 4;

/**
 * k-th nearest distance of each query row to the bank. Exact. The queries go through the bank four at a time, so each
 * bank row is read once per four queries (2.1–2.3× faster than one query per pass, measured on a 54k × 1176 bank;
 * eight per pass is no faster). l2 uses |q|² + |b|² − 2 q·b with the bank's squared norms computed once, clamped
 * at 0 against rounding; cosine uses 1 − q̂·b̂ (the bank is stored normalised).
 */
function knnScores(q: Float32Array, rows: number, dim: number, bank: Float32Array, k: number, metric: 'cosine' | 'l2'): Float64Array {
  const nb = bank.length / dim;
  const out = new Float64Array(rows);
  const l2 = metric === 'l2';
  const bankSq = new Float64Array(l2 ? nb : 0);
  if (l2) {
    for (let b = 0; b < nb; b++) {
      let s = 0;
      for (let i = b * dim, e = i + dim; i < e; i++) s += bank[i]! * bank[i]!;
      bankSq[b] = s;
    }
  }
  const dist = Array.from({ length: QUERY_BLOCK }, () => new Float64Array(nb));
  const [d0, d1, d2, d3] = dist as [Float64Array, Float64Array, Float64Array, Float64Array];
  const z = new Float64Array(QUERY_BLOCK * dim); // the block's queries (normalised for cosine); zero rows pad the last block
  const qSq = new Float64Array(QUERY_BLOCK);
  for (let r0 = 0; r0 < rows; r0 += QUERY_BLOCK) {
    const m = Math.min(QUERY_BLOCK, rows - r0);
    z.fill(0);
    for (let j = 0; j < m; j++) {
      const o = (r0 + j) * dim;
      let norm = 0;
      for (let i = 0; i < dim; i++) norm += q[o + i]! * q[o + i]!;
      const inv = !l2 && norm > 0 ? 1 / Math.sqrt(norm) : 1;
      for (let i = 0; i < dim; i++) z[j * dim + i] = q[o + i]! * inv;
      qSq[j] = norm;
    }
    for (let b = 0; b < nb; b++) {
      const bo = b * dim;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let i = 0; i < dim; i++) {
        const x = bank[bo + i]!;
        s0 += z[i]! * x;
        s1 += z[dim + i]! * x;
        s2 += z[2 * dim + i]! * x;
        s3 += z[3 * dim + i]! * x;
      }
      if (l2) {
        const bs = bankSq[b]!;
        d0[b] = Math.max(0, qSq[0]! + bs - 2 * s0);
        d1[b] = Math.max(0, qSq[1]! + bs - 2 * s1);
        d2[b] = Math.max(0, qSq[2]! + bs - 2 * s2);
        d3[b] = Math.max(0, qSq[3]! + bs - 2 * s3);
      } else {
        d0[b] = 1 - s0;
        d1[b] = 1 - s1;
        d2[b] = 1 - s2;
        d3[b] = 1 - s3;
      }
    }
    for (let j = 0; j < m; j++) {
      const kth = kthSmallest(dist[j]!, nb, k);
      out[r0 + j] = l2 ? Math.sqrt(kth) : kth;
    }
  }
  return out;
}

class FittedKnn implements FittedDetector {
  readonly kind = 'knn';
  constructor(
    readonly params: KnnParams,
    readonly dim: number,
    readonly nTrain: number,
    private readonly bank: Float32Array,
  ) {}

  get stats(): Record<string, number> {
    return { bankSize: this.bank.length / this.dim };
  }

  arrays(): Record<string, Float32Array> {
    return { bank: this.bank };
  }

  score(f: Matrix): Float64Array {
    assertScoreInput(f, this.dim);
    assertFinite(f.data, f.cols, 'features', 'feature');
    return knnScores(f.data, f.rows, f.cols, this.bank, this.params.k, this.params.metric);
  }

  static restore(params: KnnParams, dim: number, nTrain: number, arrays: Record<string, Float32Array>): FittedDetector {
    const bank = arrays.bank;
    if (!bank || bank.length % dim !== 0 || bank.length / dim < params.k) throw new InputError('arrays.bank', `is missing or does not hold ≥ k rows of ${dim}`);
    return new FittedKnn(params, dim, nTrain, bank);
  }
}

export class KnnDetector implements Detector {
  readonly kind = 'knn';
  readonly needsClasses = false;
  readonly params: KnnParams;

  constructor(params: Partial<KnnParams> = {}) {
    const p = { ...KNN_DEFAULTS, ...params };
    if (!Number.isInteger(p.k) || p.k < 1) throw new InputError('k', `must be a positive integer, got ${p.k}`);
    if (p.metric !== 'cosine' && p.metric !== 'l2') throw new InputError('metric', `must be 'cosine' or 'l2', got ${String(p.metric)}`);
    if (!Number.isInteger(p.maxBank) || p.maxBank < 1) throw new InputError('maxBank', `must be a positive integer, got ${p.maxBank}`);
    if (!Number.isInteger(p.seed)) throw new InputError('seed', `must be an integer, got ${p.seed}`);
    this.params = p;
  }

  checkTrainingSize(nSamples: number): void {
    const bank = Math.min(nSamples, this.params.maxBank);
    if (this.params.k > bank) throw new InputError('k', `k=${this.params.k} exceeds the bank size ${bank} (${nSamples} training samples, maxBank ${this.params.maxBank})`);
  }

  fit(f: Matrix): FittedDetector {
    const { rows, cols } = matrix(f.data, f.rows, f.cols);
    this.checkTrainingSize(rows);
    assertFinite(f.data, cols, 'features', 'feature');
    const pick = subsampleRows(rows, this.params.maxBank, this.params.seed);
    const raw = new Float32Array(pick.length * cols);
    for (let i = 0; i < pick.length; i++) raw.set(f.data.subarray(pick[i]! * cols, (pick[i]! + 1) * cols), i * cols);
    const bank = this.params.metric === 'cosine' ? l2Normalise(raw, pick.length, cols) : raw;
    return new FittedKnn(this.params, cols, rows, bank);
  }

  static restore = FittedKnn.restore;
}
