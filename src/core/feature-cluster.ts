import { InputError } from './errors.js';
import { fitKMeans, KMEANS_DEFAULTS, validateNCluster, type KMeansFit, type KMeansParams } from './kmeans.js';
import { affine, cosineDistances, positiveMass, shortfallScores, l2Normalise, mindarmourScores, nearestCentreDistances, standardiser, topCoordinates, topMass } from './scores.js';
import type { Detector, FittedDetector } from './detector.js';
import { assertFinite, assertScoreInput, matrix, type Matrix } from './tensor.js';

/**
 * The feature-cluster detector (MindArmour's OodDetectorFeatureCluster): KMeans on one layer's features of the
 * training images; a sample's score is its distance to the nearest centre. Fitted once; scoring never refits.
 *
 * Score modes:
 * - `mindarmour`: the tutorial's relative L1 distance over each centre's top-`nCluster` coordinates (parity mode).
 * - `shortfall`: share of the nearest centre's positive activation the sample fails to reach (one-sided, all
 *   positive coordinates). OOD images under-activate the learned features; see docs/SCORE-MODES.md.
 * - `euclidean`: L2 distance to the nearest centre on raw features.
 * - `standardized`: features z-scored with the training mean/std, KMeans and L2 distance in that space.
 * - `cosine`: features L2-normalised, KMeans on the unit sphere, score 1 − max cosine similarity.
 */
export const SCORE_MODES = ['mindarmour', 'shortfall', 'euclidean', 'standardized', 'cosine'] as const;
export type ScoreMode = (typeof SCORE_MODES)[number];
/** Chosen by measurement on the seed files and MNIST vs CIFAR-10 (docs/SCORE-MODES.md). */
export const DEFAULT_SCORE_MODE: ScoreMode = 'shortfall';

export interface FeatureClusterParams {
  readonly nCluster: number;
  readonly score: ScoreMode;
  readonly seed: number;
  readonly nInit: number;
  readonly maxIterations: number;
}

/** Fitted state: plain data, serialisable as JSON plus Float32Arrays. */
export interface FeatureClusterState {
  readonly kind: 'feature-cluster';
  readonly params: FeatureClusterParams;
  readonly dim: number;
  readonly nTrain: number;
  readonly inertia: number;
  /** nCluster × dim, in the space the score mode works in (raw, standardised or unit-normalised). */
  readonly centres: Float32Array;
  /** Present for `standardized`: training mean and 1/std per coordinate. */
  readonly mean?: Float32Array;
  readonly invStd?: Float32Array;
}

function featureClusterParams(p: Partial<FeatureClusterParams> & { nCluster: number }): FeatureClusterParams {
  const score = p.score ?? DEFAULT_SCORE_MODE;
  if (!SCORE_MODES.includes(score)) throw new InputError('score', `unknown score mode '${String(score)}'; expected one of ${SCORE_MODES.join(', ')}`);
  const seed = p.seed ?? 0;
  if (!Number.isInteger(seed)) throw new InputError('seed', `must be an integer, got ${seed}`);
  return { nCluster: p.nCluster, score, seed, nInit: p.nInit ?? KMEANS_DEFAULTS.nInit, maxIterations: p.maxIterations ?? KMEANS_DEFAULTS.maxIterations };
}

export class FeatureClusterDetector implements Detector<FittedFeatureCluster> {
  readonly kind = 'feature-cluster';
  readonly needsClasses = false;
  readonly params: FeatureClusterParams;

  constructor(params: Partial<FeatureClusterParams> & { nCluster: number }) {
    this.params = featureClusterParams(params);
  }

  checkTrainingSize(nSamples: number): void {
    if (nSamples === 0) throw new InputError('features', 'is empty (0 samples)');
    validateNCluster(this.params.nCluster, nSamples);
  }

  fit(features: Matrix): FittedFeatureCluster {
    const prep = this.prepare(features);
    return this.finish(prep, fitKMeans(prep.space, prep.kmeans));
  }

  /**
   * The fit up to KMeans: checks the features, maps them into the space the score mode clusters in and plans the
   * initialisations. `fit` is `finish(prep, fitKMeans(prep.space, prep.kmeans))`; src/service/fit-runner.ts runs the
   * initialisations on several threads in between instead, with the same result.
   */
  prepare(features: Matrix): FeatureClusterPrep {
    const { rows, cols, data } = matrix(features.data, features.rows, features.cols);
    this.checkTrainingSize(rows);
    assertFinite(data, cols, 'features', 'feature');
    let space = data;
    let mean: Float32Array | undefined;
    let invStd: Float32Array | undefined;
    if (this.params.score === 'standardized') {
      ({ mean, invStd } = standardiser(data, rows, cols));
      space = affine(data, rows, cols, mean, invStd);
    } else if (this.params.score === 'cosine') {
      space = l2Normalise(data, rows, cols);
    }
    return { space: { data: space, rows, cols }, kmeans: { ...this.params, tolerance: KMEANS_DEFAULTS.tolerance }, ...(mean && invStd ? { mean, invStd } : {}) };
  }

