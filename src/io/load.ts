/**
 * The file-loading entry point: reads a file or an image folder and dispatches to the right decoder.
 *
 * Format detection looks at magic bytes first (`\x93NUMPY`, zip `PK`, gzip `1f 8b`, IDX `00 00 <type> <ndim>`, PNG,
 * JPEG) and falls back to the file extension (`.bin` is CIFAR-10 binary, which has no magic). A directory loads every
 * `.png`/`.jpg`/`.jpeg` file directly in it (not recursively; other files are ignored), in natural name order
 * (see {@link naturalCompare}).
 *
 * Every path is bounded by the decode limits (`limits.ts`, overridable per call with `limits`): file sizes are checked
 * with `stat` before reading, declared shapes before allocating, gzip/zip data is inflated only up to what the header
 * declares. An array with a zero-length dimension is rejected here, since no dataset can be empty.
 */
import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InputError } from '../core/errors.js';
import type { DecodedArray } from '../core/tensor.js';
import { decodeCifarBin } from './cifar.js';
import { gunzipDeclared, isGzip } from './gzip.js';
import { decodeIdx, idxInflateBound, isIdx } from './idx.js';
import { decodeImages, isJpeg, isPng } from './images.js';
import { formatBytes, resolveLimits, type DecodeLimits } from './limits.js';
import { naturalCompare } from './natural-sort.js';
import { decodeNpy, isNpy, npyInflateBound } from './npy.js';
import { loadArrayFromNpz } from './npz.js';

export interface LoadOptions {
  /** Which array of an `.npz` to load; needed when the archive holds more than one. Used only for `.npz`. */
  readonly npzKey?: string;
  /** Images only: convert to 1 (greyscale) or 3 (RGB) channels. */
  readonly channels?: 1 | 3;
  /** Images only: resize every image to [height, width]. */
  readonly size?: readonly [number, number];
  /** Decode limits; missing fields take the defaults of `limits.ts` (`DEFAULT_DECODE_LIMITS`). */
  readonly limits?: Partial<DecodeLimits>;
}

export interface FormatInfo {
  readonly format: string;
  readonly extensions: readonly string[];
  readonly detection: string;
}

/** The input formats `loadData`/`decodeBytes` understand. */
export const SUPPORTED_FORMATS: readonly FormatInfo[] = [
  { format: 'npy', extensions: ['.npy'], detection: 'magic \\x93NUMPY (versions 1.0, 2.0, 3.0)' },
  { format: 'npz', extensions: ['.npz'], detection: 'zip magic PK' },
  { format: 'idx', extensions: ['-ubyte', '.idx', '.gz'], detection: 'magic 00 00 <type> <ndim>, plain or gzip' },
  { format: 'cifar-bin', extensions: ['.bin'], detection: 'extension only (3073-byte records)' },
  { format: 'png', extensions: ['.png'], detection: 'PNG signature' },
  { format: 'jpeg', extensions: ['.jpg', '.jpeg'], detection: 'JPEG SOI marker ff d8 ff' },
  { format: 'image-folder', extensions: [], detection: 'a directory of .png/.jpg/.jpeg files' },
];

const IMAGE_EXT = /\.(png|jpe?g)$/i;
const IDX_NAME = /(ubyte|\.idx\d*)$/i;

