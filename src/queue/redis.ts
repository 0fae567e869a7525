import type { Redis } from 'ioredis';

/**
 * How long `closeRedis` waits for Redis to acknowledge QUIT before it drops the socket instead: a server that stopped
 * answering (a partition without a reset) never does.
 */
const QUIT_TIMEOUT_MS = 2000;

/** Read afresh (TypeScript narrows `conn.status` across an await as if nothing could change it). */
const hasEnded = (conn: Redis): boolean => conn.status === 'end';

/**
 * Closes an ioredis connection for good, whatever state Redis is in, and never rejects.
 *
 * `quit()` alone is not enough. While Redis is down, ioredis puts QUIT in its offline queue behind any command still
 * waiting for a reconnect (a command that timed out stays there too). With `maxRetriesPerRequest` set, that queue is
 * later flushed with an error: QUIT rejects, and the connection goes on reconnecting forever, keeping the process
 * alive. (Seen as a test file whose process never exited after its Redis was killed; test/queue/redis.test.ts shows it
 * no longer happens.) So QUIT is sent only to a ready connection, and the close waits for its end for at most
 * `quitTimeoutMs`; any connection not ended by then is disconnected, which also cancels a pending reconnect.
 */
export async function closeRedis(conn: Redis, quitTimeoutMs = QUIT_TIMEOUT_MS): Promise<void> {
  if (conn.status === 'end') return;
  if (conn.status === 'ready') {
    const ended = new Promise<void>((resolve) => conn.once('end', resolve));
    conn.quit().catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, quitTimeoutMs)))]);
    clearTimeout(timer);
    if (hasEnded(conn)) return;
  }
  // Not connected, or QUIT unanswered: cancel any reconnect, and drop the socket without waiting for the server's side
  // of the close (a silent server never sends it, and the half-closed socket would keep the process alive).
  conn.disconnect();
  conn.stream?.destroy();
}
