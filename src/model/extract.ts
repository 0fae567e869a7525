/**
 * Feature extraction: run the model up to a named tensor (`layer`) in fixed-size batches and return one flattened
 * feature row per sample.
 */
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { InputError, ModelError } from '../core/errors.js';
import { fillBatches, type BatchFeeder, type ModelInputPlan } from '../core/preprocess.js';
import { assertFinite, sizeOf, type Matrix, type Tensor } from '../core/tensor.js';
import { exposeOutputs, inputSpec, parseLayerName, type InputSpec } from './graph.js';
import { createSession, loadOrt, type WarnLogger } from './session.js';

export interface FeatureExtractorOptions {
  /** Tensor to read features from, e.g. `'9'` or MindArmour's `'output[:Tensor]'`. */
  layer: string;
  /** Samples preprocessed and extracted per step (positive integer; on the CPU provider ORT runs slices of at most CPU_RUN_ROWS). Default 256. */
  batchSize?: number;
  executionProviders?: string[];
  intraOpNumThreads?: number;
  logger?: WarnLogger;
}

type Ort = typeof import('onnxruntime-node');

/**
 * Most samples in one onnxruntime run on the CPU provider; a batch of `batchSize` samples is run in slices of this
 * many (views, no copies). The features stay the same bit for bit: ORT's CPU kernels compute each sample on its own
 * (checked for LeNet5's layers 8 to output, runs of 1 to 1000; test/model/extract.test.ts compares 7, 256, 1000).
 * ORT's intermediate buffers grow with the rows of a run, and each buffer size ORT has not seen before is fresh memory
 * to page-fault in (about 3 ms per MB on the benchmark machine): runs of 256 LeNet5 samples cost a fresh
 * process 150–300 ms on its first runs, runs of 32 about 35 ms for the same 1000 samples, and warm runs of 32 are no
 * slower than runs of 256 (their buffers stay in cache). Other providers (GPUs) keep whole batches.
 */
const CPU_RUN_ROWS = 32;

function checkBatchSize(batchSize: number): number {
  if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1) {
    throw new InputError('batchSize', `must be a positive integer, got ${String(batchSize)}`);
  }
  return batchSize;
}

export class FeatureExtractor {
  private constructor(
    private readonly ort: Ort,
    private readonly session: InferenceSession,
    /** The model's image input. */
    readonly input: InputSpec,
    /** The tensor name features are read from (after `[:Tensor]` is stripped). */
    readonly layer: string,
    /** Feature dimension D: product of the layer's non-batch dims. */
    readonly dim: number,
    readonly batchSize: number,
    /** The execution provider the session runs on. */
    readonly provider: string,
  ) {}

