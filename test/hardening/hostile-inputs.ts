/**
 * Hostile files for the bad-input batteries (HTTP, CLI): each is small on the wire and built without allocating what
 * it claims to contain.
 */
import { readFileSync } from 'node:fs';
import { crc32, gzipSync } from 'node:zlib';
import onnxProto from 'onnx-proto';
import { zipSync } from 'fflate';
import sharp from 'sharp';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { dict, npyFile } from '../io/build-npy.js';
import { REPO, SEED } from '../helpers/paths.js';
import { emptyMessages, ld } from '../helpers/protobuf.js';

const { onnx } = onnxProto;

/** The real eval set's first `n` samples, as a float32 .npy. */
export function seedSamples(n: number): Float32Array {
  return decodeNpy(new Uint8Array(readFileSync(`${SEED}concept_test_lenet1.npy`))).data.slice(0, n * 1024);
}

export const npyOf = (data: Float32Array, shape: number[]): Uint8Array => encodeNpy(data, shape, 'float32');

/** A 128-byte .npy whose header declares 10^13 float32 elements (40 TB). */
export const hugeShapeNpy = (): Uint8Array => npyFile(1, dict('<f4', [100000, 100000, 1000]), new Uint8Array(16));

/** A valid 3-sample .npy with one NaN and one +Inf. */
export function nonFiniteNpy(): Uint8Array {
  const d = seedSamples(3).slice();
  d[5] = Number.NaN;
  d[2048 + 7] = Number.POSITIVE_INFINITY;
  return npyOf(d, [3, 1, 32, 32]);
}

export const emptyNpy = (): Uint8Array => npyFile(1, dict('<f4', [0, 1, 32, 32]), new Uint8Array(0));
/** The header says 3 samples; the data holds 2. */
export const shortNpy = (): Uint8Array => npyFile(1, dict('<f4', [3, 1, 32, 32]), new Uint8Array(2 * 4096));
export const complexNpy = (): Uint8Array => npyFile(1, dict('<c8', [2, 1, 32, 32]), new Uint8Array(2 * 1024 * 8));
export const malformedHeaderNpy = (): Uint8Array => npyFile(1, "{'descr': '<f4', 'shape': (1, 2", new Uint8Array(8));

/**
 * A gzipped IDX image file that inflates to ~1.1 GiB: 17 gzip members of 64 MiB of zeros each (a gzip stream may hold
 * several members; each member of zeros compresses ~1000:1). About 1.1 MB on the wire. Its header declares `n`
 * 28×28 images: 1.5M (more than any limit) or a small count (the declared size passes; the inflated data does not).
 */
const bombs = new Map<number, Uint8Array>();
let zeros64: Buffer | undefined;
export function idxGzipBomb(n = 1_500_000): Uint8Array {
  let bomb = bombs.get(n);
  if (!bomb) {
    const header = Buffer.alloc(16);
    header.writeUInt32BE(0x00000803, 0);
    header.writeUInt32BE(n, 4);
    header.writeUInt32BE(28, 8);
    header.writeUInt32BE(28, 12);
    zeros64 ??= gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
    bomb = new Uint8Array(Buffer.concat([gzipSync(header), ...Array<Buffer>(17).fill(zeros64)]));
    bombs.set(n, bomb);
  }
  return bomb;
}

function pngChunk(type: string, data: Uint8Array): Buffer {
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A PNG whose header says width × height (8-bit grey) with a tiny IDAT: a pixel bomb, or a zero-size image. */
export function pngWithHeader(width: number, height: number): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(Buffer.concat([sig, pngChunk('IHDR', ihdr), pngChunk('IDAT', gzipSync(Buffer.alloc(1024)).subarray(10)), pngChunk('IEND', new Uint8Array(0))]));
}

export async function realPng(): Promise<Uint8Array> {
  const px = Uint8Array.from(seedSamples(1), (v) => Math.round(v * 255));
  return new Uint8Array(await sharp(Buffer.from(px), { raw: { width: 32, height: 32, channels: 1 } }).png().toBuffer());
}

export async function truncatedJpeg(): Promise<Uint8Array> {
  const px = Uint8Array.from(seedSamples(1), (v) => Math.round(v * 255));
  const j = await sharp(Buffer.from(px), { raw: { width: 32, height: 32, channels: 1 } }).jpeg().toBuffer();
  return new Uint8Array(j.subarray(0, Math.floor(j.length / 3)));
}

/** A CIFAR-10 .bin whose length is not a multiple of the 3073-byte record. */
export const cifarWrongLength = (): Uint8Array => new Uint8Array(3073 * 2 + 100);

/** A zip local-file header followed by garbage: a .npz with a malformed header. */
export const malformedNpz = (): Uint8Array => new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0xff, 0xff, ...new TextEncoder().encode('not really a zip archive'.repeat(4))]);

/** A valid .npz holding a .npy whose header declares more data than it has. */
export const npzWithShortArray = (): Uint8Array => zipSync({ 'x.npy': shortNpy() });

export const garbageOnnx = (): Uint8Array => new Uint8Array(Buffer.from('this is not an onnx model at all, just text'.repeat(20)));

/**
 * A 4 MiB ONNX model of 2 million empty subgraphs (ModelProto.graph.node[0].attribute[0].graphs): 2 bytes each on the
 * wire, ~340 bytes each once onnx-proto has decoded them (0.7 GB), so it must be refused before decoding.
 */
export function subgraphBombOnnx(count = 2_000_000): Uint8Array {
  return ld(7, ld(1, ld(5, emptyMessages(11, count)))); // AttributeProto.graphs (field 11), each of length 0
}

/** The real LeNet5 with its image input re-declared as rank 2 ([1, 1024]). */
export function wrongRankOnnx(): Uint8Array {
  const m = onnx.ModelProto.decode(readFileSync(`${REPO}models/lenet5.onnx`));
  const input = m.graph!.input![0]!;
  input.type!.tensorType!.shape!.dim = [{ dimValue: 1 }, { dimValue: 1024 }];
  return onnx.ModelProto.encode(m).finish();
}

export const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
