import type { DetectorBundle } from '../core/bundle.js';
import type { DecodedArray, Tensor } from '../core/tensor.js';
import { ImagedriftError, ModelError } from '../core/errors.js';
import { validateNCluster } from '../core/kmeans.js';
import { checkLayers } from '../model/graph.js';
import { calibrateDetector, fitDetector, predictData } from '../service/detector-service.js';

/**
 * MindArmour compatibility surface: `OodDetectorFeatureCluster(model, dsTrain, nCluster, layer)` with
 * `getOptimalThreshold(oodLabel, dsEval)` and `oodPredict(threshold, dsTest)`, behaving like the tutorial's
 * methods (score mode `mindarmour`, threshold grid 0.00…0.99, result 0/1 per sample).
 *
 * Differences from the original, on purpose:
 * - KMeans is fitted once (lazily, on the first call) and reused; the original refits on every call, so its
 *   centres (and results) can change between calls. The training data is copied and `nCluster` and `layer` are
 *   checked in the constructor, as MindArmour's constructor extracts the features at once: a later change to the
 *   caller's buffer does not reach the fit, and a bad argument fails at construction.
 * - KMeans is seeded (`seed`, default 0), so results are reproducible.
 * - The methods are async (feature extraction runs in onnxruntime-node).
 * - NaN/Inf inputs and bad labels raise a typed error instead of being dropped or miscounted.
 * - `getOptimalThreshold` raises an InputError (`grid`) when no grid point separates the eval scores; the original
 *   returns 0.0 then, which flags every sample.
 */
export class OodDetectorFeatureCluster {
  private fitted?: Promise<DetectorBundle>;
  readonly dsTrain: DecodedArray;

  constructor(
    readonly model: Uint8Array,
    dsTrain: Tensor | DecodedArray,
    readonly nCluster: number,
    readonly layer: string,
    readonly seed = 0,
  ) {
    const d = asDecoded(dsTrain);
    this.dsTrain = { ...d, data: Float32Array.from(d.data), shape: [...d.shape] };
    validateNCluster(nCluster, d.shape[0] ?? 0);
    try {
      checkLayers(model, [layer]);
    } catch (e) {
      if (e instanceof ImagedriftError) throw e;
      throw new ModelError('model', `cannot be read as ONNX: ${(e as Error).message}`, { cause: e });
    }
  }

  private bundle(): Promise<DetectorBundle> {
    this.fitted ??= fitDetector({ model: this.model, modelKey: 'model.onnx', data: this.dsTrain, layer: this.layer, nCluster: this.nCluster, score: 'mindarmour', seed: this.seed });
    return this.fitted;
  }

  /** The threshold in 0, 0.01, …, 0.99 with the best accuracy on `dsEval` (smallest on ties), as in MindArmour. */
  async getOptimalThreshold(oodLabel: ArrayLike<number>, dsEval: Tensor | DecodedArray): Promise<number> {
    const { bundle } = await calibrateDetector(await this.bundle(), this.model, { data: asDecoded(dsEval), oodLabels: oodLabel, grid: 0.01 });
    return bundle.calibration!.threshold;
  }

  /** 0 (in-distribution) / 1 (OOD) per sample of `dsTest`, in order: 1 where score ≥ threshold. */
  async oodPredict(threshold: number, dsTest: Tensor | DecodedArray): Promise<number[]> {
    return (await predictData(await this.bundle(), this.model, asDecoded(dsTest), { threshold })).result;
  }
}

function asDecoded(t: Tensor | DecodedArray): DecodedArray {
  return 'dtype' in t ? t : { data: t.data, shape: t.shape, dtype: 'float32' };
}
