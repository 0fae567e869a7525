/**
 * The file-loading entry point: reads a file or an image folder and dispatches to the right decoder.
 *
 * Format detection looks at the strong magic bytes first (`\x93NUMPY`, zip `PK`, gzip `1f 8b`, PNG, JPEG), then at a
 * `.bin` name (CIFAR-10 binary, which has no magic), then at the weak IDX magic `00 00 <type> <ndim>` (a CIFAR record
 * can start like one), and last at the other extensions. A directory loads every PNG/JPEG file directly in it (named
 * `.png`, `.jpg`, `.jpeg`, `.jpe`, `.jfif`, `.pjpeg` or `.pjp`; not recursively), in natural name order (see
 * {@link naturalCompare}). Other files are ignored, unless their name or first bytes show an image: that is an error,
 * as is a subfolder holding images (which a non-recursive read would silently leave out).
 *
 * Every path is bounded by the decode limits (`limits.ts`, overridable per call with `limits`): file sizes are checked
 * with `stat` before reading, declared shapes before allocating, gzip/zip data is inflated only up to what the header
 * declares. An array with a zero-length dimension is rejected here, since no dataset can be empty.
 */
import type { Dirent, Stats } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { InputError } from '../core/errors.js';
import type { DecodedArray } from '../core/tensor.js';
import { decodeCifarBin } from './cifar.js';
import { gunzipDeclared, isGzip } from './gzip.js';
import { decodeIdx, idxInflateBound, isIdx } from './idx.js';
import { decodeImages, isJpeg, isPng } from './images.js';
import { formatBytes, resolveLimits, type DecodeLimits } from './limits.js';
import { naturalCompare } from './natural-sort.js';
import { adoptNpy, decodeNpy, isNpy, npyInflateBound } from './npy.js';
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
  { format: 'jpeg', extensions: ['.jpg', '.jpeg', '.jpe', '.jfif', '.pjpeg', '.pjp'], detection: 'JPEG SOI marker ff d8 ff' },
  { format: 'image-folder', extensions: [], detection: 'a directory of PNG/JPEG files' },
];

/** Names of the PNG and JPEG files a folder loads (sharp reads them by content; the name only selects them). */
const IMAGE_EXT = /\.(png|jpe?g|jpe|jfif|pjpeg|pjp)$/i;
const IMAGE_NAMES = '*.png, *.jpg, *.jpeg, *.jpe, *.jfif, *.pjpeg or *.pjp';
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
  if (isPng(bytes)) return 'png';
  if (isJpeg(bytes)) return 'jpeg';
  const ext = extname(name).toLowerCase();
  // CIFAR-10 binary has no magic, and a record of label 0 whose first red pixels are 0, 8, 3 starts like an IDX header
  // (00 00 08 03): the weak IDX magic must not overrule a `.bin` name. (No CIFAR label, 0-9, starts a strong magic.)
  if (ext === '.bin') return 'cifar-bin';
  if (isIdx(bytes)) return 'idx';
  // No magic matched: the extension decides (and the decoder explains what is wrong with the bytes).
  if (ext === '.npy') return 'npy';
  if (ext === '.npz') return 'npz';
  if (IDX_NAME.test(name)) return 'idx';
  if (IMAGE_EXT.test(name)) return ext === '.png' ? 'png' : 'jpeg';
  return 'unknown';
}

