/**
 * Hostile inputs for every decoder: forged sizes, decompression bombs, truncations, malformed headers, values that
 * must not reach scoring. Each case asserts the error class and its field/message, and the bomb cases assert that
 * memory stayed bounded (RSS growth and peak RSS within 200 MB of the RSS before the call).
 *
 * The bombs are built directly as deflate bit streams (fixed Huffman: one literal 0, then 13-bit "repeat 258 bytes at
 * distance 1" codes), so a 2 GiB bomb costs ~13 MB and ~50 ms to make, and nothing here ever inflates it fully.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { crc32, deflateRawSync, gunzipSync, gzipSync, inflateRawSync } from 'node:zlib';
import onnxProto from 'onnx-proto';
import sharp from 'sharp';
import { ImagedriftError, InputError, ModelError } from '../../src/core/errors.js';
import { defaultPreprocess, toModelInput } from '../../src/core/preprocess.js';
import { decodeCifarBin } from '../../src/io/cifar.js';
import { decodeIdx } from '../../src/io/idx.js';
import { decodeImages } from '../../src/io/images.js';
import { DEFAULT_DECODE_LIMITS, resolveLimits } from '../../src/io/limits.js';
import { decodeBytes, decodeLabels, loadData, loadLabels } from '../../src/io/load.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { decodeNpz, loadArrayFromNpz } from '../../src/io/npz.js';
import { readCheckpoint } from '../../src/model/ckpt.js';
import { FeatureExtractor } from '../../src/model/extract.js';
import { inputSpec, listTensorNames } from '../../src/model/graph.js';
import { createSession } from '../../src/model/session.js';
import { DATASETS, REPO, SEED } from '../helpers/paths.js';
import { dict, npyFile, rawBytes } from '../io/build-npy.js';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

// ---------------------------------------------------------------------------------------------------------------
// assertions

function check(e: unknown, cls: typeof InputError | typeof ModelError, field: string | RegExp, patterns: readonly RegExp[]): true {
  assert.ok(e instanceof cls, `expected ${cls.name}, got ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
  if (typeof field === 'string') assert.equal(e.field, field, e.message);
  else assert.match(e.field ?? '', field, e.message);
  for (const p of patterns) assert.match(e.message, p);
  return true;
}

function throwsTyped(fn: () => unknown, cls: typeof InputError | typeof ModelError, field: string | RegExp, ...patterns: RegExp[]): void {
  assert.throws(fn, (e: unknown) => check(e, cls, field, patterns));
}

async function rejectsTyped(p: Promise<unknown>, cls: typeof InputError | typeof ModelError, field: string | RegExp, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => check(e, cls, field, patterns));
}

/**
 * Runs `fn` and asserts that the RSS after it exceeds the RSS before it by less than `maxGrowth`, and so does the
 * process's peak RSS if the call raised it (this catches a buffer allocated and freed inside the call; the bomb tests
 * run first, while the earlier peak is close to the current RSS).
 */
