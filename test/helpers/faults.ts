/** Shared pieces of the fault-injection tests (test/faults/): a polling detector reader and worker-log parsing. */
import { isTransientError, NotFoundError } from '../../src/core/errors.js';
import { sleep } from './procs.js';

export interface ReadOutcome {
  readonly at: number;
  /** ok: a whole version was loaded; notFound: no detector yet; transient: storage unreachable; error: anything else. */
  readonly kind: 'ok' | 'notFound' | 'transient' | 'error';
  readonly version?: number;
  readonly error?: string;
}

export interface Reader {
  /** Stops polling and returns every outcome, in order. */
  stop(): Promise<ReadOutcome[]>;
  /** Outcomes so far. */
  readonly outcomes: ReadOutcome[];
}

/**
 * Calls `load` in a loop (every `intervalMs`) until stopped, classifying each call. `load` resolves with the version
 * it read; it must read a whole version (pointer, manifest, every array), so a partial version shows up as 'error'.
 */
export function startReader(load: () => Promise<{ version: number }>, intervalMs = 5): Reader {
  const outcomes: ReadOutcome[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      try {
        outcomes.push({ at, kind: 'ok', version: (await load()).version });
      } catch (e) {
        const kind = e instanceof NotFoundError ? 'notFound' : isTransientError(e) ? 'transient' : 'error';
        outcomes.push({ at, kind, error: `${(e as Error).name}: ${(e as Error).message}` });
      }
      await sleep(intervalMs);
    }
  })();
  return {
    outcomes,
    async stop() {
      stopped = true;
      await loop;
      return outcomes;
    },
  };
}

/** Versions a reader saw, in order, and whether they never went backwards. */
export function versionsSeen(outcomes: readonly ReadOutcome[]): { versions: number[]; monotonic: boolean } {
  const versions = outcomes.filter((o) => o.kind === 'ok').map((o) => o.version!);
  return { versions, monotonic: versions.every((v, i) => i === 0 || v >= versions[i - 1]!) };
}

/** A JSON log line of a worker process (pino). */
export interface WorkerLogLine {
  readonly time: number;
  readonly msg: string;
  readonly jobId?: string;
  readonly attempt?: number;
  readonly [k: string]: unknown;
}

/** The JSON lines of a worker's output (other lines, such as Node warnings, are skipped). */
export function parseLogLines(output: string): WorkerLogLine[] {
  const out: WorkerLogLine[] = [];
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as WorkerLogLine);
    } catch {
      // a partial last line
    }
  }
  return out;
}
