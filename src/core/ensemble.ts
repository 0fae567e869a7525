import type { Detector, FitContext, FittedDetector } from './detector.js';
import { InputError } from './errors.js';
import { subsampleRows } from './random.js';
import { assertScoreInput, matrix, type Matrix } from './tensor.js';

/**
 * A score combination fitted on in-distribution data only: each member detector reads its own layer's columns of a
 * concatenated feature table, its scores are standardised with the mean and standard deviation it gives on a held-out
 * part of the training set (never on OOD data), and the ensemble score is the sum of the standardised scores.
 * Members are fitted on the rest of the training set. The registry is injected to avoid an import cycle.
 */
export interface EnsembleMemberParams {
  readonly layer: string;
  /** A non-ensemble detector spec: `{ kind, ...params }`. */
  readonly detector: { readonly kind: string } & Record<string, unknown>;
}

export interface EnsembleParams {
  readonly members: readonly EnsembleMemberParams[];
  /** Share of the training rows held out to standardise member scores. */
  readonly holdout: number;
  readonly seed: number;
}

export interface Registry {
  create(spec: { kind: string } & Record<string, unknown>): Detector;
  restore(kind: string, params: unknown, dim: number, nTrain: number, stats: Record<string, number>, arrays: Record<string, Float32Array>): FittedDetector;
}

/** Column ranges of each layer in the concatenated feature table, in table order. */
export type LayerColumns = Readonly<Record<string, readonly [number, number]>>;

function sliceCols(f: Matrix, rows: ArrayLike<number> | null, from: number, to: number): Matrix {
  const n = rows ? rows.length : f.rows;
  const w = to - from;
  const out = new Float32Array(n * w);
  for (let i = 0; i < n; i++) {
    const r = rows ? rows[i]! : i;
    out.set(f.data.subarray(r * f.cols + from, r * f.cols + to), i * w);
  }
  return { data: out, rows: n, cols: w };
}

class FittedEnsemble implements FittedDetector {
  readonly kind = 'ensemble';
  constructor(
    readonly params: EnsembleParams & { readonly columns: LayerColumns },
    readonly dim: number,
    readonly nTrain: number,
    private readonly members: readonly FittedDetector[],
    /** [mean0, std0, mean1, std1, …] of the member scores on the held-out rows. */
    private readonly norm: Float32Array,
  ) {}

  get stats(): Record<string, number> {
    const s: Record<string, number> = {};
    this.members.forEach((m, i) => {
      for (const [k, v] of Object.entries(m.stats)) s[`m${i}.${k}`] = v;
      s[`m${i}.nTrain`] = m.nTrain;
      s[`m${i}.mean`] = this.norm[2 * i]!;
      s[`m${i}.std`] = this.norm[2 * i + 1]!;
    });
    return s;
  }

  arrays(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = { norm: this.norm };
    this.members.forEach((m, i) => {
      for (const [k, v] of Object.entries(m.arrays())) out[`m${i}.${k}`] = v;
    });
    return out;
  }

  score(f: Matrix): Float64Array {
    assertScoreInput(f, this.dim, 'the ensemble');
    const out = new Float64Array(f.rows);
    this.params.members.forEach((m, i) => {
      const [from, to] = this.params.columns[m.layer]!;
      const s = this.members[i]!.score(sliceCols(f, null, from, to));
      const mu = this.norm[2 * i]!;
      const sd = this.norm[2 * i + 1]!;
      for (let r = 0; r < f.rows; r++) out[r] += (s[r]! - mu) / sd;
    });
    return out;
  }
}

export class EnsembleDetector implements Detector {
  readonly kind = 'ensemble';
  readonly params: EnsembleParams;
  private readonly built: Detector[];

  constructor(
    params: EnsembleParams,
    private readonly registry: Registry,
  ) {
    if (params.members.length < 1) throw new InputError('members', 'must list at least one member');
    params.members.forEach((m, i) => {
      if (m.detector.kind === 'ensemble') throw new InputError(`members[${i}].detector`, 'ensembles cannot be nested');
    });
    if (!(params.holdout > 0 && params.holdout < 1)) throw new InputError('holdout', `must be in (0, 1), got ${params.holdout}`);
    this.params = params;
    this.built = params.members.map((m) => registry.create(m.detector));
  }