  /** Exposes `layer` as a graph output, creates the session and measures the feature dimension with one probe sample. */
  static async create(modelBytes: Uint8Array, opts: FeatureExtractorOptions): Promise<FeatureExtractor> {
    const batchSize = checkBatchSize(opts.batchSize ?? 256);
    const layer = parseLayerName(opts.layer);
    const spec = inputSpec(modelBytes);
    const exposed = exposeOutputs(modelBytes, [layer]);
    const ort = await loadOrt();
    const { session, provider } = await createSession(exposed, {
      ...(opts.executionProviders ? { executionProviders: opts.executionProviders } : {}),
      ...(opts.intraOpNumThreads !== undefined ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
      ...(opts.logger ? { logger: opts.logger } : {}),
    });
    const per = spec.channels * spec.height * spec.width;
    try {
      const probe = await runBatch(ort, session, spec, layer, new Float32Array(per), 1);
      const dim = sizeOf(probe.dims.slice(1));
      if (probe.dims[0] !== 1 || dim < 1) {
        throw new ModelError('layer', `tensor ${JSON.stringify(layer)} has shape [${probe.dims.join(',')}] for one sample; expected a leading batch dimension`);
      }
      return new FeatureExtractor(ort, session, spec, layer, dim, batchSize, provider);
    } catch (e) {
      await session.release();
      throw e;
    }
  }

  /**
   * Runs `input` (NCHW float32 [N,C,H,W], already preprocessed to the model's size and scale) through the model in
   * batches of `batchSize` and returns the N×D feature matrix. `onProgress(done, total)` is called after each batch.
   * A {@link ModelInputPlan} is preprocessed batch by batch by `feeder` (default {@link fillBatches}: on this thread,
   * into one reused buffer), so the whole preprocessed input never exists at once (bounded memory, and no
   * page-faulting of a fresh N×C×H×W array).
   */
  async extract(input: Tensor | ModelInputPlan, onProgress?: (done: number, total: number) => void, feeder: BatchFeeder = fillBatches): Promise<Matrix> {
    const { channels: c, height: h, width: w } = this.input;
    const per = c * h * w;
    const shape = input?.shape ?? [];
    if (shape.length !== 4 || shape[1] !== c || shape[2] !== h || shape[3] !== w) {
      throw new InputError('data', `the model expects NCHW [N,${c},${h},${w}], got [${shape.join(',')}]`);
    }
    const n = shape[0]!;
    let batches: Iterable<Float32Array> | AsyncIterable<Float32Array>;
    if ('fill' in input) {
      batches = feeder(input, this.batchSize); // the plan checks every pixel's range, so no separate finiteness pass
    } else {
      if (input.data.length !== n * per) throw new InputError('data', `data length ${input.data.length} does not match shape [${shape.join(',')}]`);
      assertFinite(input.data, per, 'data', 'pixel');
      batches = tensorBatches(input.data, per, this.batchSize);
    }

    const out = new Float32Array(n * this.dim);
    const runRows = this.provider === 'cpu' ? Math.min(CPU_RUN_ROWS, this.batchSize) : this.batchSize;
    let start = 0;
    for await (const batch of batches) {
      const b = Math.min(this.batchSize, n - start);
      if (b < 1 || batch.length !== b * per) throw new InputError('feeder', `gave ${batch.length} values at sample ${start} of ${n}; expected ${Math.max(b, 0) * per} (a batch of ${Math.max(b, 0)})`);
      for (let at = 0; at < b; at += runRows) {
        const m = Math.min(runRows, b - at);
        const result = await runBatch(this.ort, this.session, this.input, this.layer, batch.subarray(at * per, (at + m) * per), m);
        if (result.dims[0] !== m || result.data.length !== m * this.dim) {
          throw new ModelError('layer', `tensor ${JSON.stringify(this.layer)} returned shape [${result.dims.join(',')}] for a batch of ${m}; expected [${m},…] with ${this.dim} values per sample`);
        }
        out.set(result.data, (start + at) * this.dim);
      }
      start += b;
      onProgress?.(start, n);
    }
    if (start !== n) throw new InputError('feeder', `gave ${start} of ${n} samples`);
    return { data: out, rows: n, cols: this.dim };
  }

  /** Releases the ORT session. */
  async close(): Promise<void> {
    await this.session.release();
  }
}

/** Consecutive batches of `batchSize` samples of an already preprocessed input (views, no copies). */
function* tensorBatches(data: Float32Array, per: number, batchSize: number): Generator<Float32Array> {
  for (let at = 0; at < data.length; at += batchSize * per) yield data.subarray(at, Math.min(data.length, at + batchSize * per));
}

/** Runs one batch (NCHW data) and returns the layer's output; transposes to NHWC for NHWC models. */
async function runBatch(ort: Ort, session: InferenceSession, spec: InputSpec, layer: string, nchw: Float32Array, b: number): Promise<{ dims: readonly number[]; data: Float32Array }> {
  const { channels: c, height: h, width: w } = spec;
  let feed: OrtTensor;
  if (spec.layout === 'NCHW') {
    feed = new ort.Tensor('float32', nchw, [b, c, h, w]);
  } else {
    const nhwc = new Float32Array(nchw.length);
    const hw = h * w;
    for (let i = 0; i < b; i++) {
      const base = i * c * hw;
      for (let ch = 0; ch < c; ch++) for (let p = 0; p < hw; p++) nhwc[base + p * c + ch] = nchw[base + ch * hw + p]!;
    }
    feed = new ort.Tensor('float32', nhwc, [b, h, w, c]);
  }
  let results: InferenceSession.ReturnType;
  try {
    results = await session.run({ [spec.name]: feed }, [layer]);
  } catch (e) {
    throw new ModelError('model', `onnxruntime failed to run the model (${(e as Error).message})`, { cause: e });
  }
  const t = results[layer] as OrtTensor | undefined;
  if (!t) throw new ModelError('layer', `onnxruntime returned no tensor ${JSON.stringify(layer)}`);
  if (t.type !== 'float32') throw new ModelError('layer', `tensor ${JSON.stringify(layer)} is ${t.type}; features must be float32`);
  return { dims: t.dims, data: t.data as Float32Array };
}

/** Index of the largest value in each row, e.g. predicted classes from the `output` logits. */
export function argmaxRows(m: Matrix): Int32Array {
  const out = new Int32Array(m.rows);
  for (let r = 0; r < m.rows; r++) {
    const base = r * m.cols;
    let best = 0;
    for (let k = 1; k < m.cols; k++) if (m.data[base + k]! > m.data[base + best]!) best = k;
    out[r] = best;
  }
  return out;
}
