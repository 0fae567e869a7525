/**
 * Fuzz targets shared by the property tests (`fuzz.test.ts`, a short fixed-seed run) and the campaign
 * (`npm run fuzz`, `scripts/fuzz.ts`, many more runs): every decoder and the checkpoint/ONNX readers, with small valid
 * seed samples taken from the real files in `../shared` and `models/`, and one input generator.
 *
 * Inputs are random bytes (optionally behind the format's magic), or a seed mutated by a list of operations: bit
 * flips, byte writes, header-field rewrites with boundary integers (either endianness), header-text token rewrites,
 * truncations, deletions, insertions, duplications and splices with another seed. For compressed containers (gzip,
 * zip) the mutation is applied either to the container bytes or to the content before compressing it, and PNG chunk
 * CRCs can be repaired after mutating, so mutations reach past the checksums into the parsers behind them.
 *
 * The contract under test: a decoder either succeeds or throws an ImagedriftError. Any other exception, an unsettled
 * promise or a call slower than the time bound is a failure.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { zipSync } from 'fflate';
import sharp from 'sharp';
import { ImagedriftError } from '../../src/core/errors.js';
import { decodeCifarBin } from '../../src/io/cifar.js';
import { decodeIdx } from '../../src/io/idx.js';
import { decodeImages } from '../../src/io/images.js';
import { decodeBytes, decodeLabels } from '../../src/io/load.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { decodeNpz } from '../../src/io/npz.js';
import { readCheckpoint } from '../../src/model/ckpt.js';
import { inputSpec, listTensorNames } from '../../src/model/graph.js';
import { DATASETS, REPO, SEED } from '../helpers/paths.js';
import { dict, npyFile, rawBytes } from '../io/build-npy.js';

// ---------------------------------------------------------------------------------------------------------------
// seeds

export interface Seeds {
  readonly npy: Uint8Array[];
  readonly npz: Uint8Array[];
  readonly idx: Uint8Array[];
  readonly idxGz: Uint8Array[];
  readonly cifar: Uint8Array[];
  readonly png: Uint8Array[];
  readonly jpeg: Uint8Array[];
  readonly labels: Uint8Array[];
  readonly ckpt: Uint8Array[];
  readonly onnx: Uint8Array[];
}

function idxFile(code: number, dims: readonly number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out.set([0, 0, code, dims.length]);
  dims.forEach((d, i) => new DataView(out.buffer).setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** The top-level `Value` entries of a checkpoint whose tag is in `tags` (a small but real checkpoint). */
function ckptSubset(ckpt: Uint8Array, tags: ReadonlySet<string>): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  while (at < ckpt.length) {
    const start = at;
    at++; // field 1, wire type 2
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const b = ckpt[at++]!;
      len += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) break;
    }
    const body = ckpt.subarray(at, at + len);
    at += len;
    const tag = new TextDecoder().decode(body.subarray(2, 2 + body[1]!)); // Value.tag is field 1, short
    if (tags.has(tag)) parts.push(ckpt.subarray(start, at));
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

let cached: Promise<Seeds> | undefined;

