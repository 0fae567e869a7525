import { InputError } from '../core/errors.js';
import type { Tensor } from '../core/tensor.js';

/**
 * Thumbnails of preprocessed samples (the model's NCHW float input, values in [0, 1]) as PNG data URIs, and the
 * choice of which samples to show. sharp is imported lazily, on the first thumbnail.
 */
export type SampleSet = 'id' | 'ood';

export interface RankedSample {
  readonly set: SampleSet;
  /** Position of the sample in its own set's input (0-based). */
  readonly index: number;
  readonly score: number;
}

export interface Thumbnail extends RankedSample {
  /** `data:image/png;base64,…` */
  readonly src: string;
  readonly width: number;
  readonly height: number;
}

/**
 * The `k` highest-scoring (most OOD) and `k` lowest-scoring (least OOD) samples of ID and OOD together.
 * Ties are broken by set (ID first) then index, so the choice is deterministic.
 */
export function extremeSamples(idScores: ArrayLike<number>, oodScores: ArrayLike<number>, k = 16): { mostOod: RankedSample[]; leastOod: RankedSample[] } {
  if (!Number.isInteger(k) || k < 1) throw new InputError('k', `must be a positive integer, got ${k}`);
  const all: RankedSample[] = [];
  for (let i = 0; i < idScores.length; i++) all.push({ set: 'id', index: i, score: idScores[i]! });
  for (let i = 0; i < oodScores.length; i++) all.push({ set: 'ood', index: i, score: oodScores[i]! });
  const tie = (a: RankedSample, b: RankedSample) => (a.set === b.set ? a.index - b.index : a.set === 'id' ? -1 : 1);
  const mostOod = [...all].sort((a, b) => b.score - a.score || tie(a, b)).slice(0, k);
  const leastOod = [...all].sort((a, b) => a.score - b.score || tie(a, b)).slice(0, k);
  return { mostOod, leastOod };
}

/**
 * Sample `i` of an NCHW [0, 1] tensor as interleaved HWC uint8: 1 channel (grey) or 3 (RGB). A 4-channel sample (an
 * RGBA model input; preprocessing accepts them) is drawn from its RGB channels: its alpha is not shown, since a
 * transparent pixel would hide the image content the model saw.
 */
export function sampleToPixels(images: Tensor, i: number, field = 'images'): { pixels: Uint8Array; width: number; height: number; channels: 1 | 3 } {
  if (images.shape.length !== 4) throw new InputError(field, `expected an NCHW tensor (rank 4), got shape [${images.shape.join(',')}]`);
  const [n, c, h, w] = images.shape as [number, number, number, number];
  if (c !== 1 && c !== 3 && c !== 4) throw new InputError(field, `has ${c} channels; thumbnails need 1 (grey), 3 (RGB) or 4 (RGBA)`);
  if (!Number.isInteger(i) || i < 0 || i >= n) throw new InputError(`${field}[${i}]`, `sample ${i} is out of range (${n} samples)`);
  const shown = c === 1 ? 1 : 3;
  const hw = h * w;
  const base = i * c * hw;
  const pixels = new Uint8Array(hw * shown);
  for (let p = 0; p < hw; p++) {
    for (let ch = 0; ch < shown; ch++) {
      const v = images.data[base + ch * hw + p]!;
      pixels[p * shown + ch] = v <= 0 || Number.isNaN(v) ? 0 : v >= 1 ? 255 : Math.round(v * 255);
    }
  }
  return { pixels, width: w, height: h, channels: shown };
}

/** One sample as a PNG data URI, upscaled `scale`× with nearest-neighbour so small digits stay crisp. */
export async function thumbnailDataUri(images: Tensor, i: number, scale = 3, field = 'images'): Promise<{ src: string; width: number; height: number }> {
  if (!Number.isInteger(scale) || scale < 1 || scale > 16) throw new InputError('scale', `must be an integer in 1..16, got ${scale}`);
  const { pixels, width, height, channels } = sampleToPixels(images, i, field);
  const { default: sharp } = await import('sharp');
  const png = await sharp(pixels, { raw: { width, height, channels } })
    .resize(width * scale, height * scale, { kernel: 'nearest' })
    .png()
    .toBuffer();
  return { src: `data:image/png;base64,${png.toString('base64')}`, width: width * scale, height: height * scale };
}

/** Thumbnails of the given samples, taking each from its own set's tensor. */
export async function thumbnailsOf(samples: readonly RankedSample[], images: { readonly id: Tensor; readonly ood: Tensor }, scale = 3): Promise<Thumbnail[]> {
  return Promise.all(
    samples.map(async (s) => ({ ...s, ...(await thumbnailDataUri(s.set === 'id' ? images.id : images.ood, s.index, scale, s.set === 'id' ? 'idImages' : 'oodImages')) })),
  );
}
