/**
 * The per-file deadline of scripts/test.sh (test/helpers/file-deadline.ts): a test file whose tests pass but whose
 * process never exits fails once the deadline passes, naming what it waits on, and a file that exits is untouched.
 * Each case runs Node's real test runner, as scripts/test.sh does, over a file written here.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileDeadlineSeconds } from './helpers/file-deadline.js';
import { REPO } from './helpers/paths.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'imagedrift-deadline-'));
});
after(() => rm(dir, { recursive: true, force: true }));

interface RunnerResult {
  readonly code: number | null;
  readonly output: string;
  readonly ms: number;
}

/** Node's test runner over one file, with the deadline module imported as scripts/test.sh does; killed after `killMs`. */
async function runner(body: string, env: Record<string, string>, killMs = 60_000): Promise<RunnerResult> {
  const file = join(dir, `case-${Math.random().toString(36).slice(2)}.test.mjs`);
  await writeFile(file, `import { test } from 'node:test';\n${body}\n`);
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', './test/helpers/file-deadline.ts', '--test', file], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), killMs);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, output, ms: Date.now() - started };
}

test('a file whose test passes but whose process stays alive fails at the deadline, naming what it waits on', async () => {
  // A socket that is never closed: what a reconnecting Redis client leaves behind.
  const leak = "test('passes', async () => { const { createServer } = await import('node:net'); createServer().listen(0, '127.0.0.1'); });";
  const r = await runner(leak, { TEST_FILE_DEADLINE_S: '2' });
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /test file deadline: .*case-.*\.test\.mjs still running after 2 s \(TEST_FILE_DEADLINE_S\); the process is waiting on: .*TCPServerWrap/);
  assert.match(r.output, /ok 1 - passes/, 'the test itself passed');
  assert.ok(r.ms < 30_000, `the runner took ${r.ms} ms`);
});

test('a file that exits is untouched by the deadline (its unref\'d timer keeps nothing alive)', async () => {
  const r = await runner("test('passes', () => {});", { TEST_FILE_DEADLINE_S: '600' });
  assert.equal(r.code, 0, r.output);
  assert.doesNotMatch(r.output, /test file deadline/);
  assert.ok(r.ms < 30_000, `the runner took ${r.ms} ms: the deadline's timer kept the file's process alive`);
});

test('the deadline is active only in the runner\'s per-file processes, and TEST_FILE_DEADLINE_S must be a positive number', () => {
  assert.equal(fileDeadlineSeconds({}), undefined);
  assert.equal(fileDeadlineSeconds({ TEST_FILE_DEADLINE_S: '5' }), undefined);
  assert.equal(fileDeadlineSeconds({ NODE_TEST_CONTEXT: 'child-v8' }), 900);
  assert.equal(fileDeadlineSeconds({ NODE_TEST_CONTEXT: 'child-v8', TEST_FILE_DEADLINE_S: '2.5' }), 2.5);
  for (const bad of ['0', '-1', 'ten', 'Infinity']) {
    assert.throws(() => fileDeadlineSeconds({ NODE_TEST_CONTEXT: 'child-v8', TEST_FILE_DEADLINE_S: bad }), /TEST_FILE_DEADLINE_S must be a positive number of seconds, got/);
  }
});