  get needsClasses(): boolean {
    return this.built.some((d) => d.needsClasses);
  }

  /** The layers the members read, in first-use order (the service extracts and concatenates them in this order). */
  layers(): string[] {
    return [...new Set(this.params.members.map((m) => m.layer))];
  }

  private holdoutSize(nSamples: number): number {
    return Math.max(2, Math.round(nSamples * this.params.holdout));
  }

  /** The holdout must leave at least 2 rows, and every member must accept the rows left to fit it. */
  checkTrainingSize(nSamples: number): void {
    const nHold = this.holdoutSize(nSamples);
    if (nSamples - nHold < 2) throw new InputError('features', `${nSamples} training samples are too few to hold out ${nHold} for standardisation`);
    this.built.forEach((d, i) => {
      try {
        d.checkTrainingSize(nSamples - nHold);
      } catch (e) {
        if (e instanceof InputError) throw new InputError(`members[${i}].detector.${e.field}`, `${e.detail} (the ensemble fits members on ${nSamples - nHold} of ${nSamples} rows)`, { cause: e });
        throw e;
      }
    });
  }

  fit(f: Matrix, ctx: FitContext = {}): FittedDetector {
    const columns = ctx.columns;
    if (!columns) throw new InputError('columns', 'the ensemble needs the column range of each layer in the feature table');
    matrix(f.data, f.rows, f.cols);
    for (const l of this.layers()) if (!columns[l]) throw new InputError('members', `layer '${l}' is not in the feature table`);
    this.checkTrainingSize(f.rows);
    const nHold = this.holdoutSize(f.rows);
    const hold = subsampleRows(f.rows, nHold, this.params.seed);
    const isHold = new Uint8Array(f.rows);
    for (const r of hold) isHold[r] = 1;
    const fitRows = Int32Array.from({ length: f.rows - nHold }, () => 0);
    for (let r = 0, j = 0; r < f.rows; r++) if (!isHold[r]) fitRows[j++] = r;
    const classes = ctx.classes ? Int32Array.from(fitRows, (r) => ctx.classes![r]!) : undefined;
    const norm = new Float32Array(2 * this.built.length);
    const fitted = this.built.map((d, i) => {
      const [from, to] = columns[this.params.members[i]!.layer]!;
      const m = d.fit(sliceCols(f, fitRows, from, to), classes ? { classes } : {});
      const s = m.score(sliceCols(f, hold, from, to));
      let mean = 0;
      for (const v of s) mean += v / s.length;
      let v2 = 0;
      for (const v of s) v2 += (v - mean) ** 2 / s.length;
      norm[2 * i] = mean;
      norm[2 * i + 1] = Math.max(Math.sqrt(v2), 1e-12);
      return m;
    });
    return new FittedEnsemble({ ...this.params, columns }, f.cols, f.rows, fitted, norm);
  }

  static restore(params: EnsembleParams & { columns: LayerColumns }, dim: number, nTrain: number, stats: Record<string, number>, arrays: Record<string, Float32Array>, registry: Registry): FittedDetector {
    const norm = arrays.norm;
    if (!norm || norm.length !== 2 * params.members.length) throw new InputError('arrays.norm', 'is missing or does not match the members');
    const members = params.members.map((m, i) => {
      const [from, to] = params.columns[m.layer] ?? [0, 0];
      if (!(to > from)) throw new InputError(`members[${i}].layer`, `has no column range for '${m.layer}'`);
      if (from < 0 || to > dim) throw new InputError(`members[${i}].layer`, `column range [${from}, ${to}) of '${m.layer}' is outside the ensemble's ${dim} feature columns`);
      const pick = (src: Record<string, unknown>) => Object.fromEntries(Object.entries(src).filter(([k]) => k.startsWith(`m${i}.`)).map(([k, v]) => [k.slice(`m${i}.`.length), v]));
      const { kind, ...p } = m.detector;
      const st = pick(stats) as Record<string, number>;
      return registry.restore(kind, p, to - from, st.nTrain ?? nTrain, st, pick(arrays) as Record<string, Float32Array>);
    });
    return new FittedEnsemble(params, dim, nTrain, members, norm);
  }
}
