/**
 * The CLI's code cache (src/cli/compile-cache.ts): a small CommonJS file for the mechanism (miss → hit, a rebuilt
 * file never runs stale code, a damaged cache is rejected and replaced, an unsafe directory is not used), then the
 * real bundle through bin/imagedrift.js (same output with and without the cache, the cache used by the next process),
 * and Node's built-in compile cache taking over on the Lambda runtime's Node 24.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cacheDirectory, type CacheStatus } from '../src/cli/compile-cache.js';
import { REPO, SEED } from './helpers/paths.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'imagedrift-compile-cache-test-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh cache base directory (NODE_COMPILE_CACHE) and a CommonJS file with `source`. */
function fixture(name: string, source: string): { file: string; env: NodeJS.ProcessEnv; cacheDir: string } {
  const base = join(dir, name);
  mkdirSync(base);
  const file = join(base, 'bundle.cjs');
  writeFileSync(file, source);
  const env = { NODE_COMPILE_CACHE: join(base, 'cache') };
  return { file, env, cacheDir: cacheDirectory(env) };
}
/** A module whose work happens in functions compiled only when called (what a cache made after the run adds). */
const moduleSource = (tag: string) => `exports.main = function main(x) { const parts = [1, 2, 3].map((i) => i * x); return '${tag}:' + parts.join(','); };`;
/**
 * Loads `file` in a process of its own (in one process V8 keeps a compiled source in memory and would not even look
 * at the cache a second load hands it), runs main(x), saves, and reports. Uses the built dist/ (npm test builds it).
 */
