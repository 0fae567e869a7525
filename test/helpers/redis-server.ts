/**
 * A private `redis-server` child process for fault-injection tests (test/faults/): loopback only, a free port, its own
 * data directory, and the ability to kill it and start it again on the same port over the same directory. The
 * machine's shared Redis (test/helpers/redis.ts) must never be restarted by a test; this one can be.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startChild, stopChild, type Child } from './procs.js';

export interface RedisServerOptions {
  /** `--appendonly yes --appendfsync always`: every acknowledged write is on disk before the reply (default true). */
  readonly appendonly?: boolean;
  /** More `redis-server` arguments, e.g. `['--replicaof', '127.0.0.1', '6390']`. */
  readonly args?: readonly string[];
}

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** Whether the process is running. */
  running(): boolean;
  /** Kills the server (SIGKILL: no chance to save; SIGTERM: Redis's own orderly shutdown) and waits for the exit. */
  kill(signal?: 'SIGKILL' | 'SIGTERM'): Promise<void>;
  /** Starts it again on the same port and directory; resolves once it accepts connections (AOF loaded). */
  start(): Promise<void>;
  /** SIGSTOP: the server keeps its connections open but answers nothing (a partition without a reset). */
  suspend(): void;
  /** SIGCONT after `suspend`. */
  resume(): void;
  /** Kills the server if running and removes its directory. Idempotent; safe in `after` even when start failed. */
  stop(): Promise<void>;
}

export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const appendonly = opts.appendonly ?? true;
  const dir = await mkdtemp(join(tmpdir(), 'imagedrift-redis-'));
  const port = await freePort();
  const args = [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', appendonly ? 'yes' : 'no',
    ...(appendonly ? ['--appendfsync', 'always'] : []),
    '--daemonize', 'no',
    '--protected-mode', 'yes',
    '--loglevel', 'notice',
    ...(opts.args ?? []),
  ];
  let child: Child | undefined;
  let generation = 0;
  const start = async (): Promise<void> => {
    if (child && child.proc.exitCode === null && child.proc.signalCode === null) throw new Error(`redis-server on ${port} is already running`);
    generation++;
    child = startChild('redis-server', args, { name: `redis-server:${port}#${generation}` });
    await child.waitFor(/Ready to accept connections/, 30_000);
  };
  const kill = async (signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> => {
    const c = child;
    if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await c.exited();
    clearTimeout(t);
  };
  let stopping: Promise<void> | undefined;
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    running: () => child !== undefined && child.proc.exitCode === null && child.proc.signalCode === null,
    kill,
    start,
    suspend: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    stop() {
      stopping ??= (async () => {
        child?.kill('SIGCONT'); // a suspended server would hold SIGTERM until its grace ran out
        await stopChild(child, 5_000);
        await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
  try {
    await start();
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}
