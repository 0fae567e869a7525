import { InputError, isImagedriftError } from '../core/errors.js';
import { SERVICE_DECODE_LIMITS } from './limits.js';
import type { DecodedArray } from '../core/tensor.js';
import { dtypeScale } from '../core/preprocess.js';
import { decodeBase64 } from '../io/base64.js';
import { decodeImages, isJpeg, isPng } from '../io/images.js';
import { decodeBytes } from '../io/load.js';
import { encodeNpy } from '../io/npy.js';

/**
 * Decodes predict's inline `images[]`: each item base64, either all PNG/JPEG (one image each, decoded as one batch)
 * or a single `.npy` holding the whole batch. Errors name the item (`images[3]`).
 */
export async function decodeInlineImages(images: readonly string[]): Promise<DecodedArray> {
  const files = images.map((s, i) => ({ name: `images[${i}]`, bytes: decodeBase64(s, `images[${i}]`) }));
  const nonImage = files.findIndex((f) => !isPng(f.bytes) && !isJpeg(f.bytes));
  if (nonImage < 0) {
    try {
      return await decodeImages(files, { limits: SERVICE_DECODE_LIMITS });
    } catch (e) {
      // decodeImages names positions as files[i]; the request calls them images[i].
      if (isImagedriftError(e) && e.field?.startsWith('files[')) throw new InputError(e.field.replace(/^files/, 'images'), e.detail, { cause: e });
      throw e;
    }
  }
  if (files.length > 1) throw new InputError(`images[${nonImage}]`, 'is not a PNG or JPEG; a .npy batch must be sent alone, as images: [<one base64 .npy>]');
  return decodeBytes(files[0]!.bytes, 'images[0].npy', { limits: SERVICE_DECODE_LIMITS });
}

/**
 * Stores a decoded inline batch as .npy bytes (for a predict job over more images than are answered inline), so that
 * the job preprocesses them as a sync predict does. Preprocessing scales by dtype (integers ÷255, floats and bool as
 * they are), so integer data is stored as uint8: as float32 an int16 batch of 0..255 pixels was not scaled in the job
 * (refused as out of range, or scored 255× too bright). Integer values outside 0..255 pass only a numeric scale,
 * which ignores the dtype, so float32 keeps them.
 */
export function toNpy(a: DecodedArray): Uint8Array {
  const integer = dtypeScale(a.dtype) !== 1; // scaled ÷255 by the automatic rule
  if (integer && a.data.every((v) => v >= 0 && v <= 255)) return encodeNpy(Uint8Array.from(a.data), a.shape, 'uint8');
  return encodeNpy(a.data, a.shape, 'float32');
}
