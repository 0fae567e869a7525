/**
 * PNG and JPEG decoding with sharp, loaded lazily so that importing this module does not load libvips.
 *
 * - Alpha is dropped (not composited). JPEG EXIF orientation is applied.
 * - `channels: 1` converts to greyscale (luminance), `channels: 3` to sRGB. Without `channels`, the batch is 1-channel
 *   when every image is greyscale and 3-channel otherwise (greyscale images are then replicated to RGB).
 * - `size: [h, w]` resizes every image to exactly h×w (aspect ratio not kept). Without it, all images must already
 *   have the size of the first one.
 * - The batch keeps the order of `files`.
 * - Limits (see `limits.ts`) are checked on the image headers before any pixel is decoded: each image's width × height
 *   against `maxImagePixels` (also passed to sharp as `limitInputPixels`), the number of images against `maxSamples`,
 *   and the whole batch (float32 result plus the decoded uint8 pixels) against `maxElements` and `maxDecodedBytes`.
 */
import { InputError } from '../core/errors.js';
import { mapSettledBounded, type Failed } from '../concurrency.js';
import type { DecodedArray } from '../core/tensor.js';
import { checkedProduct, formatBytes, resolveLimits, type DecodeLimits } from './limits.js';

export interface ImageFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface DecodeImagesOptions {
  readonly channels?: 1 | 3;
  /** Target [height, width]. */
  readonly size?: readonly [number, number];
  /** Decode limits; missing fields take the defaults of `limits.ts`. */
  readonly limits?: Partial<DecodeLimits>;
}

const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_MAGIC.every((b, i) => bytes[i] === b);
}

export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** How many images are decoded at once (sharp runs each on its own libuv thread). */
const CONCURRENCY = 8;

interface Header {
  readonly width: number;
  readonly height: number;
  /** True when the image has one colour channel (greyscale, with or without alpha). */
  readonly grey: boolean;
}

interface Decoded {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

function checkOptions(opts: DecodeImagesOptions, lim: DecodeLimits): void {
  if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3) {
    throw new InputError('channels', `must be 1 or 3, got ${JSON.stringify(opts.channels)}`);
  }
  if (opts.size !== undefined) {
    const s = opts.size;
    if (!Array.isArray(s) || s.length !== 2 || !s.every((d) => Number.isInteger(d) && d >= 1 && d <= lim.maxImageSide)) {
      throw new InputError('size', `must be [height, width] with integers in 1..${lim.maxImageSide} (maxImageSide), got ${JSON.stringify(s)}`);
    }
    if (s[0] * s[1] > lim.maxImagePixels) {
      throw new InputError('size', `${s[0]}×${s[1]} is ${s[0] * s[1]} pixels, more than maxImagePixels ${lim.maxImagePixels}`);
    }
  }
}

/** The value of result `i`, or its failure as an InputError on `files[i]` (InputErrors from the checks pass unchanged). */
function unwrap<T extends object>(r: T | Failed, files: readonly ImageFile[], i: number): T {
  if (!('error' in r)) return r;
  if (r.error instanceof InputError) throw r.error;
  const msg = r.error instanceof Error ? r.error.message.trim() : String(r.error);
  throw new InputError(`files[${i}]`, `'${files[i]!.name}' could not be decoded as an image: ${msg}`, { cause: r.error });
}

