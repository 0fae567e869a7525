import { InputError } from './errors.js';
import { sizeOf, type DecodedArray, type Layout, type Tensor } from './tensor.js';

/**
 * Preprocessing from a decoded array to the model's declared input (NCHW float32).
 *
 * The resolved recipe is recorded in the detector (`PreprocessConfig`) so fit, calibrate and predict always agree.
 * Steps, in order: layout resolution → channel conversion → bilinear resize → scaling → range/finite checks.
 */

/** The model's declared input, without the batch dimension. */
export interface InputSpec {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** How pixel values are scaled: `auto` = integer dtypes ÷255, float and bool dtypes as they are; a number = multiply by it. */
export type ScaleRule = 'auto' | number;

/** Recorded in every detector; fit, calibrate and predict all use the same one. */
export interface PreprocessConfig {
  readonly input: InputSpec;
  /**
   * The layout the caller stated at fit. It decides only for rank-4 shapes that are ambiguous (both axis 1 and axis 3
   * could be channels); any other shape's layout is read off the shape, so later data in the other layout still works.
   */
  readonly layout?: Layout;
  readonly scale: ScaleRule;
  /** Grey conversion weights (ITU-R BT.601 luma, as PIL's `convert('L')` and OpenCV's RGB2GRAY). */
  readonly grey: 'bt601';
  /** Resize filter: bilinear with half-pixel centres (PIL/OpenCV semantics for upsampling). */
  readonly resize: 'bilinear';
  /** Accepted value range after scaling; values outside it (beyond 1e-3) are an error, not clipped. */
  readonly range: readonly [number, number];
}

export function defaultPreprocess(input: InputSpec, overrides: Partial<Pick<PreprocessConfig, 'layout' | 'scale'>> = {}): PreprocessConfig {
  return { input, scale: overrides.scale ?? 'auto', grey: 'bt601', resize: 'bilinear', range: [0, 1], ...(overrides.layout ? { layout: overrides.layout } : {}) };
}

const BT601 = [0.299, 0.587, 0.114] as const;
const CHANNEL_COUNTS = new Set([1, 3, 4]);

/**
 * Resolves the layout of a rank-4 array, or throws when it cannot be told apart. `stated` (from the data itself, e.g.
 * decoded images) is obeyed; `fallback` (the detector's recorded layout) only settles a shape that is ambiguous.
 */
function resolveLayout(shape: readonly number[], spec: InputSpec, stated?: Layout, field = 'data', fallback?: Layout): Layout {
  const [, d1, , d3] = shape as [number, number, number, number];
  if (stated) {
    const c = stated === 'NCHW' ? d1 : d3;
    if (!CHANNEL_COUNTS.has(c)) throw new InputError(field, `layout ${stated} gives ${c} channels; expected 1, 3 or 4 (shape [${shape.join(',')}])`);
    return stated;
  }
  const nchw = CHANNEL_COUNTS.has(d1);
  const nhwc = CHANNEL_COUNTS.has(d3);
  if (nchw && nhwc) {
    // Both positions look like a channel axis: only the model's own channel count can decide, and only if exactly one matches.
    const m1 = d1 === spec.channels;
    const m3 = d3 === spec.channels;
    if (m1 !== m3) return m1 ? 'NCHW' : 'NHWC';
    if (fallback) return fallback;
    throw new InputError(field, `layout is ambiguous for shape [${shape.join(',')}] (axes 1 and 3 could both be channels); fit the detector with layout NCHW or NHWC (CLI: fit --layout), which it records for later data, or transpose the data so the shape tells`);
  }
  if (nchw) return 'NCHW';
  if (nhwc) return 'NHWC';
  throw new InputError(field, `shape [${shape.join(',')}] has no channel axis of size 1, 3 or 4 in position 1 (NCHW) or 3 (NHWC)`);
}

/**
 * The automatic scale of a dtype: integers are 8-bit pixels (÷255), floats and bool are taken as they are (a bool
 * mask: true is full intensity, not 1/255). Also the rule src/service/inline-images.ts stores a job's batch by.
 */
export function dtypeScale(dtype: DecodedArray['dtype']): number {
  if (dtype === 'bool') return 1;
  return dtype.startsWith('float') ? 1 : 1 / 255;
}

function scaleFactor(arr: DecodedArray, rule: ScaleRule): number {
  return typeof rule === 'number' ? rule : dtypeScale(arr.dtype);
}

/**
 * A validated preprocessing job over a decoded array: `fill(out, from, to)` writes the model input of samples
 * [from, to) (NCHW float32) into `out`, checking pixel ranges as it goes. Lets callers preprocess batch by batch
 * (bounded memory) instead of materialising the whole input; {@link toModelInput} fills it all at once.
 */
export interface ModelInputPlan {
  /** The model input's shape [N, C, H, W]. */
  readonly shape: readonly [number, number, number, number];
  /** Values per sample (C·H·W). */
  readonly perSample: number;
  fill(out: Float32Array, from: number, to: number): void;
  /** What {@link planModelInput} made the plan from: enough to plan a batch of its samples elsewhere (a worker thread). */
  readonly source?: PlanSource;
}

export interface PlanSource {
  readonly arr: DecodedArray;
  readonly config: PreprocessConfig;
  readonly field: string;
}

/**
 * Yields the model input of consecutive batches of `batchSize` samples (the last one may be shorter), in order. A
 * batch may live in a buffer the feeder reuses: it is valid only until the next one is asked for.
 */
export type BatchFeeder = (plan: ModelInputPlan, batchSize: number) => Iterable<Float32Array> | AsyncIterable<Float32Array>;

/** The default {@link BatchFeeder}: each batch is preprocessed on the calling thread into one reused buffer. */
export function* fillBatches(plan: ModelInputPlan, batchSize: number): Generator<Float32Array> {
  const n = plan.shape[0];
  const buf = new Float32Array(Math.min(batchSize, n) * plan.perSample);
  for (let s = 0; s < n; s += batchSize) {
    const batch = buf.subarray(0, Math.min(batchSize, n - s) * plan.perSample);
    plan.fill(batch, s, s + batch.length / plan.perSample);
    yield batch;
  }
}

/** Resize coordinates of one axis: source indices i0/i1, the weight w of i1 and w1 = 1 − w, as {@link resizeBilinear} computes them. */
interface ResizeAxis {
  readonly i0: Int32Array;
  readonly i1: Int32Array;
  readonly w: Float64Array;
  readonly w1: Float64Array;
}

function resizeAxis(size: number, outSize: number): ResizeAxis {
  const s = size / outSize;
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const w = new Float64Array(outSize);
  const w1 = new Float64Array(outSize);
  for (let o = 0; o < outSize; o++) {
    let f = (o + 0.5) * s - 0.5;
    if (f < 0) f = 0;
    let a = Math.floor(f);
    if (a > size - 1) a = size - 1;
    i0[o] = a;
    i1[o] = a + 1 < size ? a + 1 : size - 1;
    w[o] = f - a > 1 ? 1 : f - a;
    w1[o] = 1 - w[o]!;
  }
  return { i0, i1, w, w1 };
}

/**
 * Copies `count` values from `src[from]` to `dst[to]` multiplied by `scale`, stopping at the first one outside
 * [min, max] (or NaN): returns its offset, or −1 when all are in range. A function of its own for the same reason as
 * {@link resizePlane}.
 */
function scaledCopy(src: Float32Array, from: number, count: number, scale: number, min: number, max: number, dst: Float32Array, to: number): number {
  for (let p = 0; p < count; p++) {
    const v = src[from + p]! * scale;
    if (!(v >= min && v <= max)) return p;
    dst[to + p] = v;
  }
  return -1;
}

/**
 * Bilinear resize of one plane into `out` at `at` with the axis tables: the same arithmetic as {@link resizeBilinear}
 * (float64 terms in the same order, rounded once to float32), so bit for bit its result. A function of its own (not
 * inlined in the closure that fills a batch) so that V8 optimises it with every input in a register.
 */
function resizePlane(plane: Float32Array, w: number, xs: ResizeAxis, ys: ResizeAxis, out: Float32Array, at: number): void {
  const { i0: x0s, i1: x1s, w: wxs, w1: wx1s } = xs;
  const { i0: y0s, i1: y1s, w: wys, w1: wy1s } = ys;
  const oh = y0s.length;
  const ow = x0s.length;
  for (let y = 0; y < oh; y++) {
    const r0 = y0s[y]! * w;
    const r1 = y1s[y]! * w;
    const wy = wys[y]!;
    const wy1 = wy1s[y]!;
    const o = at + y * ow;
    for (let x = 0; x < ow; x++) {
      const x0 = x0s[x]!;
      const x1 = x1s[x]!;
      const wx = wxs[x]!;
      const wx1 = wx1s[x]!;
      const top = plane[r0 + x0]! * wx1 + plane[r0 + x1]! * wx;
      const bot = plane[r1 + x0]! * wx1 + plane[r1 + x1]! * wx;
      out[o + x] = top * wy1 + bot * wy;
    }
  }
}

/**
 * Converts a decoded array (rank 3 N×H×W, or rank 4 NCHW/NHWC) into the model's NCHW float32 input.
 * Arrays already in the model's shape and range pass through with values unchanged.
 */
export function toModelInput(arr: DecodedArray, config: PreprocessConfig, field = 'data'): Tensor {
  const plan = planModelInput(arr, config, field);
  const data = new Float32Array(plan.shape[0] * plan.perSample);
  plan.fill(data, 0, plan.shape[0]);
  return { data, shape: [...plan.shape] };
}

/**
 * The shape checks of {@link planModelInput} alone (rank, samples, layout, channels), for data known only by its shape
 * and layout, e.g. a stored dataset's manifest: a request that could never be preprocessed is refused before a job
 * is enqueued. Returns the source geometry.
 */
export function checkModelInputShape(
  shape: readonly number[],
  config: PreprocessConfig,
  field = 'data',
  statedLayout?: Layout,
  /** The number of values the data holds, when it is at hand: it must match the shape. */
  values?: number,
): { layout: Layout; c: number; h: number; w: number } {
  const spec = config.input;
  if (shape.length !== 3 && shape.length !== 4) {
    throw new InputError(field, `expected rank 3 (N,H,W) or rank 4 (N,C,H,W or N,H,W,C), got rank ${shape.length} with shape [${shape.join(',')}]`);
  }
  if (shape[0] === 0) throw new InputError(field, 'is empty (0 samples)');
  const sizes = shape.every((d) => Number.isSafeInteger(d) && d >= 0);
  if (!sizes || (values !== undefined && values !== sizeOf(shape))) {
    throw new InputError(field, `${values !== undefined ? `holds ${values} values but ` : ''}its shape [${shape.join(',')}] needs ${sizes ? sizeOf(shape) : 'non-negative integer sizes'}`);
  }
  let layout: Layout;
  let c: number;
  let h: number;
  let w: number;
  if (shape.length === 3) {
    // N×H×W grey. A last axis of 1-4 next to a real image size is far more likely one H×W×C image without its batch
    // axis ([32,32,3]) than 32 images 3 pixels wide: refused, never guessed (a guess would silently score 32 strips).
    if (CHANNEL_COUNTS.has(shape[2]!) && shape[1]! > 4 && spec.width > 4) {
      throw new InputError(field, `rank-3 shape [${shape.join(',')}] is ambiguous: one ${shape[0]}×${shape[1]} image with ${shape[2]} channels, or ${shape[0]} grey images ${shape[1]}×${shape[2]}? Add the batch axis ([1,${shape.join(',')}]) for one image`);
    }
    layout = 'NCHW';
    [c, h, w] = [1, shape[1]!, shape[2]!];
  } else {
    layout = resolveLayout(shape, spec, statedLayout, field, config.layout);
    [c, h, w] = layout === 'NCHW' ? [shape[1]!, shape[2]!, shape[3]!] : [shape[3]!, shape[1]!, shape[2]!];
  }
  if (h < 1 || w < 1) throw new InputError(field, `image size ${h}×${w} is empty`);
  if (c !== spec.channels && !(spec.channels === 1 && (c === 3 || c === 4)) && !(spec.channels === 3 && (c === 1 || c === 4))) {
    throw new InputError(field, `has ${c} channels; the model expects ${spec.channels} and ${c}→${spec.channels} has no defined conversion`);
  }
  return { layout, c, h, w };
}

/**
 * Every check preprocessing makes (shape, layout, channels, and each pixel's range and finiteness), without keeping the
 * result: data that is stored for a job (predict over the inline limit) is refused now, with the error the job would
 * have failed with. Batch by batch into one small buffer.
 */
export function checkModelInput(arr: DecodedArray, config: PreprocessConfig, field = 'data'): void {
  for (const _ of fillBatches(planModelInput(arr, config, field), 64));
}

/** Validates `arr` against the model input (shape, layout, channels) and returns the plan that preprocesses it. */
export function planModelInput(arr: DecodedArray, config: PreprocessConfig, field = 'data'): ModelInputPlan {
  const spec = config.input;
  const shape = arr.shape;
  const { layout, c, h, w } = checkModelInputShape(shape, config, field, arr.layout, arr.data.length);
  const n = shape[0]!;
  const scale = scaleFactor(arr, config.scale);
  const [lo, hi] = config.range;
  const src = arr.data;
  const { channels: oc, height: oh, width: ow } = spec;
  const perSample = oc * oh * ow;
  const srcSample = c * h * w;
  const hw = h * w;
  const ohw = oh * ow;
  const sameSize = h === oh && w === ow;
  const tol = 1e-3;
  const [min, max] = [lo - tol, hi + tol];
  const chStride = layout === 'NCHW' ? hw : 1;
  const pStride = layout === 'NCHW' ? 1 : c;
  // 'copy': channel oc_ is source channel oc_ (same count, or RGBA → RGB); 'grey': BT.601 of R,G,B; 'replicate': grey → RGB
  const mode = c === oc || (c === 4 && oc === 3) ? 'copy' : oc === 1 ? 'grey' : 'replicate';
  const [g0, g1, g2] = BT601;
  const ys = sameSize ? undefined : resizeAxis(h, oh);
  const xs = sameSize ? undefined : resizeAxis(w, ow);
  const plane = new Float32Array(sameSize ? 0 : hw); // one channel of one sample, scaled, at source resolution

  /** `raw`: the stored value (for a grey conversion, the BT.601 mix of the pixel's R, G, B); `v`: it after scaling. */
  const bad = (s: number, raw: number, v: number): InputError => {
    if (Number.isNaN(v) || !Number.isFinite(v)) return new InputError(`${field}[${s}]`, `sample ${s} contains ${Number.isNaN(v) ? 'a NaN' : 'an infinite'} pixel`);
    const what = mode === 'grey' ? 'grey value (BT.601 of R, G, B)' : 'pixel value';
    return new InputError(`${field}[${s}]`, `sample ${s} has ${what} ${raw}, ${v} after scaling by ${scale}, outside [${lo}, ${hi}]; fit the detector with a scale that maps the data into [${lo}, ${hi}] (CLI --scale, e.g. 1.5259e-5 = 1/65535 for 16-bit data) or rescale it`);
  };

  const fill = (out: Float32Array, from: number, to: number): void => {
    if (!(Number.isInteger(from) && Number.isInteger(to) && from >= 0 && from <= to && to <= n)) throw new InputError('range', `[${from}, ${to}) is not within the ${n} samples`);
    if (out.length < (to - from) * perSample) throw new InputError('out', `has ${out.length} values, ${(to - from) * perSample} needed`);
    for (let s = from; s < to; s++) {
      const base = s * srcSample;
      const o = (s - from) * perSample;
      for (let ch = 0; ch < oc; ch++) {
        // 1. gather one channel with channel conversion and scaling (straight into the output when no resize is needed)
        const dst = sameSize ? out : plane;
        const d0 = sameSize ? o + ch * ohw : 0;
        const at0 = base + (mode === 'copy' ? ch * chStride : 0);
        if (mode !== 'grey' && pStride === 1) {
          // the common case (a grey or planar channel taken as is): a straight scaled copy
          const p = scaledCopy(src, at0, hw, scale, min, max, dst, d0);
          if (p >= 0) throw bad(s, src[at0 + p]!, src[at0 + p]! * scale);
        } else {
          for (let p = 0; p < hw; p++) {
            const at = at0 + p * pStride;
            const raw = mode === 'grey' ? g0 * src[at]! + g1 * src[at + chStride]! + g2 * src[at + 2 * chStride]! : src[at]!;
            const v = raw * scale;
            if (!(v >= min && v <= max)) throw bad(s, raw, v);
            dst[d0 + p] = v;
          }
        }
        // 2. bilinear resize of that channel (bit for bit resizeBilinear)
        if (ys && xs) resizePlane(plane, w, xs, ys, out, o + ch * ohw);
      }
    }
  };
  return { shape: [n, oc, oh, ow], perSample, fill, source: { arr, config, field } };
}

/**
 * Bilinear resize of one plane with half-pixel centres and edge clamping (PIL/OpenCV semantics for upsampling;
 * no antialiasing filter on downsampling). Hand-written: sharp works per encoded image, this runs over tensors in place.
 */
export function resizeBilinear(src: Float32Array, h: number, w: number, dst: Float32Array, oh: number, ow: number): void {
  const sy = h / oh;
  const sx = w / ow;
  for (let y = 0; y < oh; y++) {
    let fy = (y + 0.5) * sy - 0.5;
    if (fy < 0) fy = 0;
    let y0 = Math.floor(fy);
    if (y0 > h - 1) y0 = h - 1;
    const y1 = y0 + 1 < h ? y0 + 1 : h - 1;
    const wy = fy - y0 > 1 ? 1 : fy - y0;
    for (let x = 0; x < ow; x++) {
      let fx = (x + 0.5) * sx - 0.5;
      if (fx < 0) fx = 0;
      let x0 = Math.floor(fx);
      if (x0 > w - 1) x0 = w - 1;
      const x1 = x0 + 1 < w ? x0 + 1 : w - 1;
      const wx = fx - x0 > 1 ? 1 : fx - x0;
      const top = src[y0 * w + x0]! * (1 - wx) + src[y0 * w + x1]! * wx;
      const bot = src[y1 * w + x0]! * (1 - wx) + src[y1 * w + x1]! * wx;
      dst[y * ow + x] = top * (1 - wy) + bot * wy;
    }
  }
}
