/** Decoders from bytes to typed tensors, and the file-loading entry point. */
export { decodeNpy, encodeNpy, fortranToC, isNpy, NPY_SUPPORTED_DESCRS } from './npy.js';
export { decodeNpz, loadArrayFromNpz } from './npz.js';
export { decodeIdx, isIdx, IDX_TYPES } from './idx.js';
export { decodeCifarBin, CIFAR_RECORD_BYTES } from './cifar.js';
export { decodeImages, isJpeg, isPng, type DecodeImagesOptions, type ImageFile } from './images.js';
export { naturalCompare, naturalSort } from './natural-sort.js';
export { DECODE_LIMIT_DESCRIPTIONS, DEFAULT_DECODE_LIMITS, resolveLimits, type DecodeLimits } from './limits.js';
export {
  decodeBytes,
  decodeLabels,
  listImageFiles,
  loadData,
  loadLabels,
  SUPPORTED_FORMATS,
  type FormatInfo,
  type LoadOptions,
} from './load.js';
