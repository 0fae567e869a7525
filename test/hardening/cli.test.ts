/**
 * The CLI bad-input battery (issue 6): hostile files through `imagedrift` commands. Each must exit with code 2 and
 * one readable line naming the problem; no output directory may be left behind by a failed fit.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliInProcess as cli } from '../helpers/cli.js';
import { REPO, SEED } from '../helpers/paths.js';
import { cifarWrongLength, complexNpy, emptyNpy, hugeShapeNpy, idxGzipBomb, malformedHeaderNpy, nonFiniteNpy, pngWithHeader, shortNpy, truncatedJpeg, wrongRankOnnx } from './hostile-inputs.js';

const MODEL = join(REPO, 'models/lenet5.onnx');
const EVAL = join(SEED, 'concept_test_lenet1.npy');

describe('CLI bad-input battery: exit code 2 and one line', () => {
  let dir = '';
  let det = '';
  const file = (name: string, bytes: Uint8Array): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'imagedrift-hostile-'));
    det = join(dir, 'det');
    const r = await cli('fit', '--model', MODEL, '--train', EVAL, '--layer', 'output', '--n-cluster', '3', '--out', det);
    assert.equal(r.code, 0, r.err.join('\n'));
    mkdirSync(join(dir, 'no-images'));
    writeFileSync(join(dir, 'no-images', 'notes.txt'), 'not an image');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const fitOn = (train: string, out: string) => ['fit', '--model', MODEL, '--train', train, '--layer', 'output', '--n-cluster', '3', '--out', join(dir, out)];
  const predictOn = (data: string) => ['predict', det, '--data', data, '--threshold', '0.5'];

  const cases: [string, () => Promise<string[]> | string[], RegExp, string?][] = [
    ['.npy declaring 10^13 elements', () => fitOn(file('huge.npy', hugeShapeNpy()), 'o1'), /shape.*maxElements/, 'o1'],
    ['.npy holding NaN', () => predictOn(file('nan.npy', nonFiniteNpy())), /NaN/],
    ['.npy with zero samples', () => fitOn(file('empty.npy', emptyNpy()), 'o2'), /empty/, 'o2'],
    ['.npy shorter than its shape', () => predictOn(file('short.npy', shortNpy())), /truncated/],
    ['.npy of complex64', () => predictOn(file('complex.npy', complexNpy())), /complex/],
    ['.npy with a malformed header', () => predictOn(file('bad.npy', malformedHeaderNpy())), /header/],
    ['IDX .gz bomb declaring 1.5M images', () => predictOn(file('bomb-idx3-ubyte.gz', idxGzipBomb())), /maxElements/],
    ['IDX .gz bomb declaring 10 images', () => predictOn(file('bomb10-idx3-ubyte.gz', idxGzipBomb(10))), /extra bytes|maxInflated/],
    ['CIFAR .bin of a wrong length', () => predictOn(file('data_batch_1.bin', cifarWrongLength())), /3073-byte record/],
    ['PNG declaring 50000 × 50000 pixels', () => predictOn(file('big.png', pngWithHeader(50_000, 50_000))), /maxImagePixels/],
    ['PNG of zero width', () => predictOn(file('zero.png', pngWithHeader(0, 32))), /could not be decoded|corrupt|zero|empty/],
    ['truncated JPEG', async () => predictOn(file('cut.jpg', await truncatedJpeg())), /could not be decoded|premature|corrupt/],
    ['ONNX whose input has rank 2', () => fitOn(join(dir, 'x'), 'o3').map((a) => (a === MODEL ? file('rank2.onnx', wrongRankOnnx()) : a === join(dir, 'x') ? EVAL : a)), /rank-4/, 'o3'],
    ['ensemble member with an unknown layer', () => ['fit', '--model', MODEL, '--train', EVAL, '--detector', 'ensemble', '--members', '[{"layer":"nope","detector":{"kind":"energy"}}]', '--out', join(dir, 'o4')], /nope/, 'o4'],
    ['--members that is not JSON', () => ['fit', '--model', MODEL, '--train', EVAL, '--detector', 'ensemble', '--members', '[{layer:', '--out', join(dir, 'o5')], /members/, 'o5'],
    ['a data path with unicode and control characters', () => predictOn(join(dir, 'dätä\u202e\u0007.npy')), /cannot read|ENOENT|no such/],
    ['a data directory holding no images', () => predictOn(join(dir, 'no-images')), /no (PNG|JPEG|image)|images/i],
  ];

  for (const [name, args, re, out] of cases) {
    it(name, async () => {
      const r = await cli(...(await args()));
      assert.equal(r.code, 2, `${r.err.join('\n')}\n${r.out.join('\n')}`);
      assert.equal(r.err.length, 1, r.err.join('\n'));
      assert.ok(!r.err[0]!.includes('\n'), 'one line');
      assert.match(r.err[0]!, /^imagedrift: error: \S/);
      assert.match(r.err[0]!, re);
      assert.ok(r.err[0]!.length < 600, r.err[0]);
      if (out) assert.ok(!existsSync(join(dir, out)), 'a failed fit leaves no detector directory');
    });
  }
});