/** Decodes PNG/JPEG files into one [N,H,W,C] uint8 batch (layout NHWC) in the order given. */
export async function decodeImages(files: readonly ImageFile[], opts: DecodeImagesOptions = {}): Promise<DecodedArray> {
  const lim = resolveLimits(opts.limits);
  checkOptions(opts, lim);
  if (files.length === 0) throw new InputError('files', 'no images given');
  if (files.length > lim.maxSamples) throw new InputError('files', `${files.length} images, more than maxSamples ${lim.maxSamples}`);
  for (const [i, f] of files.entries()) {
    if (!isPng(f.bytes) && !isJpeg(f.bytes)) {
      const head = Array.from(f.bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new InputError(`files[${i}]`, `'${f.name}' is not a PNG or JPEG (starts with [${head}], ${f.bytes.length} bytes)`);
    }
  }
  const { default: sharp } = await import('sharp');

  // 1. Headers only (no pixel is decoded): sizes against the limits, before anything large is allocated.
  const headerResults = await mapSettledBounded(files, CONCURRENCY, async (f, i): Promise<Header> => {
    const meta = await sharp(f.bytes, { limitInputPixels: false }).metadata();
    const { width = 0, height = 0 } = meta;
    if (width < 1 || height < 1) throw new InputError(`files[${i}]`, `'${f.name}' is ${height}×${width} (h×w) pixels; an image needs at least 1×1`);
    if (width * height > lim.maxImagePixels) {
      throw new InputError(`files[${i}]`, `'${f.name}' is ${height}×${width} (h×w) = ${width * height} pixels, more than maxImagePixels ${lim.maxImagePixels}; not decoded`);
    }
    if (width > lim.maxImageSide || height > lim.maxImageSide) {
      throw new InputError(`files[${i}]`, `'${f.name}' is ${height}×${width} (h×w) pixels, a side longer than maxImageSide ${lim.maxImageSide}; not decoded`);
    }
    return { width, height, grey: (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1 };
  });
  const headers = headerResults.map((r, i) => unwrap(r, files, i));
  const budgetChannels = opts.channels ?? (headers.every((h) => h.grey) ? 1 : 3);
  let elements = 0;
  for (const h of headers) elements += (opts.size ? checkedProduct(opts.size) : h.width * h.height) * budgetChannels;
  if (elements > lim.maxElements) {
    throw new InputError('files', `${files.length} images decode to ${elements} values, more than maxElements ${lim.maxElements}`);
  }
  if (elements * 5 > lim.maxDecodedBytes) {
    throw new InputError('files', `${files.length} images need ${formatBytes(elements * 5)} (float32 result and decoded pixels), more than maxDecodedBytes ${formatBytes(lim.maxDecodedBytes)}`);
  }

  // 2. Pixels.
  const pixelLimit = Number.isFinite(lim.maxImagePixels) ? lim.maxImagePixels : false;
  const results = await mapSettledBounded(files, CONCURRENCY, async (f, i): Promise<Decoded> => {
    const space = (opts.channels ?? (headers[i]!.grey ? 1 : 3)) === 1 ? 'b-w' : 'srgb';
    let p = sharp(f.bytes, { failOn: 'truncated', limitInputPixels: pixelLimit }).autoOrient().removeAlpha().toColourspace(space);
    if (opts.size) p = p.resize({ width: opts.size[1], height: opts.size[0], fit: 'fill' });
    const { data, info } = await p.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { pixels: data, width: info.width, height: info.height, channels: info.channels };
  });
  // The first problem in file order: a failed decode, or a size that differs from the first image's.
  const decoded: Decoded[] = [];
  for (const [i, r] of results.entries()) {
    const ok = unwrap(r, files, i);
    const first = decoded[0];
    if (first && (ok.width !== first.width || ok.height !== first.height)) {
      throw new InputError(
        `files[${i}]`,
        `'${files[i]!.name}' is ${ok.height}×${ok.width} (h×w) but '${files[0]!.name}' is ${first.height}×${first.width}; images read together must share one size (resize them first)`,
      );
    }
    decoded.push(ok);
  }

  const { width: w, height: h } = decoded[0]!;
  const c = opts.channels ?? (decoded.some((d) => d.channels === 3) ? 3 : 1);
  const per = h * w * c;
  const data = new Float32Array(decoded.length * per);
  for (const [i, d] of decoded.entries()) {
    const base = i * per;
    if (d.channels === c) {
      data.set(d.pixels, base);
    } else {
      // A greyscale image in a 3-channel batch: replicate the plane.
      for (let p = 0, o = base; p < h * w; p++, o += 3) {
        const v = d.pixels[p]!;
        data[o] = v; data[o + 1] = v; data[o + 2] = v;
      }
    }
  }
  return { data, shape: [decoded.length, h, w, c], dtype: 'uint8', layout: 'NHWC' };
}
