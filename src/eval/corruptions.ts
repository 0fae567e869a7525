/**
 * Seeded, pure image corruptions for drift experiments, on NCHW float tensors with values in [0, 1] (the model's
 * input after preprocessing). Every function returns a new tensor (the input is never modified) and clips the
 * result to [0, 1].
 *
 * Conventions:
 * - `gaussianNoise`: x + σ·z, z ~ N(0, 1) i.i.d. per pixel (Box–Muller on mulberry32(seed)); σ = 0 is the identity.
 * - `gaussianBlur`: separable Gaussian kernel exp(−t²/2σ²) of radius ⌈3σ⌉, normalised to sum 1, edges clamped
 *   (replicate border); σ = 0 is the identity.
 * - `rotate`: by `degrees` counter-clockwise as displayed (row 0 at the top), about the image centre
 *   ((W−1)/2, (H−1)/2), bilinear interpolation, pixels sampled from outside the image count as 0. For 90° this is
 *   numpy's `rot90` (transpose, then flip rows).
 * - `contrast`: x' = μ + c·(x − μ) with μ the image's mean over all its channels and pixels; c = 1 is the identity,
 *   c = 0 a flat grey image at μ.
 */
import { InputError } from '../core/errors.js';
import { mulberry32 } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';

function dims(t: Tensor): [number, number, number, number] {
  if (t.shape.length !== 4) throw new InputError('data', `expected NCHW rank 4, got shape [${t.shape.join(',')}]`);
  const [n, c, h, w] = t.shape as [number, number, number, number];
  if (t.data.length !== n * c * h * w) throw new InputError('data', `data length ${t.data.length} does not match shape [${t.shape.join(',')}]`);
  return [n, c, h, w];
}

const clip01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

function checkParam(name: string, v: number, min: number): void {
  if (!(Number.isFinite(v) && v >= min)) throw new InputError(name, `must be a finite number ≥ ${min}, got ${v}`);
}

/** Standard normal sampler (Box–Muller, both outputs used) on a seeded uniform generator. */
function gaussianSampler(seed: number): () => number {
  const rnd = mulberry32(seed);
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    const u = 1 - rnd(); // (0, 1]
    const v = rnd();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

export function gaussianNoise(t: Tensor, sigma: number, seed: number): Tensor {
  dims(t);
  checkParam('sigma', sigma, 0);
  const out = new Float32Array(t.data.length);
  if (sigma === 0) {
    for (let i = 0; i < out.length; i++) out[i] = clip01(t.data[i]!);
    return { data: out, shape: [...t.shape] };
  }
  const z = gaussianSampler(seed);
  for (let i = 0; i < out.length; i++) out[i] = clip01(t.data[i]! + sigma * z());
  return { data: out, shape: [...t.shape] };
}

/** Normalised 1-D Gaussian kernel of radius ⌈3σ⌉ (length 2r+1); σ = 0 gives [1]. */
export function gaussianKernel(sigma: number): Float64Array {
  checkParam('sigma', sigma, 0);
  if (sigma === 0) return Float64Array.of(1);
  const r = Math.max(1, Math.ceil(3 * sigma));
  const k = new Float64Array(2 * r + 1);
  let s = 0;
  for (let i = -r; i <= r; i++) s += k[i + r] = Math.exp((-i * i) / (2 * sigma * sigma));
  for (let i = 0; i < k.length; i++) k[i] /= s;
  return k;
}

export function gaussianBlur(t: Tensor, sigma: number): Tensor {
  const [n, c, h, w] = dims(t);
  const k = gaussianKernel(sigma);
  const r = (k.length - 1) >> 1;
  const out = new Float32Array(t.data.length);
  const tmp = new Float64Array(h * w);
  const planes = n * c;
  for (let p = 0; p < planes; p++) {
    const base = p * h * w;
    // horizontal pass
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -r; i <= r; i++) {
          const xx = x + i < 0 ? 0 : x + i >= w ? w - 1 : x + i;
          s += k[i + r]! * t.data[base + y * w + xx]!;
        }
        tmp[y * w + x] = s;
      }
    }
    // vertical pass
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = -r; i <= r; i++) {
          const yy = y + i < 0 ? 0 : y + i >= h ? h - 1 : y + i;
          s += k[i + r]! * tmp[yy * w + x]!;
        }
        out[base + y * w + x] = clip01(s);
      }
    }
  }
  return { data: out, shape: [...t.shape] };
}

