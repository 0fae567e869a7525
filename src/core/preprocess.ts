import { InputError } from './errors.js';
import type { DecodedArray, Layout, Tensor } from './tensor.js';

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

/** How pixel values are scaled: `auto` = integer dtypes ÷255, float dtypes as they are; a number = multiply by it. */
export type ScaleRule = 'auto' | number;

/** Recorded in every detector; fit, calibrate and predict all use the same one. */
export interface PreprocessConfig {
  readonly input: InputSpec;
  /** Layout of rank-4 arrays when the caller fixed it; otherwise detected per call and never guessed when ambiguous. */
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

/** Resolves the layout of a rank-4 array, or throws when it cannot be told apart. */
export function resolveLayout(shape: readonly number[], spec: InputSpec, stated?: Layout, field = 'data'): Layout {
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
    throw new InputError(field, `layout is ambiguous for shape [${shape.join(',')}]; state it with layout NCHW or NHWC`);
  }
  if (nchw) return 'NCHW';
  if (nhwc) return 'NHWC';
  throw new InputError(field, `shape [${shape.join(',')}] has no channel axis of size 1, 3 or 4 in position 1 (NCHW) or 3 (NHWC)`);
}

function scaleFactor(arr: DecodedArray, rule: ScaleRule): number {
  if (typeof rule === 'number') return rule;
  return arr.dtype.startsWith('float') ? 1 : 1 / 255;
}

/**
 * Converts a decoded array (rank 3 N×H×W, or rank 4 NCHW/NHWC) into the model's NCHW float32 input.
 * Arrays already in the model's shape and range pass through with values unchanged.
 */
export function toModelInput(arr: DecodedArray, config: PreprocessConfig, field = 'data'): Tensor {
  const spec = config.input;
  const shape = arr.shape;
  if (shape.length !== 3 && shape.length !== 4) {
    throw new InputError(field, `expected rank 3 (N,H,W) or rank 4 (N,C,H,W or N,H,W,C), got rank ${shape.length} with shape [${shape.join(',')}]`);
  }
  const n = shape[0]!;
  if (n === 0) throw new InputError(field, 'is empty (0 samples)');
  let layout: Layout;
  let c: number;
  let h: number;
  let w: number;
  if (shape.length === 3) {
    layout = 'NCHW';
    [c, h, w] = [1, shape[1]!, shape[2]!];
  } else {
    layout = resolveLayout(shape, spec, arr.layout ?? config.layout, field);
    [c, h, w] = layout === 'NCHW' ? [shape[1]!, shape[2]!, shape[3]!] : [shape[3]!, shape[1]!, shape[2]!];
  }
  if (h < 1 || w < 1) throw new InputError(field, `image size ${h}×${w} is empty`);
  if (c !== spec.channels && !(spec.channels === 1 && (c === 3 || c === 4)) && !(spec.channels === 3 && (c === 1 || c === 4))) {
    throw new InputError(field, `has ${c} channels; the model expects ${spec.channels} and ${c}→${spec.channels} has no defined conversion`);
  }
  const scale = scaleFactor(arr, config.scale);
  const [lo, hi] = config.range;
  const src = arr.data;
  const { channels: oc, height: oh, width: ow } = spec;
  const out = new Float32Array(n * oc * oh * ow);
  const plane = new Float32Array(h * w * oc); // one sample, channel-converted, CHW at source resolution
  const srcSample = c * h * w;
  const hw = h * w;
  const sameSize = h === oh && w === ow;
  const tol = 1e-3;
  const chStride = layout === 'NCHW' ? hw : 1;
  const pStride = layout === 'NCHW' ? 1 : c;
  for (let s = 0; s < n; s++) {
    const base = s * srcSample;
    // 1. gather into CHW with channel conversion and scaling
    for (let oc_ = 0; oc_ < oc; oc_++) {
      for (let p = 0; p < hw; p++) {
        const at = base + p * pStride;
        let v: number;
        if (c === oc || (c === 4 && oc === 3)) v = src[at + oc_ * chStride]!;
        else if (oc === 1) v = BT601[0] * src[at]! + BT601[1] * src[at + chStride]! + BT601[2] * src[at + 2 * chStride]!;
        else v = src[at]!; // 1 → 3: replicate grey
        v *= scale;
        if (!(v >= lo - tol && v <= hi + tol)) {
          if (Number.isNaN(v) || !Number.isFinite(v)) throw new InputError(`${field}[${s}]`, `sample ${s} contains a ${Number.isNaN(v) ? 'NaN' : 'infinite'} pixel`);
          throw new InputError(`${field}[${s}]`, `sample ${s} has pixel value ${v / scale} outside [${lo}, ${hi}] after scaling by ${scale}; pass a scale (e.g. 1/255) or rescale the data`);
        }
        plane[oc_ * hw + p] = v;
      }
    }
    // 2. resize each channel
    const o = s * oc * oh * ow;
    for (let ch = 0; ch < oc; ch++) {
      const srcPlane = plane.subarray(ch * hw, (ch + 1) * hw);
      const dst = out.subarray(o + ch * oh * ow, o + (ch + 1) * oh * ow);
      if (sameSize) dst.set(srcPlane);
      else resizeBilinear(srcPlane, h, w, dst, oh, ow);
    }
  }
  return { data: out, shape: [n, oc, oh, ow] };
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