async function boundedMemory<T>(fn: () => T | Promise<T>, maxGrowth = 200 * MiB): Promise<T> {
  const before = process.memoryUsage().rss;
  const peakBefore = process.resourceUsage().maxRSS * 1024;
  let out: T;
  try {
    out = await fn();
  } finally {
    const after = process.memoryUsage().rss;
    const peak = process.resourceUsage().maxRSS * 1024;
    assert.ok(after - before < maxGrowth, `RSS grew by ${((after - before) / MiB).toFixed(0)} MB during the call`);
    if (peak > peakBefore) assert.ok(peak - before < maxGrowth, `peak RSS rose to ${((peak - before) / MiB).toFixed(0)} MB above the RSS before the call`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// builders

class BitWriter {
  private acc = 0;
  private n = 0;
  private pos = 0;
  private readonly out: Uint8Array;
  constructor(capacity: number) {
    this.out = new Uint8Array(capacity);
  }
  /** Writes the low `len` bits of `v`, least significant first (deflate's bit order for everything but Huffman codes). */
  bits(v: number, len: number): void {
    this.acc |= v << this.n;
    this.n += len;
    while (this.n >= 8) {
      this.out[this.pos++] = this.acc & 0xff;
      this.acc >>>= 8;
      this.n -= 8;
    }
  }
  /** Writes a Huffman code, most significant bit first. */
  code(c: number, len: number): void {
    let r = 0;
    for (let i = 0; i < len; i++) r |= ((c >> i) & 1) << (len - 1 - i);
    this.bits(r, len);
  }
  literal(b: number): void {
    if (b < 144) this.code(0x30 + b, 8);
    else this.code(0x190 + b - 144, 9);
  }
  finish(): Uint8Array {
    if (this.n > 0) this.out[this.pos++] = this.acc & 0xff;
    return this.out.slice(0, this.pos);
  }
}

/** A raw deflate stream of `prefix` followed by `zeros` zero bytes, one fixed-Huffman block. */
function deflateBomb(prefix: Uint8Array, zeros: number): Uint8Array {
  const w = new BitWriter(Math.ceil(((zeros / 258) * 13) / 8) + 2 * prefix.length + 300);
  w.bits(1, 1); // BFINAL
  w.bits(1, 2); // BTYPE 01: fixed Huffman
  for (const b of prefix) w.literal(b);
  let left = zeros;
  if (left > 0) { w.literal(0); left--; }
  // length 258 is code 285 (8 bits 11000101), distance 1 is code 0 (5 bits): one 13-bit value, written once reversed
  let rep = 0;
  for (let i = 0; i < 8; i++) rep |= ((0b11000101 >> i) & 1) << (7 - i);
  while (left >= 258) { w.bits(rep, 13); left -= 258; }
  while (left > 0) { w.literal(0); left--; }
  w.code(0, 7); // end of block (256)
  return w.finish();
}

/** CRC-32 of `prefix` followed by `zeros` zero bytes. */
function crcOfZeros(prefix: Uint8Array, zeros: number): number {
  let crc = crc32(prefix);
  const block = new Uint8Array(16 * MiB);
  for (let left = zeros; left > 0; left -= block.length) crc = crc32(left >= block.length ? block : block.subarray(0, left), crc);
  return crc;
}

/** A gzip member around a raw deflate stream (correct CRC and ISIZE when `crc` is given). */
function gzipOf(raw: Uint8Array, size: number, crc = 0): Uint8Array {
  const out = new Uint8Array(10 + raw.length + 8);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  out.set(raw, 10);
  const dv = new DataView(out.buffer);
  dv.setUint32(10 + raw.length, crc >>> 0, true);
  dv.setUint32(14 + raw.length, size % 2 ** 32, true);
  return out;
}

interface ZipMember {
  name: string;
  /** The member's bytes as stored (raw deflate for method 8). */
  data: Uint8Array;
  method: number;
  /** The uncompressed size written in the headers (may lie). */
  size: number;
  crc?: number;
}

/** A zip archive of the given members, every header written from the member's (possibly forged) fields. */
function zipOf(members: readonly ZipMember[], opts: { forgeCount?: number } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const m of members) {
    const name = new TextEncoder().encode(m.name);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, m.method, true);
    const crc = m.crc ?? (m.method === 0 ? crc32(m.data) >>> 0 : 0); // a stored member's honest CRC-32
    lv.setUint32(14, crc, true);
    lv.setUint32(18, m.data.length, true);
    lv.setUint32(22, m.size, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const c = new Uint8Array(46 + name.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, m.method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, m.data.length, true);
    cv.setUint32(24, m.size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    c.set(name, 46);
    central.push(c);
    parts.push(local, m.data);
    offset += local.length + m.data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const tail: Uint8Array[] = [];
  if (opts.forgeCount !== undefined) {
    // zip64 end record + locator, declaring `forgeCount` entries
    const z = new Uint8Array(56);
    const zv = new DataView(z.buffer);
    zv.setUint32(0, 0x06064b50, true);
    zv.setBigUint64(4, 44n, true);
    zv.setBigUint64(24, BigInt(opts.forgeCount), true);
    zv.setBigUint64(32, BigInt(opts.forgeCount), true);
    zv.setBigUint64(40, BigInt(cdSize), true);
    zv.setBigUint64(48, BigInt(offset), true);
    const loc = new Uint8Array(20);
    const lv = new DataView(loc.buffer);
    lv.setUint32(0, 0x07064b50, true);
    lv.setBigUint64(8, BigInt(offset + cdSize), true);
    lv.setUint32(16, 1, true);
    tail.push(z, loc);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  const count = opts.forgeCount !== undefined ? 0xffff : members.length;
  ev.setUint16(8, count, true);
  ev.setUint16(10, count, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  const all = [...parts, ...central, ...tail, eocd];
  const out = new Uint8Array(all.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of all) { out.set(p, at); at += p.length; }
  return out;
}

function idxHeader(code: number, dims: readonly number[]): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length);
  out.set([0, 0, code, dims.length]);
  dims.forEach((d, i) => new DataView(out.buffer).setUint32(4 + 4 * i, d, false));
  return out;
}

function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length, false);
  const td = new Uint8Array(4 + data.length);
  td.set(new TextEncoder().encode(type));
  td.set(data, 4);
  out.set(td, 4);
  dv.setUint32(8 + data.length, crc32(td) >>> 0, false);
  return out;
}

/** A PNG whose IHDR declares width×height (8-bit grey) followed by a tiny IDAT: the header lies about the pixels. */
function forgedPng(width: number, height: number): Uint8Array {
  const ihdr = new Uint8Array(13);
  new DataView(ihdr.buffer).setUint32(0, width, false);
  new DataView(ihdr.buffer).setUint32(4, height, false);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grey
  const parts = [Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a), pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateRawSync(new Uint8Array(64))), pngChunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

const SEED_NPY = new Uint8Array(readFileSync(join(SEED, 'concept_test_lenet1.npy')));
const CKPT = new Uint8Array(readFileSync(join(SEED, 'checkpoint_lenet-10_1875.ckpt')));
const LENET = new Uint8Array(readFileSync(join(REPO, 'models', 'lenet5.onnx')));
const MNIST_LABELS_GZ = new Uint8Array(readFileSync(join(DATASETS, 'mnist', 't10k-labels-idx1-ubyte.gz')));

/** The first `n` samples of the seed .npy (100×1×32×32 float32), as a valid .npy. */
function seedSlice(n: number): Uint8Array {
  const a = decodeNpy(SEED_NPY);
  return encodeNpy(a.data.subarray(0, n * 1024), [n, 1, 32, 32], 'float32');
}

// ---------------------------------------------------------------------------------------------------------------
// decompression bombs (first, while the process's peak RSS is still low)

describe('decompression bombs stay bounded', () => {
  const BOMB = 2 * GiB;
  let zeros: Uint8Array; // raw deflate of 2 GiB of zeros
  before(() => {
    zeros = deflateBomb(new Uint8Array(0), BOMB);
  });

  it('the bomb builder writes a valid deflate stream (checked on a 1 MiB bomb)', () => {
    const prefix = Uint8Array.of(1, 2, 200, 255);
    const small = inflateRawSync(deflateBomb(prefix, MiB + 7));
    assert.equal(small.length, MiB + 11);
    assert.deepEqual([...small.subarray(0, 4)], [1, 2, 200, 255]);
    assert.ok(small.subarray(4).every((b) => b === 0));
    assert.ok(zeros.length < 20 * MiB, `${zeros.length} bytes`);
  });

  it('IDX .gz: 2 GiB of zeros (no valid header) is rejected after inflating only the head', async () => {
    const gz = gzipOf(zeros, BOMB);
    await boundedMemory(() => throwsTyped(() => decodeIdx(gz, 'bomb'), InputError, 'bomb.type', /unknown type code 0x00 at byte 2 of the gunzipped data/));
  });

  it('IDX .gz: a valid header for 10×28×28 followed by 2 GiB of zeros stops at the declared length', async () => {
    const hdr = idxHeader(0x08, [10, 28, 28]);
    const gz = gzipOf(deflateBomb(hdr, BOMB), BOMB + hdr.length);
    await boundedMemory(() => throwsTyped(() => decodeIdx(gz, 'bomb'), InputError, 'bomb.data', /dims \[10, 28, 28\] of uint8 need 7840 data bytes/, /extra bytes/));
  });

  it('IDX .gz: a header honestly declaring 2^31 bytes is rejected from the header, before inflating', async () => {
    const hdr = idxHeader(0x08, [2 ** 31]);
    const gz = gzipOf(deflateBomb(hdr, BOMB), BOMB + hdr.length);
    await boundedMemory(() => throwsTyped(() => decodeIdx(gz, 'bomb'), InputError, 'bomb.dims', /declares 2147483648 elements, more than maxElements 268435456/));
  });

  it('IDX .gz: an honest 4 MiB file over a lowered maxInflatedBytes is rejected before inflating', async () => {
    const hdr = idxHeader(0x08, [4, 1024, 1024]);
    const gz = gzipOf(deflateBomb(hdr, 4 * MiB), 4 * MiB + hdr.length, crcOfZeros(hdr, 4 * MiB));
    await boundedMemory(() => throwsTyped(() => decodeIdx(gz, 'small', { maxInflatedBytes: MiB }), InputError, 'small', /declares 4194320 bytes \(4 MiB\), more than maxInflatedBytes 1048576 bytes \(1 MiB\)/), 40 * MiB);
    assert.deepEqual(decodeIdx(gz, 'small').shape, [4, 1024, 1024]); // and accepted under the default limits
  });

  it('.npy.gz through decodeBytes: a (10,) float32 header followed by 2 GiB stops at the declared length', async () => {
    const head = npyFile(1, dict('<f4', [10]), new Uint8Array(0));
    const gz = gzipOf(deflateBomb(head, BOMB), BOMB + head.length);
    await boundedMemory(() => rejectsTyped(decodeBytes(gz, 'x.npy.gz'), InputError, 'x.npy.gz(gunzipped).data', /needs 40 data bytes/, /extra bytes/));
  });

  it('gzip of an unknown format through decodeBytes is rejected from its head', async () => {
    const gz = gzipOf(deflateBomb(new TextEncoder().encode('a,b,c\n'), BOMB), BOMB + 6);
    await boundedMemory(() => rejectsTyped(decodeBytes(gz, 'table.csv.gz'), InputError, 'table.csv.gz', /gzip data holding an unrecognised format/, /61 2c 62 2c/));
  });

  it('.npz: a member honestly declaring 2 GiB uncompressed is rejected before inflating', async () => {
    const zip = zipOf([{ name: 'x.npy', data: zeros, method: 8, size: 2 ** 32 - 2 }]);
    await boundedMemory(() => throwsTyped(() => decodeNpz(zip), InputError, 'npz[x]', /member declares 4294967294 bytes \(4 GiB\) uncompressed, more than maxInflatedBytes/));
  });

  it('.npz: a member declaring 1000 bytes that inflates to 2 GiB stops at 1000 bytes', async () => {
    const zip = zipOf([{ name: 'x.npy', data: zeros, method: 8, size: 1000 }]);
    const t0 = Date.now();
    await boundedMemory(() => throwsTyped(() => loadArrayFromNpz(zip), InputError, 'npz[x]', /inflates to more than the 1000 bytes its entry declares/));
    assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
  });

  it('.npz: a zip64 end record forging 2^32-1 entries is rejected without looping over them', async () => {
    const zip = zipOf([{ name: 'x.npy', data: seedSlice(1), method: 0, size: seedSlice(1).length }], { forgeCount: 2 ** 32 - 1 });
    const t0 = Date.now();
    await boundedMemory(() => throwsTyped(() => decodeNpz(zip), InputError, 'npz', /declares 4294967295 entries/, /holds at most 1/));
    assert.ok(Date.now() - t0 < 1000);
  });

  it('.npz: members together over maxInflatedBytes are rejected before inflating any', () => {
    const one = seedSlice(2); // 8320 bytes
    const zip = zipOf([{ name: 'a.npy', data: one, method: 0, size: one.length }, { name: 'b.npy', data: one, method: 0, size: one.length }]);
    throwsTyped(() => decodeNpz(zip, undefined, 'npz', { maxInflatedBytes: 10_000 }), InputError, 'npz', /members declare 16640 bytes .* together, more than maxInflatedBytes 10000/);
    assert.equal(Object.keys(decodeNpz(zip)).length, 2);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// .npy

describe('.npy limits and malformed files', () => {
  it('a header declaring (100000, 100000, 1000) over a few bytes is rejected on the shape, nothing allocated', async () => {
    const bytes = npyFile(1, dict('<f4', [100000, 100000, 1000]), new Uint8Array(16));
    await boundedMemory(() => throwsTyped(() => decodeNpy(bytes), InputError, 'npy.header.shape', /shape \(100000, 100000, 1000\) declares 10000000000000 elements, more than maxElements 268435456/), 20 * MiB);
  });

  it('a shape whose product passes 2^53 is reported as such, not wrapped', () => {
    const bytes = npyFile(1, dict('|u1', [2 ** 40, 2 ** 40]), new Uint8Array(4));
    throwsTyped(() => decodeNpy(bytes), InputError, 'npy.header.shape', /more than 2\^53 elements/);
  });

  it('maxDecodedBytes applies to the float32 result (4 bytes per element) even for uint8 data', () => {
    const bytes = npyFile(1, dict('|u1', [300]), new Uint8Array(300));
    throwsTyped(() => decodeNpy(bytes, 'npy', { maxDecodedBytes: 1000 }), InputError, 'npy.header.shape', /decode to 1200 bytes .* of float32, more than maxDecodedBytes 1000 bytes/);
  });

  it('maxSamples bounds the first dimension', () => {
    throwsTyped(() => decodeNpy(seedSlice(3), 'train.npy', { maxSamples: 2 }), InputError, 'train.npy.header.shape', /declares 3 samples \(first dimension\), more than maxSamples 2/);
  });

  it('maxRank bounds the number of dimensions', () => {
    const bytes = npyFile(1, dict('<f4', Array.from({ length: 33 }, () => 1)), new Uint8Array(4));
    throwsTyped(() => decodeNpy(bytes), InputError, 'npy.header.shape', /has 33 dimensions, more than maxRank 32/);
  });

  it('a v2.0 header length of 4 GiB is rejected on maxHeaderBytes before reading it', () => {
    const bytes = new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0xff, 0xff, 0xff, 0xff, 0x7b]);
    throwsTyped(() => decodeNpy(bytes), InputError, 'npy.header', /header length 4294967295 at byte 8 is more than maxHeaderBytes 65536/);
  });

  it('unsupported dtypes are named with the supported list', () => {
    throwsTyped(() => decodeNpy(npyFile(1, dict('<c8', [1]), new Uint8Array(8))), InputError, 'npy.header.descr', /complex arrays are not supported/, /supported: <f2/);
    throwsTyped(() => decodeNpy(npyFile(1, dict('<f16', [1]), new Uint8Array(16))), InputError, 'npy.header.descr', /unsupported dtype '<f16'/);
  });

  it('a shape disagreeing with the byte count gives both counts', () => {
    const bytes = npyFile(1, dict('<f4', [2, 2]), rawBytes('f4', [1, 2, 3], true));
    throwsTyped(() => decodeNpy(bytes), InputError, 'npy.data', /needs 16 data bytes from byte 128, but the file has 12 \(truncated\)/);
  });

  it('the seed file truncated in its data is rejected as truncated', () => {
    throwsTyped(() => decodeNpy(SEED_NPY.subarray(0, 5000), 'concept_test_lenet1.npy'), InputError, 'concept_test_lenet1.npy.data', /shape \(100, 1, 32, 32\) of 'float32' needs 409600 data bytes from byte 128, but the file has 4872 \(truncated\)/);
  });

  it('the seed file truncated inside its header is rejected on the header', () => {
    throwsTyped(() => decodeNpy(SEED_NPY.subarray(0, 60)), InputError, 'npy.header', /truncated: header declares 118 bytes from byte 10/);
  });

  it('the seed file with a rewritten header key is rejected on the missing field', () => {
    const bad = SEED_NPY.slice(0, 4224);
    const at = Buffer.from(bad).indexOf('descr');
    bad.set(new TextEncoder().encode('dexcr'), at);
    throwsTyped(() => decodeNpy(bad), InputError, 'npy.header.descr', /missing from the header dict at byte 10/);
  });

  it('the seed file with a broken dict literal names the byte', () => {
    const bad = SEED_NPY.slice();
    const at = Buffer.from(bad).indexOf('(100,');
    bad[at] = 0x3c; // '<'
    throwsTyped(() => decodeNpy(bad), InputError, 'npy.header', /unexpected '<' at byte 60/);
  });

  it('regression (fuzzer): a header of 10280 nested "(" is an InputError, not a stack overflow', () => {
    // The shrunk input: magic, version 1, then "(" for the minor version, both header-length bytes and the header.
    const bytes = new Uint8Array(10290).fill(0x28);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 0x01]);
    throwsTyped(() => decodeNpy(bytes), InputError, 'npy.header', /nesting deeper than 32 levels at byte 42/, /\(10280 characters\)/);
  });

  it('negative and fractional dimensions are rejected', () => {
    throwsTyped(() => decodeNpy(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3), }", new Uint8Array(0))), InputError, 'npy.header.shape[0]', /non-negative integer, got -1/);
    throwsTyped(() => decodeNpy(npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2.5,), }", new Uint8Array(0))), InputError, 'npy.header.shape[0]', /got 2\.5/);
  });

  it('an unknown format version is rejected', () => {
    const bad = SEED_NPY.slice(0, 200);
    bad[6] = 4;
    throwsTyped(() => decodeNpy(bad), InputError, 'npy.version', /unsupported format version 4\.0 at byte 6/);
  });

  it('limits themselves are validated', () => {
    throwsTyped(() => decodeNpy(SEED_NPY, 'npy', { maxElements: -1 }), InputError, 'limits.maxElements', /positive integer or Infinity, got -1/);
    throwsTyped(() => decodeNpy(SEED_NPY, 'npy', { maxPixels: 5 } as never), InputError, 'limits.maxPixels', /unknown limit/);
    assert.equal(resolveLimits({ maxSamples: Infinity }).maxSamples, Infinity);
    assert.equal(resolveLimits(undefined), DEFAULT_DECODE_LIMITS);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// empty arrays, NaN/Inf

describe('empty arrays and non-finite values', () => {
  it('the loader rejects an array with 0 samples', async () => {
    await rejectsTyped(decodeBytes(npyFile(1, dict('<f4', [0, 1, 32, 32]), new Uint8Array(0)), 'empty.npy'), InputError, 'empty.npy.shape', /shape \[0,1,32,32\] is empty \(dimension 0 is 0\)/);
  });

  it('the loader rejects an array with a zero-length image dimension', async () => {
    await rejectsTyped(decodeBytes(npyFile(1, dict('|u1', [5, 0, 28]), new Uint8Array(0)), 'flat.npy'), InputError, 'flat.npy.shape', /dimension 1 is 0/);
    await rejectsTyped(decodeBytes(idxHeader(0x08, [0, 28, 28]), 'images-idx3-ubyte'), InputError, 'images-idx3-ubyte.shape', /is empty/);
  });

  it('NaN in float data reaches no scoring: preprocessing names the sample', async () => {
    const a = decodeNpy(seedSlice(4));
    a.data[2 * 1024 + 77] = NaN;
    const arr = await decodeBytes(encodeNpy(a.data, a.shape, 'float32'), 'nan.npy');
    throwsTyped(() => toModelInput(arr, defaultPreprocess({ channels: 1, height: 32, width: 32 })), InputError, 'data[2]', /sample 2 contains a NaN pixel/);
  });

  it('+Inf and -Inf (float16 and float64) are rejected the same way, after a resize too', async () => {
    const half = npyFile(1, dict('<f2', [2, 28, 28]), rawBytes('f2', [...new Array<number>(784).fill(0), 0x7c00, ...new Array<number>(783).fill(0)], true));
    const arr = await decodeBytes(half, 'inf16.npy');
    throwsTyped(() => toModelInput(arr, defaultPreprocess({ channels: 1, height: 32, width: 32 })), InputError, 'data[1]', /sample 1 contains an infinite pixel/);
    const f8 = npyFile(1, dict('>f8', [3, 32, 32]), rawBytes('f8', [...new Array<number>(2048).fill(0.5), -Infinity, ...new Array<number>(1023).fill(0.5)], false));
    throwsTyped(() => toModelInput(decodeNpy(f8), defaultPreprocess({ channels: 1, height: 32, width: 32 })), InputError, 'data[2]', /infinite pixel/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// IDX, CIFAR

describe('IDX and CIFAR limits and malformed files', () => {
  it('plain IDX dims of 65536³ over a few bytes are rejected on the dims', async () => {
    const bytes = new Uint8Array([...idxHeader(0x08, [65536, 65536, 65536]), 1, 2, 3]);
    await boundedMemory(() => throwsTyped(() => decodeIdx(bytes), InputError, 'idx.dims', /dims \[65536, 65536, 65536\] at byte 4 declares 281474976710656 elements/), 20 * MiB);
  });

  it('an IDX rank above maxRank is rejected at byte 3', () => {
    throwsTyped(() => decodeIdx(new Uint8Array([0, 0, 8, 200])), InputError, 'idx.ndim', /rank 200 at byte 3 is more than maxRank 32/);
  });

  it('the real MNIST labels .gz truncated mid-stream is corrupt gzip', () => {
    throwsTyped(() => decodeIdx(MNIST_LABELS_GZ.subarray(0, 2000), 'labels'), InputError, 'labels', /corrupt or truncated gzip data \(2000 compressed bytes\)/);
  });

  it('the real MNIST labels with a rewritten count are rejected with both byte counts', () => {
    const raw = new Uint8Array(decodeIdxRaw(MNIST_LABELS_GZ));
    new DataView(raw.buffer).setUint32(4, 10001, false);
    throwsTyped(() => decodeIdx(gzipSync(raw), 'labels'), InputError, 'labels.data', /dims \[10001\] of uint8 need 10001 data bytes from byte 8 of the gunzipped data, but there are 10000 \(truncated\)/);
  });

  it('CIFAR records beyond maxSamples are rejected before allocating', () => {
    const two = new Uint8Array(readFileSync(join(DATASETS, 'cifar-10', 'test_batch.bin')).subarray(0, 3 * 3073));
    throwsTyped(() => decodeCifarBin(two, 'cifar', { maxSamples: 2 }), InputError, 'cifar.length', /3 records .* declares 3 samples .* more than maxSamples 2/);
  });

  it('real CIFAR records with a truncated tail and a bad label are named', () => {
    const recs = new Uint8Array(readFileSync(join(DATASETS, 'cifar-10', 'test_batch.bin')).subarray(0, 2 * 3073));
    throwsTyped(() => decodeCifarBin(recs.subarray(0, 2 * 3073 - 100)), InputError, 'cifar.length', /1 whole records and 2973 trailing bytes from byte 3073/);
    const bad = recs.slice();
    bad[3073] = 10;
    throwsTyped(() => decodeCifarBin(bad), InputError, 'cifar.labels[1]', /label 10 at byte 3073 \(record 1\)/);
  });
});

function decodeIdxRaw(gz: Uint8Array): Uint8Array {
  return new Uint8Array(gunzipSync(gz));
}

// ---------------------------------------------------------------------------------------------------------------
// images

describe('image limits and malformed images', () => {
  it('a PNG declaring 50000×50000 pixels is rejected on its header, not decoded', async () => {
    await boundedMemory(() => rejectsTyped(decodeImages([{ name: 'huge.png', bytes: forgedPng(50000, 50000) }]), InputError, 'files[0]', /'huge\.png' is 50000×50000 \(h×w\) = 2500000000 pixels, more than maxImagePixels 16777216/), 100 * MiB);
  });

  it('a JPEG whose frame header declares 60000×60000 is rejected on its header', async () => {
    const jpg = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).jpeg().toBuffer();
    const sof = jpg.indexOf(Buffer.from([0xff, 0xc0]));
    jpg.writeUInt16BE(60000, sof + 5);
    jpg.writeUInt16BE(60000, sof + 7);
    await boundedMemory(() => rejectsTyped(decodeBytes(new Uint8Array(jpg), 'huge.jpg'), InputError, 'files[0]', /60000×60000 .* more than maxImagePixels/), 100 * MiB);
  });

  it('a lowered maxImagePixels applies to real images too', async () => {
    const png = new Uint8Array(await sharp({ create: { width: 64, height: 64, channels: 3, background: '#102030' } }).png().toBuffer());
    await rejectsTyped(decodeImages([{ name: 'a.png', bytes: png }], { limits: { maxImagePixels: 1000 } }), InputError, 'files[0]', /64×64 \(h×w\) = 4096 pixels, more than maxImagePixels 1000/);
  });

  it('a tall thin PNG within maxImagePixels is refused on its side (1 × 16.8M took 20 s to decode)', async () => {
    await rejectsTyped(decodeImages([{ name: 'thin.png', bytes: forgedPng(1, 16_777_216) }]), InputError, 'files[0]', /'thin\.png' is 16777216×1 \(h×w\) pixels, a side longer than maxImageSide 16384; not decoded/);
    await rejectsTyped(decodeImages([{ name: 'wide.png', bytes: forgedPng(20_000, 2) }]), InputError, 'files[0]', /2×20000 .* maxImageSide/);
    await rejectsTyped(decodeImages([{ name: 'a.png', bytes: forgedPng(4, 4) }], { size: [20_000, 2] }), InputError, 'size', /integers in 1\.\.16384 \(maxImageSide\)/);
  });

  it('a zero-width PNG is a typed error', async () => {
    await rejectsTyped(decodeImages([{ name: 'zero.png', bytes: forgedPng(0, 10) }]), InputError, 'files[0]', /'zero\.png'/);
  });

  it('a truncated real PNG is named', async () => {
    const png = new Uint8Array(await sharp(new Uint8Array(32 * 32 * 3).map((_, i) => (i * 7) % 256), { raw: { width: 32, height: 32, channels: 3 } }).png().toBuffer());
    await rejectsTyped(decodeImages([{ name: 'cut.png', bytes: png.subarray(0, png.length >> 1) }]), InputError, 'files[0]', /'cut\.png' could not be decoded as an image/);
  });

  it('a resize target over maxImagePixels is rejected on the option', async () => {
    await rejectsTyped(decodeImages([{ name: 'a.png', bytes: forgedPng(4, 4) }], { size: [8192, 8192] }), InputError, 'size', /8192×8192 is 67108864 pixels, more than maxImagePixels 16777216/);
  });

  it('more images than maxSamples, or a batch over maxDecodedBytes, is rejected before decoding pixels', async () => {
    const png = new Uint8Array(await sharp({ create: { width: 32, height: 32, channels: 3, background: '#000' } }).png().toBuffer());
    const files = Array.from({ length: 3 }, (_, i) => ({ name: `${i}.png`, bytes: png }));
    await rejectsTyped(decodeImages(files, { limits: { maxSamples: 2 } }), InputError, 'files', /3 images, more than maxSamples 2/);
    await rejectsTyped(decodeImages(files, { limits: { maxDecodedBytes: 40_000 } }), InputError, 'files', /3 images need 46080 bytes .* more than maxDecodedBytes 40000/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// files and labels

describe('file and label limits', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagedrift-hardening-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a file over maxFileBytes is rejected from its size, before reading', async () => {
    const p = join(dir, 'big.npy');
    await writeFile(p, SEED_NPY);
    await rejectsTyped(loadData(p, { limits: { maxFileBytes: 100_000 } }), InputError, 'path', /big\.npy is 409728 bytes .* more than maxFileBytes 100000/);
    await rejectsTyped(loadLabels(p, { maxFileBytes: 1000 }), InputError, 'path', /more than maxFileBytes 1000/);
  });

  it('a device that streams forever (/dev/zero) is not read', async () => {
    await rejectsTyped(loadData('/dev/zero'), InputError, 'path', /\/dev\/zero is not a regular file/);
  });

  it('more labels than maxSamples are rejected', () => {
    throwsTyped(() => decodeLabels(new TextEncoder().encode('[0,1,1,0]'), 'l.json', { maxSamples: 3 }), InputError, 'l.json', /4 labels, more than maxSamples 3/);
    throwsTyped(() => decodeLabels(npyFile(1, dict('|u1', [4]), new Uint8Array(4)), 'l.npy', { maxSamples: 3 }), InputError, 'l.npy.header.shape', /more than maxSamples 3/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// checkpoint

describe('MindSpore checkpoint', () => {
  it('garbage bytes are a ModelError on checkpoint', () => {
    const garbage = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
    throwsTyped(() => readCheckpoint(garbage), ModelError, /^checkpoint/);
  });

  it('a protobuf truncated inside a tensor is a ModelError naming truncation', () => {
    throwsTyped(() => readCheckpoint(CKPT.subarray(0, 1000)), ModelError, 'checkpoint', /not a MindSpore checkpoint, or truncated/, /file has 1000 bytes/);
  });

  it('a tensor whose declared dims disagree with its data names the tensor', () => {
    const bad = CKPT.slice();
    assert.equal(bad[21], 6); // conv1.weight dims[0]
    bad[21] = 7;
    throwsTyped(() => readCheckpoint(bad), ModelError, 'conv1.weight', /tensor_content has 600 bytes, expected 700 \(dims \[7,1,5,5\]/);
  });

  it('all tensors together over maxDecodedBytes are rejected at the tensor that passes it', () => {
    throwsTyped(() => readCheckpoint(CKPT, { maxDecodedBytes: 100_000 }), ModelError, 'fc1.weight', /decode to 202200 bytes .* more than maxDecodedBytes 100000/);
    throwsTyped(() => readCheckpoint(CKPT, { maxElements: 10_000 }), ModelError, 'fc1.weight', /48000 elements, more than maxElements 10000/);
    assert.equal(readCheckpoint(CKPT).size, 18);
  });

  it('regression (fuzzer): a tensor without tensor_content decodes as empty, or is a ModelError, never a TypeError', () => {
    // Value{tag 'x', tensor{dims [0], tensor_type 'Float64'}}: protobufjs gives the absent bytes field as [].
    const tensor = [0x08, 0x00, 0x12, 0x07, ...new TextEncoder().encode('Float64')];
    const entry = (dims: number[]): Uint8Array => {
      const t = [...dims.flatMap((d) => [0x08, d]), ...tensor.slice(2)];
      const v = [0x0a, 1, 0x78, 0x12, t.length, ...t];
      return Uint8Array.from([0x0a, v.length, ...v]);
    };
    const m = readCheckpoint(entry([0]));
    assert.deepEqual(m.get('x')?.dims, [0]);
    assert.equal(m.get('x')?.data.length, 0);
    throwsTyped(() => readCheckpoint(entry([2])), ModelError, 'x', /tensor_content has 0 bytes, expected 16/);
  });

  it('dims past 2^53 never turn into a small count', () => {
    // Value{tag 'x', tensor{dims [2^40, 2^40], type Float32, content 4 bytes}}
    const varint = (n: bigint): number[] => { const o: number[] = []; while (n >= 128n) { o.push(Number(n & 127n) | 128); n >>= 7n; } o.push(Number(n)); return o; };
    const len = (f: number, b: number[]): number[] => [(f << 3) | 2, ...varint(BigInt(b.length)), ...b];
    const tensor = [0x08, ...varint(2n ** 40n), 0x08, ...varint(2n ** 40n), ...len(2, [...new TextEncoder().encode('Float32')]), ...len(3, [0, 0, 128, 63])];
    const bytes = Uint8Array.from(len(1, [...len(1, [0x78]), ...len(2, tensor)]));
    throwsTyped(() => readCheckpoint(bytes), ModelError, 'x', /tensor_content has 4 bytes/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// ONNX

describe('ONNX model bytes', () => {
  const { onnx } = onnxProto;

  it('garbage bytes are a ModelError on model (graph inspection, and session creation before onnxruntime)', async () => {
    const garbage = new Uint8Array(2048).map((_, i) => (i * 40503) & 0xff);
    throwsTyped(() => inputSpec(garbage), ModelError, 'model', /not an ONNX model/);
    await rejectsTyped(createSession(garbage), ModelError, 'model', /not an ONNX model/);
    await rejectsTyped(FeatureExtractor.create(garbage, { layer: 'output' }), ModelError, 'model');
  });

  it('the real LeNet5 model truncated is a ModelError', () => {
    throwsTyped(() => listTensorNames(LENET.subarray(0, 5000)), ModelError, 'model', /not an ONNX model, or truncated|no graph/);
  });

  it('a model whose input has rank 2 is a ModelError on model.input', async () => {
    const m = onnx.ModelProto.decode(LENET);
    m.graph!.input![0]!.type!.tensorType!.shape!.dim = [{ dimParam: 'N' }, { dimValue: 1024 }];
    const bytes = onnx.ModelProto.encode(m).finish();
    throwsTyped(() => inputSpec(bytes), ModelError, 'model.input', /has shape \[N,1024\]; expected a rank-4 image batch/);
    await rejectsTyped(FeatureExtractor.create(bytes, { layer: 'output' }), ModelError, 'model.input', /rank-4/);
  });

  it('data of the wrong rank for a valid model is an InputError on data', async () => {
    const ex = await FeatureExtractor.create(LENET, { layer: 'output' });
    try {
      await rejectsTyped(ex.extract({ data: new Float32Array(2 * 32 * 32), shape: [2, 32, 32] }), InputError, 'data', /the model expects NCHW \[N,1,32,32\], got \[2,32,32\]/);
    } finally {
      await ex.close();
    }
  });
});

describe('every error above is an ImagedriftError', () => {
  it('InputError and ModelError share the base class the fuzzer accepts', () => {
    assert.ok(new InputError('f', 'd') instanceof ImagedriftError);
    assert.ok(new ModelError('f', 'd') instanceof ImagedriftError);
  });
});