/** `adopt`: the bytes are the caller's to hand over (a file loadData just read), so a .npy may be decoded in place. */
async function decodeAny(bytes: Uint8Array, name: string, opts: LoadOptions, lim: DecodeLimits, adopt = false): Promise<DecodedArray> {
  const field = name;
  const format = sniffFormat(bytes, name);
  if (format === 'npy') return adopt ? adoptNpy(bytes, field, lim) : decodeNpy(bytes, field, lim);
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

/** Bytes read from a folder entry of another name to see whether it is an image ({@link imageKindOf}). */
const SNIFF_BYTES = 12;

/** The image format `head` (a file's first bytes) starts with, by an unambiguous signature; undefined for none. */
function imageKindOf(head: Uint8Array): string | undefined {
  const text = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (isPng(head)) return 'PNG';
  if (isJpeg(head)) return 'JPEG';
  if (text(0, 6) === 'GIF87a' || text(0, 6) === 'GIF89a') return 'GIF';
  if (text(0, 4) === 'RIFF' && text(8, 12) === 'WEBP') return 'WebP';
  if (text(0, 4) === 'II*\0' || text(0, 4) === 'MM\0*') return 'TIFF';
  if (text(0, 2) === 'BM' && head.length >= 10 && head[6] === 0 && head[7] === 0 && head[8] === 0 && head[9] === 0) return 'BMP';
  if (text(4, 8) === 'ftyp' && /^(avif|avis|heic|heix|hevc|mif1|msf1)$/.test(text(8, 12))) return 'AVIF/HEIF';
  if (text(0, 12) === '\0\0\0\x0cJXL \r\n\x87\n') return 'JPEG XL'; // the container (a bare codestream's ff 0a is too short to tell)
  return undefined;
}

/** The image format of a folder entry not named as one, from its first bytes; undefined when it is no regular file. */
async function imageKindOfEntry(path: string, entry: Dirent): Promise<string | undefined> {
  // Only a regular file is opened (a FIFO would block); a symbolic link is followed by stat, a dangling one ignored.
  if (!entry.isFile() && !(entry.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isFile())) return undefined;
  // One the user cannot read (permissions) or that went away meanwhile is not an image this load could use: left out,
  // as before this check existed, rather than failing the whole folder.
  const fh = await open(path, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    const head = new Uint8Array(SNIFF_BYTES);
    const { bytesRead } = await fh.read(head, 0, SNIFF_BYTES, 0);
    return imageKindOf(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/**
 * The first image name (PNG/JPEG or another image format) directly in the subfolder `path`; undefined for none, or when
 * it is no folder or cannot be read (left out, as an unreadable file is).
 */
async function imageInSubfolder(path: string, entry: Dirent): Promise<string | undefined> {
  if (!entry.isDirectory() && !(entry.isSymbolicLink() && (await stat(path).catch(() => undefined))?.isDirectory())) return undefined;
  const names = await readdir(path).catch(() => [] as string[]);
  return names.sort(naturalCompare).find((n) => IMAGE_EXT.test(n) || UNSUPPORTED_IMAGE_EXT.test(n));
}

/**
 * Names of the PNG/JPEG entries directly in `dir`, in natural order. Every entry with such a name is listed, symbolic
 * links included (the caller's stat follows them and refuses anything that is not a regular file), so no image is
 * dropped unseen; an image in another format, one whose name is not a PNG/JPEG name (`frame7`, `a.dat`), or a subfolder
 * holding images (`train/0/a.png`: folders are not read recursively) is an error, since skipping it would silently
 * leave samples out or shift every later one. Other entries are read for their first 12 bytes (or names) only.
 */
async function listImageFiles(dir: string): Promise<string[]> {
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => naturalCompare(a.name, b.name));
  const other = entries.find((e) => !e.isDirectory() && UNSUPPORTED_IMAGE_EXT.test(e.name));
  if (other) throw new InputError('path', `${join(dir, other.name)}: only PNG and JPEG images are read from a folder; convert it or move it out`);
  for (const e of entries) {
    if (IMAGE_EXT.test(e.name)) continue;
    const path = join(dir, e.name);
    const inside = await imageInSubfolder(path, e);
    if (inside !== undefined) {
      throw new InputError('path', `${path} is a folder holding images ('${inside}'); only the images directly in ${dir} are read, not those in subfolders: move them up, or load the subfolder on its own`);
    }
    if (e.isDirectory()) continue;
    const kind = await imageKindOfEntry(path, e);
    if (kind === 'PNG' || kind === 'JPEG') {
      throw new InputError('path', `${path} is a ${kind} image by its content, but only files named ${IMAGE_NAMES} are read from a folder; rename it or move it out`);
    }
    if (kind) throw new InputError('path', `${path} is a ${kind} image by its content: only PNG and JPEG images are read from a folder; convert it or move it out`);
  }
  return entries.filter((e) => IMAGE_EXT.test(e.name)).map((e) => e.name);
}

/** Checks that `path` is a regular file (not a device or FIFO, which could stream forever) within `maxFileBytes`. */
function checkFile(st: Stats, path: string, lim: DecodeLimits): void {
  if (!st.isFile()) throw new InputError('path', `${path} is not a regular file or directory`);
  if (st.size > lim.maxFileBytes) throw new InputError('path', `${path} is ${formatBytes(st.size)}, more than maxFileBytes ${formatBytes(lim.maxFileBytes)}`);
}

/**
 * A file's bytes as a plain Uint8Array (not a Buffer, whose `slice` is a view where the decoders expect a copy), over
 * readFile's memory instead of a copy of it: a copy of a large file costs mostly page faults on the fresh memory (with
 * adoptNpy, loadData of the seed example's 4 MB .npy went from 71 to 26 ms, median of 15 interleaved cold processes).
 * The view is taken only when the Buffer has its ArrayBuffer to itself (readFile's does), so a decoder reaching for
 * `.buffer` still finds exactly the file there.
 */
async function readBytes(path: string): Promise<Uint8Array> {
  const b = await readFile(path);
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer, 0, b.byteLength) : new Uint8Array(b);
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
    if (names.length === 0) throw new InputError('path', `directory ${path} contains no ${IMAGE_NAMES} files`);
    if (names.length > lim.maxSamples) throw new InputError('path', `directory ${path} holds ${names.length} images, more than maxSamples ${lim.maxSamples}`);
    const stats = await Promise.all(names.map((name) => statPath(join(path, name), 'path')));
    let total = 0;
    stats.forEach((s, i) => {
      if (!s.isFile()) throw new InputError('path', `${join(path, names[i]!)} is not a regular file`);
      total += s.size;
    });
    if (total > lim.maxFileBytes) throw new InputError('path', `the images in ${path} are ${formatBytes(total)} together, more than maxFileBytes ${formatBytes(lim.maxFileBytes)}`);
    const files = await Promise.all(names.map(async (name) => ({ name, bytes: await readBytes(join(path, name)) })));
    return decodeImages(files, { ...opts, limits: lim });
  }
  checkFile(st, path, lim);
  const name = basename(path);
  return checkNotEmpty(await decodeAny(await readBytes(path), name, opts, lim, true), name);
}

/**
 * Bytes one label may take in a label file, generously: 8 in a `.npy` (int64/float64), about 7 in indented JSON
 * (`    1,\n`), 32 allows floats and wide indentation (`1.0,\r\n` after 26 spaces).
 */
const LABEL_BYTES = 32;

/** The largest label file `decodeLabels` reads under `limits`: a .npy header, then maxSamples labels. */
export function labelFileMaxBytes(limits?: Partial<DecodeLimits>): number {
  const lim = resolveLimits(limits);
  return lim.maxHeaderBytes + 64 + LABEL_BYTES * lim.maxSamples;
}

/**
 * Refuses a label file larger than any file of at most `maxSamples` labels can be, on its size alone: before it is
 * read or decoded (a label file used to be decoded whole, TextDecoder and JSON.parse, before its length was checked).
 */
function checkLabelBytes(size: number, name: string, lim: DecodeLimits): void {
  const most = labelFileMaxBytes(lim);
  if (size > most) {
    throw new InputError(name, `is ${formatBytes(size)}; a file of at most maxSamples ${lim.maxSamples} labels is at most ${formatBytes(most)} (${LABEL_BYTES} bytes a label, plus a header), so it is not decoded`);
  }
}

/**
 * Parses a 0/1 OOD label file: a `.npy` of any numeric dtype with shape [N] or [N,1], or a JSON array of numbers.
 * Every value must be the integer 0 or 1; the error names the first index that is not. A file larger than
 * `maxSamples` labels can be is refused before it is decoded.
 */
export function decodeLabels(bytes: Uint8Array, name: string, limits?: Partial<DecodeLimits>): number[] {
  const lim = resolveLimits(limits);
  checkLabelBytes(bytes.length, name, lim);
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
  checkLabelBytes(st.size, basename(path), lim); // before reading it
  return decodeLabels(await readBytes(path), basename(path), lim);
}