function isZip(bytes: Uint8Array): boolean {
  // Local file header (PK\3\4) or the end-of-central-directory record of an empty archive (PK\5\6).
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

function unknownFormat(bytes: Uint8Array, field: string, what = 'unrecognised format'): InputError {
  const head = Array.from(bytes.subarray(0, 8), (b) => b.toString(16).padStart(2, '0')).join(' ');
  const list = SUPPORTED_FORMATS.map((f) => `${f.format} (${f.extensions.length ? f.extensions.join(' ') + ', ' : ''}${f.detection})`).join('; ');
  return new InputError(field, `${what} (${bytes.length} bytes, starting [${head}]); supported formats: ${list}`);
}

/** Rejects an array with a zero-length dimension: an empty dataset cannot be fitted, calibrated or scored. */
function checkNotEmpty(arr: DecodedArray, field: string): DecodedArray {
  const zero = arr.shape.indexOf(0);
  if (zero >= 0) throw new InputError(`${field}.shape`, `array of shape [${arr.shape.join(',')}] is empty (dimension ${zero} is 0); a dataset needs at least one sample`);
  return arr;
}

/**
 * Decodes one file's bytes, detecting the format from its magic bytes and then from the extension of `name`.
 * `name` also prefixes error fields.
 */
export async function decodeBytes(bytes: Uint8Array, name: string, opts: LoadOptions = {}): Promise<DecodedArray> {
  const lim = resolveLimits(opts.limits);
  return checkNotEmpty(await decodeAny(bytes, name, opts, lim), name);
}

/** What a file is, from its magic bytes first and then the extension of `name`: the one order of checks. */
export type SniffedFormat = 'npy' | 'npz' | 'gzip' | 'idx' | 'png' | 'jpeg' | 'cifar-bin' | 'unknown';

export function sniffFormat(bytes: Uint8Array, name: string): SniffedFormat {
  if (isNpy(bytes)) return 'npy';
  if (isZip(bytes)) return 'npz';
  if (isGzip(bytes)) return 'gzip';
  if (isIdx(bytes)) return 'idx';
  if (isPng(bytes)) return 'png';
  if (isJpeg(bytes)) return 'jpeg';
  // No magic matched: the extension decides (and the decoder explains what is wrong with the bytes).
  const ext = extname(name).toLowerCase();
  if (ext === '.bin') return 'cifar-bin';
  if (ext === '.npy') return 'npy';
  if (ext === '.npz') return 'npz';
  if (IDX_NAME.test(name)) return 'idx';
  if (IMAGE_EXT.test(name)) return ext === '.png' ? 'png' : 'jpeg';
  return 'unknown';
}

async function decodeAny(bytes: Uint8Array, name: string, opts: LoadOptions, lim: DecodeLimits): Promise<DecodedArray> {
  const field = name;
  const format = sniffFormat(bytes, name);
  if (format === 'npy') return decodeNpy(bytes, field, lim);
  if (format === 'npz') return loadArrayFromNpz(bytes, opts.npzKey, field, lim);
  if (format === 'gzip') {
    const innerField = `${field}(gunzipped)`;
    const idxByName = IDX_NAME.test(name.replace(/\.gz$/i, ''));
    // Inflate only the first bytes, validate the header they hold, then at most the length that header declares.
    const inner = gunzipDeclared(bytes, field, lim, 12 + lim.maxHeaderBytes, (head) => {
      if (isNpy(head)) return npyInflateBound(head, innerField, lim);
      if (isIdx(head) || idxByName) return idxInflateBound(head, innerField, lim);
      throw unknownFormat(head, field, 'gzip data holding an unrecognised format');
    });
    if (isNpy(inner)) return decodeNpy(inner, innerField, lim);
    if (isIdx(inner) || idxByName) return decodeIdx(inner, innerField, lim);
    throw unknownFormat(inner, field, 'gzip data holding an unrecognised format');
  }
  if (format === 'idx') return decodeIdx(bytes, field, lim);
  if (format === 'png' || format === 'jpeg') return decodeImages([{ name, bytes }], { ...opts, limits: lim });
  if (format === 'cifar-bin') return decodeCifarBin(bytes, field, lim);
  throw unknownFormat(bytes, field);
}

async function statPath(path: string, field: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputError(field, code === 'ENOENT' ? `no such file or directory: ${path}` : `cannot read ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Image formats a folder may plausibly hold that are not read: refused by name rather than skipped. */
const UNSUPPORTED_IMAGE_EXT = /\.(gif|webp|bmp|tiff?|avif|heic|heif|jxl|ppm|pgm)$/i;

/**
 * Names of the PNG/JPEG entries directly in `dir`, in natural order. Every entry with such a name is listed, symbolic
 * links included (the caller's stat follows them and refuses anything that is not a regular file), so no image is
 * dropped unseen; an image in another format is an error, since skipping it would shift every later sample.
 */
export async function listImageFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const other = entries.find((e) => !e.isDirectory() && UNSUPPORTED_IMAGE_EXT.test(e.name));
  if (other) throw new InputError('path', `${join(dir, other.name)}: only PNG and JPEG images are read from a folder; convert it or move it out`);
  return entries.filter((e) => IMAGE_EXT.test(e.name)).map((e) => e.name).sort(naturalCompare);
}

/** Checks that `path` is a regular file (not a device or FIFO, which could stream forever) within `maxFileBytes`. */
function checkFile(st: Stats, path: string, lim: DecodeLimits): void {
  if (!st.isFile()) throw new InputError('path', `${path} is not a regular file or directory`);
  if (st.size > lim.maxFileBytes) throw new InputError('path', `${path} is ${formatBytes(st.size)}, more than maxFileBytes ${formatBytes(lim.maxFileBytes)}`);
}

/**
 * Loads a file (any format in {@link SUPPORTED_FORMATS}) or a directory of PNG/JPEG images as one array.
 * `channels` and `size` apply to images only; `npzKey` to `.npz` archives only; `limits` to every format.
 */
export async function loadData(path: string, opts: LoadOptions = {}): Promise<DecodedArray> {
  const lim = resolveLimits(opts.limits);
  const st = await statPath(path, 'path');
  if (st.isDirectory()) {
    const names = await listImageFiles(path);
    if (names.length === 0) throw new InputError('path', `directory ${path} contains no .png, .jpg or .jpeg files`);
    if (names.length > lim.maxSamples) throw new InputError('path', `directory ${path} holds ${names.length} images, more than maxSamples ${lim.maxSamples}`);
    const stats = await Promise.all(names.map((name) => statPath(join(path, name), 'path')));
    let total = 0;
    stats.forEach((s, i) => {
      if (!s.isFile()) throw new InputError('path', `${join(path, names[i]!)} is not a regular file`);
      total += s.size;
    });
    if (total > lim.maxFileBytes) throw new InputError('path', `the images in ${path} are ${formatBytes(total)} together, more than maxFileBytes ${formatBytes(lim.maxFileBytes)}`);
    const files = await Promise.all(names.map(async (name) => ({ name, bytes: new Uint8Array(await readFile(join(path, name))) })));
    return decodeImages(files, { ...opts, limits: lim });
  }
  checkFile(st, path, lim);
  const bytes = new Uint8Array(await readFile(path));
  return decodeBytes(bytes, basename(path), { ...opts, limits: lim });
}

/**
 * Parses a 0/1 OOD label file: a `.npy` of any numeric dtype with shape [N] or [N,1], or a JSON array of numbers.
 * Every value must be the integer 0 or 1; the error names the first index that is not.
 */
export function decodeLabels(bytes: Uint8Array, name: string, limits?: Partial<DecodeLimits>): number[] {
  const lim = resolveLimits(limits);
  let values: ArrayLike<unknown>;
  if (isNpy(bytes)) {
    const arr = decodeNpy(bytes, name, lim);
    const s = arr.shape;
    if (!(s.length === 1 || (s.length === 2 && s[1] === 1))) {
      throw new InputError(`${name}.shape`, `labels must have shape [N] or [N,1], got [${s.join(',')}]`);
    }
    values = arr.data;
  } else {
    const text = new TextDecoder('utf-8').decode(bytes).replace(/^\uFEFF/, '');
    const looksJson = extname(name).toLowerCase() === '.json' || /^\s*\[/.test(text);
    if (!looksJson) throw new InputError(name, 'labels must be a .npy array or a JSON array of 0/1 values');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new InputError(name, `invalid JSON: ${(e as Error).message}`, { cause: e });
    }
    if (!Array.isArray(parsed)) throw new InputError(name, `labels JSON must be an array, got ${parsed === null ? 'null' : typeof parsed}`);
    values = parsed;
  }
  if (values.length === 0) throw new InputError(name, 'no labels (empty array)');
  if (values.length > lim.maxSamples) throw new InputError(name, `${values.length} labels, more than maxSamples ${lim.maxSamples}`);
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== 0 && v !== 1) {
      throw new InputError(`labels[${i}]`, `${typeof v === 'number' ? String(v) : JSON.stringify(v) ?? String(v)} in ${name} is not 0 or 1 (0 = in-distribution, 1 = OOD)`);
    }
    out[i] = v;
  }
  return out;
}

/** Reads a label file (see {@link decodeLabels}). */
export async function loadLabels(path: string, limits?: Partial<DecodeLimits>): Promise<number[]> {
  const lim = resolveLimits(limits);
  const st = await statPath(path, 'path');
  if (st.isDirectory()) throw new InputError('path', `${path} is a directory, expected a .npy or .json label file`);
  checkFile(st, path, lim);
  return decodeLabels(new Uint8Array(await readFile(path)), basename(path), lim);
}
