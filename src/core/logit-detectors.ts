import type { Detector, FittedDetector } from './detector.js';
import { InputError } from './errors.js';
import { assertFinite, assertScoreInput, matrix, type Matrix } from './tensor.js';

/**
 * Detectors on logits (layer `output` for LeNet5); nothing to learn beyond the feature count.
 * - `msp`: score = −max softmax probability (Hendrycks & Gimpel 2017).
 * - `energy`: score = −T·logsumexp(logits / T) (Liu et al. 2020).
 * Both higher = more OOD. The stateless maths is exported for direct use.
 */

/** −max_i softmax(x)_i, computed stably: −1 / Σ_i exp(x_i − max x). */
export function mspScores(x: Float32Array, rows: number, dim: number, out = new Float64Array(rows)): Float64Array {
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let m = -Infinity;
    for (let i = 0; i < dim; i++) if (x[o + i]! > m) m = x[o + i]!;
    let s = 0;
    for (let i = 0; i < dim; i++) s += Math.exp(x[o + i]! - m);
    out[r] = -1 / s;
  }
  return out;
}

/** −T·logsumexp(x / T), computed stably. */
export function energyScores(x: Float32Array, rows: number, dim: number, temperature = 1, out = new Float64Array(rows)): Float64Array {
  const inv = 1 / temperature;
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    let m = -Infinity;
    for (let i = 0; i < dim; i++) if (x[o + i]! * inv > m) m = x[o + i]! * inv;
    let s = 0;
    for (let i = 0; i < dim; i++) s += Math.exp(x[o + i]! * inv - m);
    out[r] = -temperature * (m + Math.log(s));
  }
  return out;
}

export interface EnergyParams {
  readonly temperature: number;
}

type LogitKind = 'msp' | 'energy';

class FittedLogitDetector implements FittedDetector {
  constructor(
    readonly kind: LogitKind,
    readonly params: EnergyParams | Record<string, never>,
    readonly dim: number,
    readonly nTrain: number,
  ) {}

  readonly stats = {};

  arrays(): Record<string, Float32Array> {
    return {};
  }

  score(f: Matrix): Float64Array {
    assertScoreInput(f, this.dim);
    assertFinite(f.data, f.cols, 'features', 'feature');
    return this.kind === 'msp' ? mspScores(f.data, f.rows, f.cols) : energyScores(f.data, f.rows, f.cols, (this.params as EnergyParams).temperature);
  }
}

function checkLogits(f: Matrix): void {
  matrix(f.data, f.rows, f.cols);
  if (f.rows === 0) throw new InputError('features', 'is empty (0 samples)');
  if (f.cols < 2) throw new InputError('layer', `has ${f.cols} value(s) per sample; msp/energy need a logits layer with ≥ 2 classes`);
}

/** msp and energy learn nothing from the training rows, but fitting on none is still a mistake to report. */
function requireSamples(nSamples: number): void {
  if (nSamples === 0) throw new InputError('features', 'is empty (0 samples)');
}

export class MspDetector implements Detector {
  readonly kind = 'msp';
  readonly needsClasses = false;
  readonly params = {};
  checkTrainingSize(nSamples: number): void {
    requireSamples(nSamples);
  }
  fit(f: Matrix): FittedDetector {
    this.checkTrainingSize(f.rows);
    checkLogits(f);
    return new FittedLogitDetector('msp', {}, f.cols, f.rows);
  }
  static restore(dim: number, nTrain: number): FittedDetector {
    return new FittedLogitDetector('msp', {}, dim, nTrain);
  }
}

export class EnergyDetector implements Detector {
  readonly kind = 'energy';
  readonly needsClasses = false;
  readonly params: EnergyParams;
  constructor(params: Partial<EnergyParams> = {}) {
    const temperature = params.temperature ?? 1;
    if (!(temperature > 0) || !Number.isFinite(temperature)) throw new InputError('temperature', `must be a positive number, got ${temperature}`);
    this.params = { temperature };
  }
  checkTrainingSize(nSamples: number): void {
    requireSamples(nSamples);
  }
  fit(f: Matrix): FittedDetector {
    this.checkTrainingSize(f.rows);
    checkLogits(f);
    return new FittedLogitDetector('energy', this.params, f.cols, f.rows);
  }
  static restore(params: EnergyParams, dim: number, nTrain: number): FittedDetector {
    return new FittedLogitDetector('energy', params, dim, nTrain);
  }
}
