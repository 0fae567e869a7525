/**
 * PNG and JPEG decoding with sharp, loaded lazily so that importing this module does not load libvips.
 *
 * - Alpha is dropped (not composited). JPEG EXIF orientation is applied.
 * - `channels: 1` converts to greyscale (luminance), `channels: 3` to sRGB. Without `channels`, the batch is 1-channel
 *   when every image is greyscale and 3-channel otherwise (greyscale images are then replicated to RGB).
 * - `size: [h, w]` resizes every image to exactly h×w (aspect ratio not kept). Without it, all images must already
 *   have the size of the first one.
 * - The batch keeps the order of `files`.
 */
import { InputError } from '../core/errors.js';
import type { DecodedArray } from '../core/tensor.js';

export interface ImageFile {
  readonly name: string;
  readonly bytes: Uint8Array;
}

export interface DecodeImagesOptions {
  readonly channels?: 1 | 3;
  /** Target [height, width]. */
  readonly size?: readonly [number, number];
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

interface Decoded {
  readonly pixels: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly channels: number;
}

function checkOptions(opts: DecodeImagesOptions): void {
  if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3) {
    throw new InputError('channels', `must be 1 or 3, got ${JSON.stringify(opts.channels)}`);
  }
  if (opts.size !== undefined) {
    const s = opts.size;
    if (!Array.isArray(s) || s.length !== 2 || !s.every((d) => Number.isInteger(d) && d >= 1 && d <= 16384)) {
      throw new InputError('size', `must be [height, width] with integers in 1..16384, got ${JSON.stringify(s)}`);
    }
  }
}

/** Decodes PNG/JPEG files into one [N,H,W,C] uint8 batch (layout NHWC) in the order given. */
export async function decodeImages(files: readonly ImageFile[], opts: DecodeImagesOptions = {}): Promise<DecodedArray> {
  checkOptions(opts);
  if (files.length === 0) throw new InputError('files', 'no images given');
  for (const [i, f] of files.entries()) {
    if (!isPng(f.bytes) && !isJpeg(f.bytes)) {
      const head = Array.from(f.bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new InputError(`files[${i}]`, `'${f.name}' is not a PNG or JPEG (starts with [${head}], ${f.bytes.length} bytes)`);
    }
  }
  const { default: sharp } = await import('sharp');

  const decodeOne = async (f: ImageFile): Promise<Decoded> => {
    const img = sharp(f.bytes, { failOn: 'truncated' });
    let space: 'b-w' | 'srgb';
    if (opts.channels !== undefined) {
      space = opts.channels === 1 ? 'b-w' : 'srgb';
    } else {
      const meta = await img.metadata();
      space = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1 ? 'b-w' : 'srgb';
    }
    let p = img.autoOrient().removeAlpha().toColourspace(space);
    if (opts.size) p = p.resize({ width: opts.size[1], height: opts.size[0], fit: 'fill' });
    const { data, info } = await p.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { pixels: data, width: info.width, height: info.height, channels: info.channels };
  };

  // Decode with bounded concurrency; remember failures so that the first problem in file order is reported.
  const results: (Decoded | { error: unknown })[] = new Array(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      try {
        results[i] = await decodeOne(files[i]!);
      } catch (error) {
        results[i] = { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, files.length) }, worker));

  const decoded: Decoded[] = [];
  for (const [i, r] of results.entries()) {
    const name = files[i]!.name;
    if ('error' in r) {
      const msg = r.error instanceof Error ? r.error.message.trim() : String(r.error);
      throw new InputError(`files[${i}]`, `'${name}' could not be decoded as an image: ${msg}`, { cause: r.error });
    }
    const first = decoded[0];
    if (first && (r.width !== first.width || r.height !== first.height)) {
      throw new InputError(
        `files[${i}]`,
        `'${name}' is ${r.height}×${r.width} (h×w) but '${files[0]!.name}' is ${first.height}×${first.width}; pass size: [h, w] to resize all images`,
      );
    }
    decoded.push(r);
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