/** Small valid samples of every format, from the real files (first 2 samples of each dataset). */
export function loadSeeds(): Promise<Seeds> {
  cached ??= (async (): Promise<Seeds> => {
    const seedNpy = decodeNpy(new Uint8Array(readFileSync(join(SEED, 'concept_test_lenet1.npy'))));
    const mnistImages = new Uint8Array(readFileSync(join(DATASETS, 'mnist', 't10k-images-idx3-ubyte.gz')));
    const mnist = decodeIdx(mnistImages);
    const two = Uint8Array.from(mnist.data.subarray(0, 2 * 784));
    const mnistLabels = decodeIdx(new Uint8Array(readFileSync(join(DATASETS, 'mnist', 't10k-labels-idx1-ubyte.gz'))));
    const cifarAll = readFileSync(join(DATASETS, 'cifar-10', 'test_batch.bin'));
    const cifar = new Uint8Array(cifarAll.subarray(0, 2 * 3073));

    const npy = [
      encodeNpy(seedNpy.data.subarray(0, 2 * 1024), [2, 1, 32, 32], 'float32'),
      encodeNpy(two, [2, 28, 28], 'uint8'),
      npyFile(2, dict('>i2', [2, 3], true), rawBytes('i2', [1, -2, 3, 4, 5, -6], false)),
      npyFile(3, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 2), 'é': 1, }", rawBytes('f2', [0x3c00, 0x7c00, 0x7e00, 0], true)),
    ];
    const idx = [idxFile(0x08, [2, 28, 28], two), idxFile(0x08, [2], Uint8Array.from(mnistLabels.data.subarray(0, 2)))];
    // CIFAR image 0 as RGB (planar → interleaved) and MNIST image 0 as grey, as real images.
    const rgb = new Uint8Array(32 * 32 * 3);
    for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = cifar[1 + c * 1024 + p]!;
    const grey = two.subarray(0, 784);
    const img = (raw: Uint8Array, w: number, h: number, c: 1 | 3): ReturnType<typeof sharp> => sharp(raw, { raw: { width: w, height: h, channels: c } });
    const png = [
      new Uint8Array(await img(rgb, 32, 32, 3).png().toBuffer()),
      new Uint8Array(await img(grey, 28, 28, 1).toColourspace('b-w').png().toBuffer()),
    ];
    const jpeg = [
      new Uint8Array(await img(rgb, 32, 32, 3).jpeg({ quality: 90 }).toBuffer()),
      new Uint8Array(await img(grey, 28, 28, 1).toColourspace('b-w').jpeg({ quality: 90 }).toBuffer()),
    ];
    return {
      npy,
      npz: [zipSync({ 'x.npy': npy[0]!, 'y.npy': npy[2]! }, { level: 0 }), zipSync({ 'arr_0.npy': npy[1]! }, { level: 6 })],
      idx,
      idxGz: idx.map((b) => new Uint8Array(gzipSync(b))),
      cifar: [cifar],
      png,
      jpeg,
      labels: [npyFile(1, dict('<i8', [4]), rawBytes('i8', [0, 1, 1, 0], true)), new TextEncoder().encode('[0, 1, 1, 0]')],
      ckpt: [ckptSubset(new Uint8Array(readFileSync(join(SEED, 'checkpoint_lenet-10_1875.ckpt'))), new Set(['conv1.weight', 'fc3.bias', 'learning_rate', 'momentum']))],
      onnx: [new Uint8Array(readFileSync(join(REPO, 'models', 'lenet5.onnx')))],
    };
  })();
  return cached;
}

// ---------------------------------------------------------------------------------------------------------------
// targets

export interface FuzzTarget {
  readonly name: string;
  /** The seeds mutated directly. */
  seeds(s: Seeds): Uint8Array[];
  /** Content seeds and the container that wraps them (gzip, zip): mutations then apply before wrapping. */
  readonly inner?: { seeds(s: Seeds): Uint8Array[]; wrap(b: Uint8Array): Uint8Array };
  /** Applied after mutating when the case asks for it (e.g. recompute PNG chunk CRCs). */
  readonly repair?: (b: Uint8Array) => Uint8Array;
  /** File names passed to `run` (for decoders that dispatch on the name). */
  readonly names?: readonly string[];
  run(bytes: Uint8Array, name: string): unknown;
}

/** Recomputes the CRC of every complete PNG chunk, so that mutated chunk data reaches the decoder. */
export function repairPngCrcs(b: Uint8Array): Uint8Array {
  const out = b.slice();
  const dv = new DataView(out.buffer);
  for (let at = 8; at + 12 <= out.length;) {
    const len = dv.getUint32(at, false);
    if (at + 12 + len > out.length) break;
    dv.setUint32(at + 8 + len, crc32(out.subarray(at + 4, at + 8 + len)) >>> 0, false);
    at += 12 + len;
  }
  return out;
}