export function rotate(t: Tensor, degrees: number): Tensor {
  const [n, c, h, w] = dims(t);
  if (!Number.isFinite(degrees)) throw new InputError('degrees', `must be finite, got ${degrees}`);
  const th = (degrees * Math.PI) / 180;
  // Exact values at multiples of 90° so that rot90 is reproduced bit for bit.
  const q = degrees / 90;
  const exact = Number.isInteger(q);
  const cos = exact ? [1, 0, -1, 0][((q % 4) + 4) % 4]! : Math.cos(th);
  const sin = exact ? [0, 1, 0, -1][((q % 4) + 4) % 4]! : Math.sin(th);
  const cx = (w - 1) / 2;
  const cy = (h - 1) / 2;
  const out = new Float32Array(t.data.length);
  const planes = n * c;
  for (let p = 0; p < planes; p++) {
    const base = p * h * w;
    const at = (yy: number, xx: number): number => (yy < 0 || yy >= h || xx < 0 || xx >= w ? 0 : t.data[base + yy * w + xx]!);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        // inverse map: output offset (dx', dy') → source offset (dx, dy) = R(θ)⁻¹ for a counter-clockwise display rotation
        const dxo = x - cx;
        const dyo = y - cy;
        const sx = cx + dxo * cos - dyo * sin;
        const sy = cy + dxo * sin + dyo * cos;
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        const v = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
        out[base + y * w + x] = clip01(v);
      }
    }
  }
  return { data: out, shape: [...t.shape] };
}

export function contrast(t: Tensor, factor: number): Tensor {
  const [n, c, h, w] = dims(t);
  checkParam('factor', factor, 0);
  const per = c * h * w;
  const out = new Float32Array(t.data.length);
  for (let s = 0; s < n; s++) {
    const base = s * per;
    let mu = 0;
    for (let i = 0; i < per; i++) mu += t.data[base + i]!;
    mu /= per;
    for (let i = 0; i < per; i++) out[base + i] = clip01(mu + factor * (t.data[base + i]! - mu));
  }
  return { data: out, shape: [...t.shape] };
}

export type CorruptionName = 'gaussian-noise' | 'gaussian-blur' | 'rotation' | 'contrast';

export interface Corruption {
  readonly name: CorruptionName;
  /** What the severity parameter is. */
  readonly param: string;
  /** Low, medium, high. */
  readonly severities: readonly [number, number, number];
  apply(t: Tensor, value: number, seed: number): Tensor;
}

/**
 * The corruptions and severities used by scripts/drift-experiments.ts (fixed before any power was measured; pixel
 * units are the model's 32×32 input):
 * - Gaussian noise σ 0.1 / 0.2 / 0.3 (pixel range [0, 1]);
 * - Gaussian blur σ 0.5 / 1.0 / 1.5 px;
 * - rotation 15° / 30° / 45°;
 * - contrast factor c 0.7 / 0.5 / 0.3 (lower is stronger).
 */
export const CORRUPTIONS: readonly Corruption[] = [
  { name: 'gaussian-noise', param: 'σ', severities: [0.1, 0.2, 0.3], apply: (t, v, seed) => gaussianNoise(t, v, seed) },
  { name: 'gaussian-blur', param: 'σ (px)', severities: [0.5, 1.0, 1.5], apply: (t, v) => gaussianBlur(t, v) },
  { name: 'rotation', param: 'degrees', severities: [15, 30, 45], apply: (t, v) => rotate(t, v) },
  { name: 'contrast', param: 'factor c', severities: [0.7, 0.5, 0.3], apply: (t, v) => contrast(t, v) },
];

export const SEVERITY_NAMES = ['low', 'medium', 'high'] as const;

/** Class-imbalance shift: the digits windows are drawn from (only 0, 1 and 2). */
export const IMBALANCE_CLASSES: readonly number[] = [0, 1, 2];

/** Indices of the samples whose label is in `classes` (the pool a class-imbalance window is drawn from). */
export function classSubsetIndices(labels: ArrayLike<number>, indices: ArrayLike<number>, classes: readonly number[]): Int32Array {
  const keep = new Set(classes);
  const out: number[] = [];
  for (let i = 0; i < indices.length; i++) if (keep.has(labels[indices[i]!]!)) out.push(indices[i]!);
  return Int32Array.from(out);
}
