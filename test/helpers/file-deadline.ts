/**
 * A deadline for each test file's process (loaded with `--import` by scripts/test.sh). Node's test runner has no
 * per-file timeout: a file whose tests have all passed but whose process is kept alive (a connection that reconnects
 * forever, a timer nobody cleared) holds the whole run, and CI, without end. Past the deadline this prints what the
 * process is still waiting on and exits with code 1, so the runner reports that file as failed instead.
 *
 * Active only in the runner's per-file processes (NODE_TEST_CONTEXT), never in the runner itself or in a process a test
 * starts. The timer is unref'd: it never keeps a process alive. TEST_FILE_DEADLINE_S overrides the deadline. The
 * slowest files took about 50 s in two loaded runs here (test/e2e/package.test.ts, test/service/fit-runner.test.ts,
 * test/cli.test.ts), and the whole suite takes 4–14 minutes.
 */
import { isMainThread } from 'node:worker_threads';

const DEFAULT_DEADLINE_S = 900;

export function fileDeadlineSeconds(env: NodeJS.ProcessEnv): number | undefined {
  if (!env.NODE_TEST_CONTEXT) return undefined;
  const raw = env.TEST_FILE_DEADLINE_S;
  if (raw === undefined || raw === '') return DEFAULT_DEADLINE_S;
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new Error(`TEST_FILE_DEADLINE_S must be a positive number of seconds, got ${JSON.stringify(raw)}`);
  return s;
}

// Not in worker threads that inherit `--import` (process.exit there would stop only the thread).
const deadline = isMainThread ? fileDeadlineSeconds(process.env) : undefined;
if (deadline !== undefined) {
  const file = process.argv[1] ?? '(unknown file)';
  setTimeout(() => {
    const counts = new Map<string, number>();
    for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
    const waiting = [...counts].map(([r, n]) => (n > 1 ? `${r} ×${n}` : r)).join(', ');
    // Two pipes (or TTYs) are the process's own stdout and stderr; a Timeout is a timer not yet due (a long race timer
    // a test did not clear holds its file for the timer's whole length).
    process.stderr.write(`test file deadline: ${file} still running after ${deadline} s (TEST_FILE_DEADLINE_S); the process is waiting on: ${waiting} (its own stdout and stderr among them)\n`);
    process.exit(1);
  }, deadline * 1000).unref();
}