export const FUZZ_TARGETS: readonly FuzzTarget[] = [
  { name: 'npy', seeds: (s) => s.npy, run: (b) => decodeNpy(b) },
  {
    name: 'npz',
    seeds: (s) => s.npz,
    inner: { seeds: (s) => s.npy, wrap: (b) => zipSync({ 'a.npy': b, 'b.npy': b.subarray(0, b.length >> 1) }, { level: 1 }) },
    run: (b) => decodeNpz(b),
  },
  { name: 'idx', seeds: (s) => s.idx, run: (b) => decodeIdx(b) },
  { name: 'idx-gz', seeds: (s) => s.idxGz, inner: { seeds: (s) => s.idx, wrap: (b) => new Uint8Array(gzipSync(b)) }, run: (b) => decodeIdx(b) },
  { name: 'cifar', seeds: (s) => s.cifar, run: (b) => decodeCifarBin(b) },
  { name: 'png', seeds: (s) => s.png, repair: repairPngCrcs, run: (b) => decodeImages([{ name: 'x.png', bytes: b }]) },
  { name: 'jpeg', seeds: (s) => s.jpeg, run: (b) => decodeImages([{ name: 'x.jpg', bytes: b }, { name: 'y.jpg', bytes: b }], { size: [16, 16] }) },
  {
    name: 'decodeBytes',
    seeds: (s) => [...s.npy, ...s.npz, ...s.idx, ...s.idxGz, ...s.cifar, ...s.png, ...s.jpeg, new Uint8Array(gzipSync(s.npy[0]!))],
    names: ['data.npy', 'x.npz', 'train-images-idx3-ubyte', 'labels.gz', 'x.npy.gz', 'batch.bin', 'img.png', 'photo.jpg', 'unknown.dat'],
    run: (b, name) => decodeBytes(b, name),
  },
  { name: 'labels', seeds: (s) => s.labels, names: ['l.npy', 'l.json', 'l.txt'], run: (b, name) => decodeLabels(b, name) },
  { name: 'ckpt', seeds: (s) => s.ckpt, run: (b) => readCheckpoint(b) },
  {
    name: 'onnx',
    seeds: (s) => s.onnx,
    run: (b) => {
      listTensorNames(b);
      return inputSpec(b);
    },
  },
];

// ---------------------------------------------------------------------------------------------------------------
// inputs

export type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'set'; readonly at: number; readonly value: number }
  | { readonly op: 'int'; readonly at: number; readonly width: 1 | 2 | 4 | 8; readonly value: number; readonly littleEndian: boolean }
  | { readonly op: 'text'; readonly at: number; readonly token: string }
  | { readonly op: 'flood'; readonly at: number; readonly token: string; readonly count: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'delete'; readonly at: number; readonly length: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'duplicate'; readonly at: number; readonly length: number }
  | { readonly op: 'splice'; readonly at: number; readonly other: number; readonly from: number };

export type FuzzCase =
  | { readonly kind: 'random'; readonly magic: number; readonly bytes: Uint8Array; readonly name: number }
  | { readonly kind: 'mutant'; readonly seed: number; readonly inner: boolean; readonly repair: boolean; readonly ops: readonly Mutation[]; readonly name: number };

/** Boundary values for header fields: sizes, counts, lengths, offsets. */
const INTERESTING = [0, 1, 2, 3, 4, 7, 8, 16, 28, 32, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 2 ** 32, 2 ** 40, 2 ** 53 - 1];

/** Tokens for text headers (.npy dict literal, JSON labels). */
const TOKENS = [
  '(100000, 100000, 1000)', '()', '(0,)', '(-1,)', '(1e308,)', '(99999999999999999999,)', "'<c8'", "'|O'", "'>f8'", "'<U3'", "'|b1'",
  'True', 'None', '{', '}', '[', ']', '(', ')', "'", '"', '\\', ',,', ':', '\x00', 'é', "'shape'", "'descr'", "'fortran_order'", 'L', '1e999', 'NaN', '-0',
];

/** Positions biased towards the first bytes, where the headers are. */
const position = fc.oneof({ arbitrary: fc.nat(63), weight: 3 }, { arbitrary: fc.nat(1023), weight: 1 }, { arbitrary: fc.nat(), weight: 2 });

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.nat(7) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('set' as const), at: position, value: fc.nat(255) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('int' as const), at: position, width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const), value: fc.constantFrom(...INTERESTING), littleEndian: fc.boolean() }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('text' as const), at: position, token: fc.constantFrom(...TOKENS) }), weight: 2 },
  // a token inserted many times: deep nesting, long numbers, huge headers
  { arbitrary: fc.record({ op: fc.constant('flood' as const), at: position, token: fc.constantFrom(...TOKENS, '0', '9', ' ', '\x00', '\xff'), count: fc.integer({ min: 2, max: 30000 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('truncate' as const), at: position }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 32 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('duplicate' as const), at: position, length: fc.integer({ min: 1, max: 256 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('splice' as const), at: position, other: fc.nat(), from: position }), weight: 1 },
);

/** The input generator for one target. */
export function fuzzCases(): fc.Arbitrary<FuzzCase> {
  return fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('random' as const), magic: fc.nat(16), bytes: fc.uint8Array({ maxLength: 2048 }), name: fc.nat() }), weight: 1 },
    {
      arbitrary: fc.record({ kind: fc.constant('mutant' as const), seed: fc.nat(), inner: fc.boolean(), repair: fc.boolean(), ops: fc.array(mutation, { minLength: 1, maxLength: 6 }), name: fc.nat() }),
      weight: 5,
    },
  );
}

