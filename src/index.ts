/** Public API of the imagedrift package. Heavy modules (onnxruntime, sharp) load lazily on first use. */
export * from './core/errors.js';
export type { Tensor, DecodedArray, Matrix, Layout, DType } from './core/tensor.js';
export { FeatureClusterDetector, FittedFeatureCluster, SCORE_MODES, DEFAULT_SCORE_MODE, type ScoreMode, type FeatureClusterParams, type FeatureClusterState } from './core/feature-cluster.js';
export { exactThreshold, gridThreshold, applyThreshold, type ThresholdFit } from './core/threshold.js';
export { auroc, detectionMetrics, accuracy, type DetectionMetrics } from './core/metrics.js';
export { toModelInput, defaultPreprocess, type PreprocessConfig, type InputSpec } from './core/preprocess.js';
export type { DetectorBundle, Calibration, DetectorManifest } from './core/bundle.js';
export { loadData, loadLabels, decodeBytes } from './io/load.js';
export { decodeNpy, encodeNpy } from './io/npy.js';
export { DEFAULT_DECODE_LIMITS, type DecodeLimits } from './io/limits.js';
export { fitDetector, calibrateDetector, predictData, scoreData } from './service/detector-service.js';
export { DetectorRepository } from './storage/detector-repository.js';
export { LocalDirStore } from './storage/local-dir-store.js';
export { OodDetectorFeatureCluster } from './compat/mindarmour.js';
export { LIBRARY_VERSION } from './version.js';
