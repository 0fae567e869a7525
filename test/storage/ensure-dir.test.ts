import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureDir } from '../../src/storage/local-dir-store.js';

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
