/**
 * infra/s3-local.ts's stop() against connections that never complete a request. s3rver's own close waits for every
 * open connection: a client that connected and went silent (or sent half a request) held stop() for as long as it
 * stayed (over 90 s when measured), and with it the test file's `after` and the process. A server that does not exit
 * on SIGTERM at all is killed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { startS3Local } from '../../infra/s3-local.js';
import { orTimeout } from '../helpers/procs.js';

async function openSilent(endpoint: string, send: string): Promise<Socket> {
  const { hostname, port } = new URL(endpoint);
  const sock = connect(Number(port), hostname);
  sock.on('error', () => undefined); // reset when the server goes
  await new Promise<void>((resolve, reject) => sock.once('connect', resolve).once('error', reject));
  if (send) sock.write(send);
  return sock;
}

for (const [what, send] of [
  ['a connection that sent nothing', ''],
  ['a connection that sent half a request', 'GET /imagedrift-test HTTP/1.1\r\nHost: 127.0.0.1\r\n'],
] as const) {
  test(`stop() returns and the server exits with ${what} open (the server drops it after its grace)`, async () => {
    const s3 = await startS3Local({ bucket: 'imagedrift-test' });
    const sock = await openSilent(s3.endpoint, send);
    try {
      // Well under stop()'s own SIGKILL bound (10 s): the server exits by itself, after CLOSE_GRACE_MS (3 s).
      const r = await orTimeout(s3.stop(), 9000);
      assert.notEqual(r, 'timeout', 'stop() did not return');
      assert.equal(existsSync(s3.dir), false, 'its directory is removed');
      await orTimeout(new Promise((resolve) => (sock.destroyed ? resolve(undefined) : sock.once('close', resolve))), 5000);
      assert.equal(sock.destroyed, true, 'the silent connection was dropped');
    } finally {
      sock.destroy();
      await s3.stop();
    }
  });
}

test('stop() of a server that does not answer SIGTERM (stopped with SIGSTOP) kills it after its grace and removes its directory', async () => {
  const s3 = await startS3Local({ bucket: 'imagedrift-test' });
  process.kill(s3.pid, 'SIGSTOP');
  try {
    // SIGTERM waits while the process is stopped; SIGKILL does not (STOP_GRACE_MS, 10 s).
    const r = await orTimeout(s3.stop(), 30_000);
    assert.notEqual(r, 'timeout', 'stop() did not return');
    assert.throws(() => process.kill(s3.pid, 0), { code: 'ESRCH' }, 'the server process is gone');
    assert.equal(existsSync(s3.dir), false, 'its directory is removed');
  } finally {
    try {
      process.kill(s3.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});
