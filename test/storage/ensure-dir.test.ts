import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StorageError } from '../../src/core/errors.js';
import { ensureDir, LocalDirStore, writeFileAtomic } from '../../src/storage/local-dir-store.js';

test('ensureDir: makes missing levels, accepts existing ones and concurrent makers, and fails (not spins) where a level cannot be made', { timeout: 30_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imagedrift-ensure-'));
  try {
    const deep = join(dir, 'a', 'b', 'c');
    await ensureDir(deep);
    assert.ok(statSync(deep).isDirectory());
    await ensureDir(deep); // already there
    await Promise.all(Array.from({ length: 8 }, () => ensureDir(join(dir, 'x', 'y')))); // racing makers
    assert.ok(statSync(join(dir, 'x', 'y')).isDirectory());
    writeFileSync(join(dir, 'file'), 'x');
    await assert.rejects(ensureDir(join(dir, 'file', 'sub')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR');
    await assert.rejects(ensureDir(join(dir, 'file')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR', 'the leaf itself is a file');
    symlinkSync(join(dir, 'nowhere'), join(dir, 'dangling'));
    await assert.rejects(ensureDir(join(dir, 'dangling')), (e: NodeJS.ErrnoException) => e.code === 'ENOTDIR', 'a dangling link is not a directory');
    symlinkSync(join(dir, 'a'), join(dir, 'link-to-a'));
    await ensureDir(join(dir, 'link-to-a', 'b', 'new')); // a link to a directory is one
    assert.ok(statSync(join(dir, 'a', 'b', 'new')).isDirectory());
    // Node's recursive mkdir never returns here (it retries ENOENT forever); this must fail at once.
    await assert.rejects(ensureDir('/proc/imagedrift-no-such/dir'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('writeFileAtomic and LocalDirStore.put: a failed write leaves the earlier file as it was and no temp file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imagedrift-atomic-'));
  const temps = () => readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.includes('.tmp-'));
  try {
    const file = join(dir, 'sub', 'out.bin');
    await writeFileAtomic(file, new Uint8Array([1, 2, 3]));
    await writeFileAtomic(file, 'new');
    assert.equal(readFileSync(file, 'utf8'), 'new', 'replaces the file, creating its directory');
    await assert.rejects(writeFileAtomic(file, 'never', { beforeRename: async () => Promise.reject(new Error('refused')) }), /refused/);
    assert.equal(readFileSync(file, 'utf8'), 'new', 'nothing renamed when beforeRename throws');
    // The rename fails (a non-empty directory holds the name): the data was written, and its temp file must go.
    mkdirSync(join(dir, 'taken', 'x'), { recursive: true });
    await assert.rejects(writeFileAtomic(join(dir, 'taken'), 'data'), (e: NodeJS.ErrnoException) => e.code === 'EISDIR' || e.code === 'ENOTEMPTY');
    assert.deepEqual(temps(), []);

    const store = new LocalDirStore(dir);
    await store.put('v1/manifest.json', new TextEncoder().encode('{"ok":1}'));
    mkdirSync(join(dir, 'model.onnx', 'x'), { recursive: true });
    await assert.rejects(store.put('model.onnx', new Uint8Array(1000)), (e: unknown) => e instanceof StorageError && e.field === 'model.onnx');
    assert.deepEqual(temps(), [], 'a failed put used to leave model.onnx.tmp-<uuid> behind');
    await assert.rejects(store.put('v1/manifest.json', new Uint8Array(1), { ifNoneMatch: true }), /already exists/);
    assert.deepEqual(temps(), []);
    assert.equal(readFileSync(join(dir, 'v1', 'manifest.json'), 'utf8'), '{"ok":1}');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
