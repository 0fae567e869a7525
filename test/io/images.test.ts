import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { decodeImages } from '../../src/io/images.js';
import { loadData } from '../../src/io/load.js';
import { naturalCompare } from '../../src/io/natural-sort.js';
import { REPO } from '../helpers/paths.js';
import { rejectsInput } from './assert-input.js';

/** Deterministic pixels: value depends on position, channel and a seed. */
function pixels(h: number, w: number, c: number, seed: number): Uint8Array {
  const out = new Uint8Array(h * w * c);
  for (let i = 0; i < out.length; i++) out[i] = (i * 31 + seed * 17) % 256;
  return out;
}

async function png(h: number, w: number, c: 1 | 3 | 4, seed: number): Promise<Uint8Array> {
  const img = sharp(pixels(h, w, c, seed), { raw: { width: w, height: h, channels: c } });
  return new Uint8Array(await (c === 1 ? img.toColourspace('b-w') : img).png().toBuffer());
}

async function jpeg(h: number, w: number, seed: number): Promise<Uint8Array> {
  // A smooth gradient so that lossy compression stays close.
  const raw = new Uint8Array(h * w * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let c = 0; c < 3; c++) raw[(y * w + x) * 3 + c] = (x * 4 + y * 2 + c * 40 + seed) % 200;
  const buf = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
  return new Uint8Array(buf);
}

