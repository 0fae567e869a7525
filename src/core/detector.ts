import type { Matrix } from './tensor.js';

/**
 * The detector contract every method follows (scikit-learn / PyOD style):
 * parameters go in at construction; `fit(features)` returns a fitted detector whose state is plain data
 * (`params` + `stats` as JSON, `arrays` as float32); `score(features)` returns one score per row, higher = more OOD.
 * Thresholds and 0/1 decisions are shared (src/core/threshold.ts); persistence is shared (src/core/bundle.ts);
 * the registry of kinds is src/core/detectors.ts.
 */
export interface FittedDetector {
  readonly kind: string;
  /** Feature dimension seen in fit; scoring checks it. */
  readonly dim: number;
  readonly nTrain: number;
  /** The constructor parameters, as given (never changed by fit). */
  readonly params: object;
  /** Scalar fit statistics (inertia, shrinkage, …), for reports. */
  readonly stats: Readonly<Record<string, number>>;
  /**
   * Learned arrays by name (`centres`, `means`, …). These are the detector's live state, not copies (as scikit-learn's
   * fitted attributes are: a kNN bank can be hundreds of MB): writing to them changes later scores and no longer
   * matches the bundle's fitId. Copy before modifying; persistence (toStored) only reads them.
   */
  arrays(): Record<string, Float32Array>;
  score(features: Matrix): Float64Array;
}

/** What fit may use besides the features: class labels (Mahalanobis uses the model's predicted classes). */
export interface FitContext {
  readonly classes?: Int32Array;
  /** For detectors reading several layers (ensemble): each layer's column range in the feature table. */
  readonly columns?: Readonly<Record<string, readonly [number, number]>>;
}

export interface Detector<F extends FittedDetector = FittedDetector> {
  readonly kind: string;
  readonly params: object;
  /** True when fit needs `FitContext.classes`. */
  readonly needsClasses: boolean;
  /**
   * Throws the InputError fit would throw for a training set of `nSamples` rows (too few for nCluster, k, a holdout),
   * so a service can refuse a request before extracting any feature. fit calls it itself: one rule, one place.
   */
  checkTrainingSize(nSamples: number): void;
  fit(features: Matrix, ctx?: FitContext): F;
}
