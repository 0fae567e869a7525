/**
 * The worker process's exit status tells a supervisor whether restarting can help: a configuration error exits 78
 * (sysexits' EX_CONFIG) with one line naming the variable, and the systemd unit does not restart on 78.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO } from '../helpers/paths.js';

function runWorker(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'infra/worker.ts'], { cwd: REPO, env: { PATH: process.env.PATH, NODE_NO_WARNINGS: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    p.on('exit', (code) => resolve({ code, stderr }));
  });
}

test('a configuration error exits 78 with one line naming the variable; the systemd unit does not restart on it', async () => {
  for (const [env, variable] of [
    [{}, 'S3_BUCKET'],
    [{ S3_BUCKET: 'b-1', REDIS_URL: 'http://127.0.0.1:6379' }, 'REDIS_URL'],
    [{ S3_BUCKET: 'b-1', INCOMING_PREFIX: 'tenants/' }, 'INCOMING_PREFIX'],
  ] as const) {
    const r = await runWorker(env);
    assert.equal(r.code, 78, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`^imagedrift-worker: configuration error: ${variable}: `));
  }
  const unit = await readFile(join(REPO, 'infra/imagedrift-worker.service'), 'utf8');
  assert.match(unit, /^Restart=on-failure$/m);
  assert.match(unit, /^RestartPreventExitStatus=78$/m);
});
