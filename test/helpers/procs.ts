/** Child processes for end-to-end tests: free loopback ports, waiting for readiness, and stopping by pid. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { REPO } from './paths.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  readonly proc: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves when the output matches, rejects on exit or timeout (with the output for diagnosis). */
  waitFor(pattern: RegExp, timeoutMs: number): Promise<void>;
  /** Resolves with the exit code/signal. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends a signal to the child (its own process group when spawned detached). */
  kill(signal?: NodeJS.Signals): void;
}

/**
 * Children still running, by pid. Each runs in its own process group (spawned detached, so a test can signal the group),
 * which also keeps a Ctrl-C or a CI cancel from reaching it: if the test process dies before its `after` hooks, its
 * children are killed here instead of running on against the shared Redis.
 */
const live = new Set<number>();
function killLive(): void {
  for (const pid of live) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}
process.on('exit', killLive);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killLive();
    process.kill(process.pid, signal); // then die of the signal as before (this listener is gone)
  });
}

/** `stdin: true` gives the child a pipe to read (`child.proc.stdin`) instead of no input. */
export function startChild(cmd: string, args: string[], opts: SpawnOptions & { name: string; stdin?: boolean }): Child {
  const { stdin, ...spawnOpts } = opts;
  const proc = spawn(cmd, args, { ...spawnOpts, stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], detached: true });
  if (proc.pid !== undefined) live.add(proc.pid);
  proc.on('exit', () => {
    if (proc.pid !== undefined) live.delete(proc.pid);
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (b: Buffer): void => {
    out += b.toString();
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
    for (const l of listeners) l();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let exitedFlag = false;
  void exit.then(() => {
    exitedFlag = true;
    for (const l of listeners) l();
  });
  return {
    proc,
    output: () => out,
    exited: () => exit,
    waitFor(pattern, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(out)) {
            cleanup();
            resolve();
          } else if (exitedFlag) {
            cleanup();
            reject(new Error(`${opts.name} exited before ${pattern}:\n${out.slice(-4000)}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`${opts.name}: timed out after ${timeoutMs} ms waiting for ${pattern}:\n${out.slice(-4000)}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    kill(signal = 'SIGTERM') {
      if (exitedFlag || proc.pid === undefined) return;
      try {
        process.kill(-proc.pid, signal); // the child's own process group (spawned detached)
      } catch {
        // already gone
      }
    },
  };
}

/** Stops a child: SIGTERM to its group, SIGKILL after `graceMs`. */
export async function stopChild(c: Child | undefined, graceMs = 10_000): Promise<void> {
  if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.kill('SIGTERM');
  const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await c.exited();
  clearTimeout(t);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What `p` gives, or 'timeout' if it has not settled after `ms`; the timer is cleared either way, so it never holds the process. */
export async function orTimeout<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `fn` until it returns a value other than undefined. */
export async function until<T>(fn: () => Promise<T | undefined>, timeoutMs: number, what: string, intervalMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** How a child started by `exitsByItself` ended: its exit code, or 'timeout' if it was still running; and its stdout and stderr. */
export interface ExitByItself {
  readonly code: number | null | 'timeout';
  readonly output: string;
}

/**
 * Runs `setup`, then (once `between` has run in this process: a Redis killed, say) `then`, as one ES module under tsx
 * from the repository root, in a process that never calls exit: whether it exits within `ms` shows whether what `then`
 * closed still held it. The child is killed afterwards either way. `then` ending prints `done` on stdout.
 */
export async function exitsByItself(setup: string, between: () => Promise<void>, then: string, ms: number): Promise<ExitByItself> {
  const script = `${setup}
    process.stdout.write('ready\\n');
    await new Promise((r) => process.stdin.once('data', r));
    process.stdin.destroy();
    ${then}
    process.stdout.write('done\\n');`;
  const child = startChild(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO, name: 'exits-by-itself', stdin: true });
  try {
    await child.waitFor(/ready/, 60_000);
    await between();
    child.proc.stdin!.write('go\n');
    const exit = await orTimeout(child.exited(), ms);
    return { code: exit === 'timeout' ? exit : exit.code, output: child.output() };
  } finally {
    child.kill('SIGKILL');
  }
}