  /** The fitted detector from `prepare`'s output and the KMeans fitted on its space. */
  finish(prep: FeatureClusterPrep, km: KMeansFit): FittedFeatureCluster {
    const { rows, cols } = prep.space;
    if (km.dim !== cols || km.nCluster !== this.params.nCluster) throw new RangeError(`KMeans of ${km.nCluster}×${km.dim} for a ${this.params.nCluster}×${cols} fit`);
    const state: FeatureClusterState = {
      kind: 'feature-cluster',
      params: this.params,
      dim: cols,
      nTrain: rows,
      inertia: km.inertia,
      // A centre is a mean of unit vectors, shorter than 1: the cosine score needs its direction only. (Unnormalised, the
      // score was 1 − |c|·cos, pulled towards tight clusters: a sample along a centre of length 0.71 scored 0.29, not 0.)
      centres: this.params.score === 'cosine' ? l2Normalise(km.centres, km.nCluster, cols) : km.centres,
      ...(prep.mean && prep.invStd ? { mean: prep.mean, invStd: prep.invStd } : {}),
    };
    return new FittedFeatureCluster(state);
  }
}

/** `FeatureClusterDetector.prepare`'s output: the features in clustering space, the KMeans parameters, the standardiser. */
export interface FeatureClusterPrep {
  readonly space: Matrix;
  readonly kmeans: KMeansParams;
  readonly mean?: Float32Array;
  readonly invStd?: Float32Array;
}

export class FittedFeatureCluster implements FittedDetector {
  readonly kind = 'feature-cluster';
  readonly state: FeatureClusterState;
  private readonly top: Int32Array | undefined;
  private readonly mass: Float64Array | undefined;

  constructor(state: FeatureClusterState) {
    const { centres, dim, params } = state;
    if (centres.length !== params.nCluster * dim) throw new InputError('centres', `has ${centres.length} values, expected nCluster×dim = ${params.nCluster}×${dim}`);
    if (params.score === 'standardized' && (state.mean?.length !== dim || state.invStd?.length !== dim)) {
      throw new InputError('mean', `standardized mode needs mean and invStd of length ${dim}`);
    }
    this.state = state;
    if (params.score === 'mindarmour') {
      this.top = topCoordinates(centres, params.nCluster, dim, params.nCluster);
      this.mass = topMass(centres, dim, this.top, params.nCluster);
      const zero = this.mass.findIndex((m) => !(m > 0));
      if (zero >= 0) throw new InputError(`centres[${zero}]`, 'centre has zero mass over its top coordinates; the mindarmour score is undefined for it');
    } else if (params.score === 'shortfall') {
      this.mass = positiveMass(centres, params.nCluster, dim);
      const zero = this.mass.findIndex((m) => !(m > 0));
      if (zero >= 0) throw new InputError(`centres[${zero}]`, 'centre has no positive coordinate; the shortfall score is undefined for it (use a layer with positive activations)');
    }
  }

  get dim(): number {
    return this.state.dim;
  }

  get nTrain(): number {
    return this.state.nTrain;
  }

  get params(): FeatureClusterParams {
    return this.state.params;
  }

  get stats(): Record<string, number> {
    return { inertia: this.state.inertia };
  }

  arrays(): Record<string, Float32Array> {
    const { centres, mean, invStd } = this.state;
    return { centres, ...(mean ? { mean } : {}), ...(invStd ? { invStd } : {}) };
  }

  /** Rebuilds from persisted parts (see src/core/detectors.ts). */
  static restore(params: FeatureClusterParams, dim: number, nTrain: number, stats: Record<string, number>, arrays: Record<string, Float32Array>): FittedFeatureCluster {
    const centres = arrays.centres;
    if (!centres) throw new InputError('arrays.centres', 'is missing');
    const { mean, invStd } = arrays;
    return new FittedFeatureCluster({ kind: 'feature-cluster', params, dim, nTrain, inertia: stats.inertia ?? 0, centres, ...(mean ? { mean } : {}), ...(invStd ? { invStd } : {}) });
  }

  /** Higher = more OOD. One score per row, in row order; throws if a feature row is not finite. */
  score(features: Matrix): Float64Array {
    const { rows, cols, data } = features;
    const { dim, centres, params } = this.state;
    assertScoreInput(features, dim);
    assertFinite(data, cols, 'features', 'feature');
    const k = params.nCluster;
    switch (params.score) {
      case 'mindarmour':
        return mindarmourScores(data, rows, dim, centres, k, this.top!, this.mass!);
      case 'shortfall':
        return shortfallScores(data, rows, dim, centres, k, this.mass!);
      case 'euclidean':
        return nearestCentreDistances(data, rows, dim, centres, k, null, null);
      case 'standardized':
        return nearestCentreDistances(data, rows, dim, centres, k, this.state.mean!, this.state.invStd!);
      case 'cosine':
        return cosineDistances(data, rows, dim, centres, k);
    }
  }
}