describe('decodeImages', () => {
  it('PNG round trip is exact (RGB, NHWC)', async () => {
    const a = await decodeImages([
      { name: 'a.png', bytes: await png(5, 7, 3, 1) },
      { name: 'b.png', bytes: await png(5, 7, 3, 2) },
    ]);
    assert.deepEqual(a.shape, [2, 5, 7, 3]);
    assert.equal(a.dtype, 'uint8');
    assert.equal(a.layout, 'NHWC');
    assert.deepEqual(Array.from(a.data.subarray(0, 105)), Array.from(pixels(5, 7, 3, 1)));
    assert.deepEqual(Array.from(a.data.subarray(105)), Array.from(pixels(5, 7, 3, 2)));
  });

  it('greyscale PNGs give one channel exactly; mixed batches become RGB with the grey plane replicated', async () => {
    const grey = await png(4, 4, 1, 3);
    const a = await decodeImages([{ name: 'g.png', bytes: grey }]);
    assert.deepEqual(a.shape, [1, 4, 4, 1]);
    assert.deepEqual(Array.from(a.data), Array.from(pixels(4, 4, 1, 3)));
    const b = await decodeImages([{ name: 'rgb.png', bytes: await png(4, 4, 3, 1) }, { name: 'g.png', bytes: grey }]);
    assert.deepEqual(b.shape, [2, 4, 4, 3]);
    const g = pixels(4, 4, 1, 3);
    for (let p = 0; p < 16; p++) for (let c = 0; c < 3; c++) assert.equal(b.data[48 + p * 3 + c], g[p]);
  });

  it('drops alpha and converts to the requested channel count', async () => {
    const rgba = await png(3, 3, 4, 5);
    const rgb = await decodeImages([{ name: 'x.png', bytes: rgba }]);
    assert.deepEqual(rgb.shape, [1, 3, 3, 3]);
    const src = pixels(3, 3, 4, 5);
    for (let p = 0; p < 9; p++) for (let c = 0; c < 3; c++) assert.equal(rgb.data[p * 3 + c], src[p * 4 + c]);
    const one = await decodeImages([{ name: 'x.png', bytes: rgba }], { channels: 1 });
    assert.deepEqual(one.shape, [1, 3, 3, 1]);
    const three = await decodeImages([{ name: 'g.png', bytes: await png(3, 3, 1, 1) }], { channels: 3 });
    assert.deepEqual(three.shape, [1, 3, 3, 3]);
    assert.equal(three.data[0], three.data[1]);
  });

  it('decodes JPEG close to the original pixels', async () => {
    const a = await decodeImages([{ name: 'p.jpg', bytes: await jpeg(16, 16, 0) }]);
    assert.deepEqual(a.shape, [1, 16, 16, 3]);
    let err = 0;
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) for (let c = 0; c < 3; c++) err += Math.abs(a.data[(y * 16 + x) * 3 + c]! - ((x * 4 + y * 2 + c * 40) % 200));
    assert.ok(err / 768 < 3, `mean absolute error ${err / 768}`);
  });

  it('resizes to size [h, w] and then accepts mixed sizes', async () => {
    const a = await decodeImages(
      [{ name: 'a.png', bytes: await png(10, 20, 3, 1) }, { name: 'b.jpg', bytes: await jpeg(16, 16, 1) }],
      { size: [8, 6] },
    );
    assert.deepEqual(a.shape, [2, 8, 6, 3]);
  });

  it('names the first file whose size differs when no size is given', async () => {
    const files = [
      { name: 'a.png', bytes: await png(4, 4, 3, 1) },
      { name: 'b.png', bytes: await png(4, 4, 3, 2) },
      { name: 'c.png', bytes: await png(5, 4, 3, 3) },
      { name: 'd.png', bytes: await png(6, 6, 3, 3) },
    ];
    await rejectsInput(decodeImages(files), 'files[2]', /'c\.png' is 5×4/, /'a\.png' is 4×4/, /share one size \(resize them first\)$/);
  });

  it('names corrupt and non-image files', async () => {
    const good = await png(4, 4, 3, 1);
    await rejectsInput(
      decodeImages([{ name: 'ok.png', bytes: good }, { name: 'cut.png', bytes: good.subarray(0, 40) }]),
      'files[1]', /'cut\.png' could not be decoded/,
    );
    const j = await jpeg(16, 16, 0);
    await rejectsInput(decodeImages([{ name: 'cut.jpg', bytes: j.subarray(0, j.length - 60) }]), 'files[0]', /'cut\.jpg' could not be decoded/);
    await rejectsInput(decodeImages([{ name: 'notes.png', bytes: new TextEncoder().encode('hello') }]), 'files[0]', /'notes\.png' is not a PNG or JPEG/, /68 65 6c 6c/);
  });

  it('validates its options and input list', async () => {
    await rejectsInput(decodeImages([]), 'files', /no images/);
    const f = [{ name: 'a.png', bytes: await png(2, 2, 3, 1) }];
    await rejectsInput(decodeImages(f, { channels: 2 as 1 }), 'channels', /1 or 3/);
    await rejectsInput(decodeImages(f, { size: [0, 4] }), 'size', /\[height, width\]/);
  });

  it('importing the package (and so its decoders) does not load sharp', () => {
    const script = `await import('./src/index.ts');
      const libs = process.report.getReport().sharedObjects.filter((s) => /sharp|vips/.test(s));
      console.log(JSON.stringify(libs));`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), []);
  });
});