function applyMutation(b: Uint8Array, m: Mutation, pool: readonly Uint8Array[]): Uint8Array {
  const at = b.length === 0 ? 0 : m.at % (b.length + 1);
  switch (m.op) {
    case 'flip': {
      if (b.length === 0) return b;
      const out = b.slice();
      out[at % b.length]! ^= 1 << m.bit;
      return out;
    }
    case 'set': {
      if (b.length === 0) return b;
      const out = b.slice();
      out[at % b.length] = m.value;
      return out;
    }
    case 'int': {
      const out = b.slice();
      const bytes = new Uint8Array(8);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(m.value), m.littleEndian);
      const field = m.littleEndian ? bytes.subarray(0, m.width) : bytes.subarray(8 - m.width);
      for (let i = 0; i < m.width && at + i < out.length; i++) out[at + i] = field[i]!;
      return out;
    }
    case 'text': {
      const out = b.slice();
      const t = new TextEncoder().encode(m.token);
      for (let i = 0; i < t.length && at + i < out.length; i++) out[at + i] = t[i]!;
      return out;
    }
    case 'flood':
      return concat(b.subarray(0, at), new TextEncoder().encode(m.token.repeat(m.count)), b.subarray(at));
    case 'truncate':
      return b.slice(0, at);
    case 'delete':
      return Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.length)]);
    case 'insert':
      return concat(b.subarray(0, at), m.bytes, b.subarray(at));
    case 'duplicate':
      return concat(b.subarray(0, at + m.length), b.subarray(at));
    case 'splice': {
      const other = pool[m.other % pool.length]!;
      return concat(b.subarray(0, at), other.subarray(m.from % (other.length + 1)));
    }
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** The bytes and file name of a case for `target`. */
export function materialize(target: FuzzTarget, seeds: Seeds, c: FuzzCase): { bytes: Uint8Array; name: string } {
  const names = target.names ?? ['input'];
  const name = names[c.name % names.length]!;
  const direct = target.seeds(seeds);
  if (c.kind === 'random') {
    const magic = direct[c.magic % direct.length]!.subarray(0, c.magic);
    return { bytes: concat(magic, c.bytes), name };
  }
  const useInner = c.inner && target.inner !== undefined;
  const pool = useInner ? target.inner!.seeds(seeds) : direct;
  let b: Uint8Array = pool[c.seed % pool.length]!;
  for (const m of c.ops) b = applyMutation(b, m, pool);
  if (useInner) b = target.inner!.wrap(b);
  if (c.repair && target.repair) b = target.repair(b);
  return { bytes: b, name };
}

// ---------------------------------------------------------------------------------------------------------------
// outcome

export type Outcome =
  | { readonly kind: 'ok'; readonly ms: number }
  | { readonly kind: 'typed'; readonly ms: number; readonly error: ImagedriftError }
  | { readonly kind: 'failure'; readonly ms: number; readonly error: unknown };

/** Runs `target` on `bytes`: success, a typed ImagedriftError, or a failure (any other exception). */
export async function classify(target: FuzzTarget, bytes: Uint8Array, name: string): Promise<Outcome> {
  const t0 = performance.now();
  try {
    await target.run(bytes, name);
    return { kind: 'ok', ms: performance.now() - t0 };
  } catch (error) {
    const ms = performance.now() - t0;
    return error instanceof ImagedriftError ? { kind: 'typed', ms, error } : { kind: 'failure', ms, error };
  }
}

/** A short printable description of an input (length and leading bytes), for failure reports. */
export function describeInput(bytes: Uint8Array, name: string): string {
  const head = Buffer.from(bytes.subarray(0, 64)).toString('hex');
  return `${name}: ${bytes.length} bytes, starting ${head}${bytes.length > 64 ? '…' : ''}`;
}
