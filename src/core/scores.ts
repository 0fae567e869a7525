/**
 * Stateless score maths over flat typed arrays (no per-sample allocation). Higher = more OOD.
 * `x` is an N×D row-major feature table; `centres` is K×D.
 */

/**
 * MindArmour's index sets: for each centre, the indices of its `m` largest coordinates, in the order Python's
 * `list(c).index` over `heapq.nlargest(m, list(c))` yields them (value descending; a repeated value maps to its first
 * index, exactly as in the tutorial).
 */
export function topCoordinates(centres: Float32Array, k: number, dim: number, m: number): Int32Array {
  const take = Math.min(m, dim);
  const out = new Int32Array(k * take);
  const idx = new Array<number>(dim);
  for (let j = 0; j < k; j++) {
    const c = centres.subarray(j * dim, (j + 1) * dim);
    for (let i = 0; i < dim; i++) idx[i] = i;
    idx.sort((a, b) => c[b]! - c[a]! || a - b);
    for (let t = 0; t < take; t++) {
      const v = c[idx[t]!]!;
      out[j * take + t] = c.indexOf(v); // first occurrence, as list.index does
    }
  }
  return out;
}

/** Σ_{i∈S_j} |c_j[i]| for each centre. */
export function topMass(centres: Float32Array, dim: number, top: Int32Array, k: number): Float64Array {
  const m = top.length / k;
  const out = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let s = 0;
    for (let t = 0; t < m; t++) s += Math.abs(centres[j * dim + top[j * m + t]!]!);
    out[j] = s;
  }
  return out;
}

/** MindArmour score: min_j Σ_{i∈S_j} |c_j[i] − x[i]| / Σ_{i∈S_j} |c_j[i]|. */
export function mindarmourScores(x: Float32Array, rows: number, dim: number, centres: Float32Array, k: number, top: Int32Array, mass: Float64Array, out = new Float64Array(rows)): Float64Array {
  const m = top.length / k;
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let best = Infinity;
    for (let j = 0; j < k; j++) {
      const c = j * dim;
      const tj = j * m;
      let s = 0;
      for (let t = 0; t < m; t++) {
        const i = top[tj + t]!;
        s += Math.abs(centres[c + i]! - x[o + i]!);
      }
      const d = s / mass[j]!;
      if (d < best) best = d;
    }
    out[r] = best;
  }
  return out;
}

/** Euclidean distance to the nearest centre, after the affine map z = (x − shift) · mul (per coordinate). */
export function nearestCentreDistances(x: Float32Array, rows: number, dim: number, centres: Float32Array, k: number, shift: Float32Array | null, mul: Float32Array | null, out = new Float64Array(rows)): Float64Array {
  const z = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    for (let i = 0; i < dim; i++) z[i] = shift && mul ? (x[o + i]! - shift[i]!) * mul[i]! : x[o + i]!;
    let best = Infinity;
    for (let j = 0; j < k; j++) {
      const c = j * dim;
      let d = 0;
      for (let i = 0; i < dim; i++) {
        const t = z[i]! - centres[c + i]!;
        d += t * t;
      }
      if (d < best) best = d;
    }
    out[r] = Math.sqrt(best);
  }
  return out;
}

/**
 * Cosine distance 1 − max_j cos(x, c_j); centres must be unit vectors (FeatureClusterDetector normalises them after
 * KMeans, since a mean of unit vectors is shorter than 1). A zero feature vector scores 1.
 */
export function cosineDistances(x: Float32Array, rows: number, dim: number, centres: Float32Array, k: number, out = new Float64Array(rows)): Float64Array {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let nx = 0;
    for (let i = 0; i < dim; i++) nx += x[o + i]! * x[o + i]!;
    const inv = nx > 0 ? 1 / Math.sqrt(nx) : 0;
    let best = -Infinity;
    for (let j = 0; j < k; j++) {
      const c = j * dim;
      let d = 0;
      for (let i = 0; i < dim; i++) d += x[o + i]! * centres[c + i]!;
      if (d > best) best = d;
    }
    out[r] = 1 - best * inv;
  }
  return out;
}

/**
 * Per-coordinate mean and 1/std. A coordinate whose std is below `eps`·max std (constant in training, e.g. a dead ReLU
 * unit) is centred but not scaled (1/std = 1, as scikit-learn's StandardScaler does): dividing by a floored std made
 * it dominate every score (a 0.001 activation on a dead unit scored 3,392 against 0.86 for a typical row).
 */
export function standardiser(x: Float32Array, rows: number, dim: number, eps = 1e-6): { mean: Float32Array; invStd: Float32Array } {
  const mean = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let r = 0; r < rows; r++) for (let i = 0; i < dim; i++) mean[i] += x[r * dim + i]!;
  for (let i = 0; i < dim; i++) mean[i] /= rows;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < dim; i++) {
      const t = x[r * dim + i]! - mean[i]!;
      sq[i] += t * t;
    }
  }
  let maxStd = 0;
  const std = new Float64Array(dim);
  for (let i = 0; i < dim; i++) {
    std[i] = Math.sqrt(sq[i]! / rows);
    if (std[i]! > maxStd) maxStd = std[i]!;
  }
  const floor = Math.max(maxStd * eps, 1e-12);
  const invStd = new Float32Array(dim);
  for (let i = 0; i < dim; i++) invStd[i] = std[i]! < floor ? 1 : 1 / std[i]!;
  return { mean: Float32Array.from(mean), invStd };
}

export function affine(x: Float32Array, rows: number, dim: number, shift: Float32Array, mul: Float32Array): Float32Array {
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) for (let i = 0; i < dim; i++) out[r * dim + i] = (x[r * dim + i]! - shift[i]!) * mul[i]!;
  return out;
}

export function l2Normalise(x: Float32Array, rows: number, dim: number): Float32Array {
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let i = 0; i < dim; i++) n += x[r * dim + i]! ** 2;
    const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let i = 0; i < dim; i++) out[r * dim + i] = x[r * dim + i]! * inv;
  }
  return out;
}

/**
 * Activation shortfall: min_j Σ_{i: c_j[i]>0} max(0, c_j[i] − x[i]) / Σ_{i: c_j[i]>0} c_j[i].
 * The share of the nearest prototype's positive activation that the sample fails to reach. Overshoot is not
 * penalised (confident in-distribution samples often exceed their centre), and every positive coordinate counts,
 * not only the top-nCluster ones. 0 = reaches a centre fully; 1 = activates none of it.
 */
export function shortfallScores(x: Float32Array, rows: number, dim: number, centres: Float32Array, k: number, posMass: Float64Array, out = new Float64Array(rows)): Float64Array {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let best = Infinity;
    for (let j = 0; j < k; j++) {
      const c = j * dim;
      let s = 0;
      for (let i = 0; i < dim; i++) {
        const v = centres[c + i]!;
        if (v > 0) {
          const gap = v - x[o + i]!;
          if (gap > 0) s += gap;
        }
      }
      const d = s / posMass[j]!;
      if (d < best) best = d;
    }
    out[r] = best;
  }
  return out;
}

/** Σ of the positive coordinates of each centre. */
export function positiveMass(centres: Float32Array, k: number, dim: number): Float64Array {
  const out = new Float64Array(k);
  for (let j = 0; j < k; j++) for (let i = 0; i < dim; i++) if (centres[j * dim + i]! > 0) out[j] += centres[j * dim + i]!;
  return out;
}