describe('image folders', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'imagedrift-io-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads .png/.jpg files in natural name order (img2 < img10), ignoring other files', async () => {
    const folder = join(dir, 'natural');
    await mkdir(folder);
    // Each image is a flat 2×2 grey level that identifies it.
    const flat = async (v: number): Promise<Buffer> => sharp(new Uint8Array(4).fill(v), { raw: { width: 2, height: 2, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    await writeFile(join(folder, 'img10.png'), await flat(10));
    await writeFile(join(folder, 'img2.png'), await flat(2));
    await writeFile(join(folder, 'img1.PNG'), await flat(1));
    await writeFile(join(folder, 'readme.txt'), 'not an image');
    const a = await loadData(folder);
    assert.deepEqual(a.shape, [3, 2, 2, 1]);
    assert.deepEqual([a.data[0], a.data[4], a.data[8]], [1, 2, 10]);
  });

  it('reads symbolic links to images in their place (they used to be skipped, shifting every later sample)', async () => {
    const folder = join(dir, 'links');
    const elsewhere = join(dir, 'elsewhere');
    await mkdir(folder);
    await mkdir(elsewhere);
    const flat = async (v: number): Promise<Buffer> => sharp(new Uint8Array(4).fill(v), { raw: { width: 2, height: 2, channels: 1 } }).toColourspace('b-w').png().toBuffer();
    for (const v of [1, 3]) await writeFile(join(folder, `img${v}.png`), await flat(v));
    await writeFile(join(elsewhere, 'two.png'), await flat(2));
    await symlink(join(elsewhere, 'two.png'), join(folder, 'img2.png'));
    const a = await loadData(folder);
    assert.deepEqual(a.shape, [3, 2, 2, 1]);
    assert.deepEqual([a.data[0], a.data[4], a.data[8]], [1, 2, 3]);
    await symlink(join(elsewhere, 'missing.png'), join(folder, 'img4.png'));
    await rejectsInput(loadData(folder), 'path', /no such file or directory: .*img4\.png/);
  });

  it('refuses a folder entry named like an image that is not a file, and images in formats it does not read', async () => {
    const sub = join(dir, 'subdir');
    await mkdir(join(sub, 'nested.png'), { recursive: true });
    await rejectsInput(loadData(sub), 'path', /nested\.png is not a regular file/);
    const gif = join(dir, 'gif');
    await mkdir(gif);
    await writeFile(join(gif, 'a.png'), await sharp(new Uint8Array(4), { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer());
    await writeFile(join(gif, 'b.gif'), 'GIF89a');
    await rejectsInput(loadData(gif), 'path', /b\.gif: only PNG and JPEG images are read from a folder/);
  });

  it('refuses a subfolder holding images instead of leaving them out (folders are not read recursively)', async () => {
    // `train/a.png` beside `train/more/b.png` loaded a.png alone: b.png was dropped without a word.
    const folder = join(dir, 'nested');
    const grey = (v: number) => sharp(new Uint8Array(4).fill(v), { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer();
    await mkdir(join(folder, 'more'), { recursive: true });
    await writeFile(join(folder, 'a.png'), await grey(1));
    await writeFile(join(folder, 'more', 'b.png'), await grey(2));
    await rejectsInput(loadData(folder), 'path', /more is a folder holding images \('b\.png'\); only the images directly in .* are read/);
    // A link to such a folder too; a subfolder without images (notes, an empty one) is left alone.
    const linked = join(dir, 'nested-link');
    await mkdir(linked);
    await writeFile(join(linked, 'a.png'), await grey(1));
    await symlink(join(folder, 'more'), join(linked, 'more'));
    await rejectsInput(loadData(linked), 'path', /more is a folder holding images/);
    const plain = join(dir, 'nested-plain');
    await mkdir(join(plain, 'docs'), { recursive: true });
    await mkdir(join(plain, 'empty'));
    await writeFile(join(plain, 'docs', 'notes.txt'), 'not an image');
    await writeFile(join(plain, 'a.png'), await grey(1));
    assert.equal((await loadData(plain)).shape[0], 1);
  });

  it('reads every JPEG name (.jfif, .jpe, .pjpeg and .pjp used to be skipped, shifting every later sample) in natural order', async () => {
    const folder = join(dir, 'jpeg-names');
    await mkdir(folder);
    const grey = (v: number) => sharp(new Uint8Array(16).fill(v), { raw: { width: 4, height: 4, channels: 1 } }).toColourspace('b-w');
    const names = ['img1.png', 'img2.jfif', 'img3.jpe', 'img4.PJPEG', 'img5.pjp', 'img6.JPG', 'img7.jpeg', 'img10.png'];
    for (const [i, name] of names.entries()) {
      const v = (i + 1) * 20;
      await writeFile(join(folder, name), await (name.endsWith('png') ? grey(v).png() : grey(v).jpeg({ quality: 100 })).toBuffer());
    }
    const a = await loadData(folder);
    assert.deepEqual(a.shape, [8, 4, 4, 1]);
    const first = Array.from({ length: 8 }, (_, i) => a.data[i * 16]!);
    assert.ok(first.every((v, i) => Math.abs(v - (i + 1) * 20) <= 1), `samples in file order: ${first}`);
  });

  it('refuses a file that is an image by its content but not by its name, instead of skipping it', async () => {
    const folder = async (name: string, other: string, bytes: Uint8Array | string): Promise<string> => {
      const f = join(dir, name);
      await mkdir(f);
      await writeFile(join(f, 'a.png'), await sharp(new Uint8Array(4), { raw: { width: 2, height: 2, channels: 1 } }).png().toBuffer());
      await writeFile(join(f, 'notes.txt'), 'not an image');
      await writeFile(join(f, other), bytes);
      return f;
    };
    const jpegBytes = await sharp(new Uint8Array(4), { raw: { width: 2, height: 2, channels: 1 } }).jpeg().toBuffer();
    await rejectsInput(loadData(await folder('named-png', 'frame7', await png(2, 2, 1, 0))), 'path', /frame7 is a PNG image by its content, but only files named \*\.png, \*\.jpg, .*\*\.jfif.* are read from a folder; rename it or move it out/);
    await rejectsInput(loadData(await folder('named-dat', 'b.dat', jpegBytes)), 'path', /b\.dat is a JPEG image by its content/);
    await rejectsInput(loadData(await folder('named-gif', 'c.img', 'GIF89a\x01\x00\x01\x00')), 'path', /c\.img is a GIF image by its content: only PNG and JPEG images are read from a folder/);
    await rejectsInput(loadData(await folder('named-webp', 'd', 'RIFF\x00\x00\x00\x00WEBPVP8 ')), 'path', /d is a WebP image by its content/);
    // A link to an image is followed; text, an empty file, a dangling link and a FIFO (which must not be opened) are not images.
    const ok = await folder('not-images', 'empty', '');
    await symlink(join(dir, 'nowhere'), join(ok, 'dangling'));
    spawnSync('mkfifo', [join(ok, 'pipe')]);
    assert.equal((await loadData(ok)).shape[0], 1, 'a.png only');
    await symlink(join(ok, 'a.png'), join(ok, 'link'));
    await rejectsInput(loadData(ok), 'path', /link is a PNG image by its content/);
  });

  it('leaves out a file it cannot open (permissions) instead of failing the folder, as before the content check', async () => {
    // The check above opens every file not named as an image; one the user cannot read threw EACCES (an internal error,
    // exit 1) where the folder used to load. As root the read always succeeds, so the load runs as nobody.
    const folder = await mkdtemp(join(tmpdir(), 'imagedrift-unreadable-'));
    try {
      for (const [i, name] of ['1.png', '2.png'].entries()) await writeFile(join(folder, name), await png(2, 2, 1, i), { mode: 0o644 });
      await writeFile(join(folder, 'notes.txt'), 'private', { mode: 0o600 });
      const root = process.getuid?.() === 0;
      if (!root) await chmod(join(folder, 'notes.txt'), 0o000);
      await chmod(folder, 0o755);
      const script = `import { loadData } from ${JSON.stringify(join(REPO, 'src/io/load.ts'))}; process.stdout.write(JSON.stringify((await loadData(${JSON.stringify(folder)})).shape));`;
      const args = ['--import', 'tsx', '--input-type=module', '-e', script];
      const r = root
        ? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, TSX_TSCONFIG_PATH: join(REPO, 'tsconfig.json') } })
        : spawnSync(process.execPath, args, { cwd: REPO, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), [2, 2, 2, 1]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('rejects a folder without images', async () => {
    const folder = join(dir, 'empty');
    await mkdir(folder);
    await rejectsInput(loadData(folder), 'path', /contains no \*\.png, \*\.jpg, \*\.jpeg, \*\.jpe, \*\.jfif, \*\.pjpeg or \*\.pjp files/);
  });
});

describe('naturalCompare', () => {
  it('orders digit runs numerically and everything else by code unit', () => {
    const names = ['img10.png', 'img2.png', 'img1.png', 'img02.png', 'Img3.png', 'img1a.png', 'a', 'img'];
    assert.deepEqual([...names].sort(naturalCompare), ['Img3.png', 'a', 'img', 'img1.png', 'img1a.png', 'img02.png', 'img2.png', 'img10.png']);
    assert.ok(naturalCompare('x99999999999999999999', 'x100000000000000000000') < 0);
    assert.equal(naturalCompare('same', 'same'), 0);
  });
});
