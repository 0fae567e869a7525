/**
 * The Python side of the comparison: Debian's /usr/bin/python3 with python3-numpy and python3-sklearn (installed with
 * apt-get when missing; the pyenv `python3` on PATH is deliberately not used).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
const REFERENCE_DIR = fileURLToPath(new URL('../reference/', import.meta.url));
export const PORT_SCRIPT = join(REFERENCE_DIR, 'ood_feature_cluster_port.py');
export const SKLEARN_SCRIPT = join(REFERENCE_DIR, 'sklearn_kmeans.py');

export interface PythonVersions {
  readonly python: string;
  readonly numpy: string;
  readonly sklearn: string;
}

/** Versions, or the reason they cannot be read (python missing, numpy/sklearn not importable). */
export function pythonVersions(): PythonVersions | { error: string } {
  if (!existsSync(PYTHON)) return { error: `${PYTHON} does not exist` };
  const r = spawnSync(PYTHON, ['-c', 'import sys, numpy, sklearn; print(sys.version.split()[0], numpy.__version__, sklearn.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return { error: (r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').pop()! };
  const [python, numpy, sklearn] = r.stdout.trim().split(/\s+/) as [string, string, string];
  return { python, numpy, sklearn };
}

/** Installs python3 + python3-numpy + python3-sklearn with apt-get if the imports fail. Returns the versions. */
export function ensurePythonDeps(log: (s: string) => void): PythonVersions {
  let v = pythonVersions();
  if ('error' in v) {
    log(`python reference: ${v.error}; installing python3-numpy python3-sklearn with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'python3', 'python3-numpy', 'python3-sklearn'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    v = pythonVersions();
    if ('error' in v) throw new Error(`python reference still unusable after apt-get install: ${v.error}`);
  }
  return v;
}

/** Runs a Python script and parses its JSON stdout; throws with its stderr on failure. */
export function runPythonJson<T>(script: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): T {
  const r = spawnSync(PYTHON, [script, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: opts.timeoutMs ?? 600_000, env: opts.env ?? process.env });
  if (r.status !== 0) throw new Error(`${script} failed (exit ${r.status}${r.signal ? `, ${r.signal}` : ''}): ${r.stderr.trim().slice(-2000)}`);
  return JSON.parse(r.stdout) as T;
}

/** A long-lived Python script answering one JSON line per request line (e.g. sklearn_kmeans.py --serve). */
export interface PythonServer {
  /** Sends one line and resolves with the script's next JSON line. One request at a time. */
  request<T>(line: string): Promise<T>;
  /** Ends its input and waits for it to exit. */
  close(): Promise<void>;
}

/**
 * Starts a script that prints one JSON line once ready and then one per request, so that the caller can alternate its
 * own timed work with the script's (interleaved measurement: both sides see the same machine load).
 */
export async function startPythonServer(script: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<PythonServer> {
  const p = spawn(PYTHON, [script, ...args], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => p.on('close', resolve));
  const lines = createInterface({ input: p.stdout })[Symbol.asyncIterator]();
  const next = async <T>(): Promise<T> => {
    const r = await lines.next();
    if (r.done) throw new Error(`${script} ended early (exit ${await exited}): ${stderr.trim().slice(-2000)}`);
    return JSON.parse(r.value) as T;
  };
  await next();
  return {
    request: <T>(line: string) => {
      p.stdin.write(`${line}\n`);
      return next<T>();
    },
    close: async () => {
      p.stdin.end();
      const code = await exited;
      if (code !== 0) throw new Error(`${script} exited ${code}: ${stderr.trim().slice(-2000)}`);
    },
  };
}