function load(file: string, env: NodeJS.ProcessEnv, key = 'fit', x = 2): { status: CacheStatus; result: string; saved: boolean; cacheFile?: string } {
  const probe = `const { loadBundle } = await import(${JSON.stringify(join(REPO, 'dist/src/cli/compile-cache.js'))});
const b = loadBundle(${JSON.stringify(file)}, { key: ${JSON.stringify(key)}, builtin: false });
const result = b.exports.main(${x});
console.log(JSON.stringify({ status: b.status, result, saved: b.save(), cacheFile: b.cacheFile }));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', env: { PATH: process.env.PATH, ...env } })) as ReturnType<typeof load>;
}

describe('compile cache (Node 20 path, on a small CommonJS file)', () => {
  it('misses, writes a private cache after the run, and the next process hits it with the same result', () => {
    const { file, env, cacheDir } = fixture('basic', moduleSource('AAA'));
    const first = load(file, env);
    assert.deepEqual([first.status, first.result, first.saved], ['miss', 'AAA:2,4,6', true]);
    assert.equal(statSync(cacheDir).mode & 0o777, 0o700);
    assert.equal(statSync(first.cacheFile!).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(cacheDir), [first.cacheFile!.slice(cacheDir.length + 1)], 'one file, no temporary left');
    const second = load(file, env);
    assert.deepEqual([second.status, second.result, second.saved], ['hit', 'AAA:2,4,6', false], 'a hit writes nothing');
    // One cache per command, each under a safe name.
    assert.equal(load(file, env, 'predict').status, 'miss');
    assert.match(load(file, env, '../../etc/x').cacheFile!, /-other\.bin$/);
  });

  it('a rebuilt file of the same length runs its new code (V8 alone would take the old cache: it checks the length)', () => {
    const { file, env, cacheDir } = fixture('stale', moduleSource('AAA'));
    assert.equal(load(file, env, 'fit', 3).saved, true);
    writeFileSync(file, moduleSource('BBB')); // same length, different code
    const rebuilt = load(file, env, 'fit', 3);
    assert.deepEqual([rebuilt.status, rebuilt.result, rebuilt.saved], ['miss', 'BBB:3,6,9', true]);
    assert.equal(readdirSync(cacheDir).length, 1, "the old build's cache is removed when the new one is written");
  });

  it("keeps another Node's caches when it prunes", () => {
    const { file, env, cacheDir } = fixture('prune', moduleSource('AAA'));
    mkdirSync(cacheDir, { recursive: true, mode: 0o700 });
    const other = join(cacheDir, 'v8-1.2.3-x64-0123456789abcdef-fit.bin');
    writeFileSync(other, 'x');
    assert.equal(load(file, env).saved, true);
    assert.ok(existsSync(other));
  });

  it('a damaged cache is rejected, the module still runs, and the cache is replaced', () => {
    const { file, env } = fixture('damaged', moduleSource('AAA'));
    const { cacheFile } = load(file, env, 'fit', 1);
    const bytes = readFileSync(cacheFile!);
    writeFileSync(cacheFile!, bytes.subarray(0, bytes.length >> 1)); // truncated
    const damaged = load(file, env, 'fit', 1);
    assert.deepEqual([damaged.status, damaged.result, damaged.saved], ['rejected', 'AAA:1,2,3', true]);
    assert.equal(load(file, env).status, 'hit');
  });

  it('does not use a cache directory others can write or that is a symlink, nor any when NODE_DISABLE_COMPILE_CACHE is set', () => {
    const open = fixture('open', moduleSource('AAA'));
    mkdirSync(open.cacheDir, { recursive: true });
    chmodSync(open.cacheDir, 0o777);
    const a = load(open.file, open.env, 'fit', 1);
    assert.deepEqual([a.status, a.result, a.saved], ['unsafe', 'AAA:1,2,3', false]);
    assert.deepEqual(readdirSync(open.cacheDir), []);

    const linked = fixture('linked', moduleSource('AAA'));
    mkdirSync(join(dir, 'elsewhere'));
    mkdirSync(join(linked.cacheDir, '..'), { recursive: true });
    symlinkSync(join(dir, 'elsewhere'), linked.cacheDir);
    assert.equal(load(linked.file, linked.env).status, 'unsafe');
    assert.deepEqual(readdirSync(join(dir, 'elsewhere')), []);

    if (process.getuid?.() === 0) {
      // As root (CI here), a directory owned by another user: made by someone else, so not ours to trust.
      const foreign = fixture('foreign', moduleSource('AAA'));
      mkdirSync(foreign.cacheDir, { recursive: true, mode: 0o700 });
      chownSync(foreign.cacheDir, 65534, 65534);
      assert.equal(load(foreign.file, foreign.env).status, 'unsafe');
    }

    const off = fixture('off', moduleSource('AAA'));
    const b = load(off.file, { ...off.env, NODE_DISABLE_COMPILE_CACHE: '1' });
    assert.deepEqual([b.status, b.saved], ['off', false]);
    assert.ok(!existsSync(off.cacheDir));
  });
});

describe('compile cache on the real CLI bundle', () => {
  const bin = join(REPO, 'bin/imagedrift.js');
  const model = join(REPO, 'models/lenet5.onnx');

  it('predict prints the same bytes without a cache, writing it, and using it; the next process reads it unchanged', () => {
    const env = { ...process.env, NODE_COMPILE_CACHE: join(dir, 'cli-cache') };
    const cacheDir = cacheDirectory(env);
    const det = join(dir, 'cli-det');
    const fit = spawnSync(process.execPath, [bin, 'fit', '--model', model, '--train', join(SEED, 'concept_train_lenet.npy'), '--layer', 'output', '--n-cluster', '10', '--out', det], { encoding: 'utf8', env });
    assert.equal(fit.status, 0, fit.stderr);
    const predict = (extra: NodeJS.ProcessEnv) => execFileSync(process.execPath, [bin, 'predict', det, '--data', join(SEED, 'concept_test_lenet2.npy'), '--threshold', '0.5', '--json'], { encoding: 'utf8', env: { ...env, ...extra } });
    const without = predict({ NODE_DISABLE_COMPILE_CACHE: '1' });
    const predictCache = () => readdirSync(cacheDir).filter((f) => f.endsWith('-predict.bin'));
    assert.deepEqual(predictCache(), [], 'fit wrote its own cache, not one for predict');
    assert.equal(predict({}), without, 'the process that writes the cache');
    const [file] = predictCache();
    assert.ok(file, 'predict left its cache');
    const before = statSync(join(cacheDir, file));
    assert.equal(predict({}), without, 'the process that reads it');
    const afterRead = statSync(join(cacheDir, file));
    // Rewritten only when missing or rejected (then renamed into place: a new inode): the same file means V8 took it.
    assert.deepEqual([afterRead.ino, afterRead.mtimeMs], [before.ino, before.mtimeMs]);
    // And in a process of its own: the statuses this bundle gets.
    const probe = `const { loadBundle } = await import(${JSON.stringify(join(REPO, 'dist/src/cli/compile-cache.js'))}); const b = loadBundle(${JSON.stringify(join(REPO, 'dist/cli.cjs'))}, { key: 'predict' }); console.log(b.status, typeof b.exports.main);`;
    assert.equal(execFileSync(process.execPath, ['--input-type=module', '-e', probe], { encoding: 'utf8', env }).trim(), 'hit function');
  });

  it("on Node ≥ 22.1 (the Lambda runtime's 24.9) hands the bundle to Node's own compile cache", () => {
    const r = spawnSync('sh', [join(REPO, 'scripts/lambda-node.sh')], { encoding: 'utf8', cwd: REPO });
    assert.equal(r.status, 0, r.stderr);
    const node24 = r.stdout.trim().split('\n').at(-1)!;
    const cacheBase = join(dir, 'node24-cache');
    const env = { ...process.env, NODE_COMPILE_CACHE: cacheBase };
    const probe = `const { loadBundle } = await import(${JSON.stringify(join(REPO, 'dist/src/cli/compile-cache.js'))}); const b = loadBundle(${JSON.stringify(join(REPO, 'dist/cli.cjs'))}, { key: 'usage' }); console.log(b.status, typeof b.exports.main, b.save());`;
    assert.equal(execFileSync(node24, ['--input-type=module', '-e', probe], { encoding: 'utf8', env }).trim(), 'builtin function false');
    const usage = spawnSync(node24, [join(REPO, 'bin/imagedrift.js')], { encoding: 'utf8', env });
    assert.match(usage.stdout + usage.stderr, /usage:/);
    assert.ok(!existsSync(cacheDirectory(env)), "no cache of this file's own beside Node's");
    assert.ok(readdirSync(cacheBase).length > 0, "Node's compile cache is in NODE_COMPILE_CACHE");
  });
});
