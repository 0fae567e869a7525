/**
 * The fuzzing campaign (`npm run fuzz`): the targets of `test/hardening/fuzz-targets.ts`, many more runs than the
 * property test. Each target runs in its own child process, so that a hang (no progress for FUZZ_HANG_SECONDS) or
 * an unbounded allocation (child RSS above FUZZ_MAX_RSS_MB) is caught, killed and reported with the input that caused
 * it, instead of taking the campaign down.
 *
 * Environment:
 *   FUZZ_SECONDS      time budget per target (default 35; 11 targets ≈ 6–7 minutes)
 *   FUZZ_RUNS         most runs per target (default 1000000, so the time budget decides)
 *   FUZZ_SEED         base seed (default: from the clock, printed so that a run can be repeated)
 *   FUZZ_TARGETS      comma-separated subset of target names
 *   FUZZ_HANG_SECONDS no progress for this long is a hang (default 60; a child gets 180 s to start)
 *   FUZZ_MAX_RSS_MB   child RSS above this is an unbounded allocation (default 2048)
 *
 * Prints one line per target (runs, successes, typed errors by class, failures) and exits 1 on any untyped error,
 * slow call, hang or crash.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { classify, describeInput, fuzzCases, FUZZ_TARGETS, loadSeeds, materialize, type FuzzCase } from '../test/hardening/fuzz-targets.js';

/** One call slower than this is reported as a failure. */
const CALL_MS = 5000;

interface Progress {
  readonly type: 'progress';
  readonly runs: number;
}

/** How long a child may take to load its modules and seeds before its first progress message. */
const STARTUP_MS = 180_000;

interface Result {
  readonly type: 'result';
  readonly target: string;
  readonly runs: number;
  readonly ok: number;
  readonly typed: Record<string, number>;
  readonly failures: number;
  readonly slowestMs: number;
  readonly failure?: string;
}

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    process.stderr.write(`fuzz: ${name} must be a positive integer, got ${JSON.stringify(v)}\n`);
    process.exit(2);
  }
  return n;
}

/** JSON for a case (Uint8Arrays as hex), written before each call so that a hang can be reported. */
function caseJson(c: FuzzCase): string {
  return JSON.stringify(c, (_k, v: unknown) => (v instanceof Uint8Array ? { hex: Buffer.from(v).toString('hex') } : v));
}

// ---------------------------------------------------------------------------------------------------------------
// child: runs one target

async function child(targetName: string, seed: number, runs: number, seconds: number, caseFile: string): Promise<void> {
  const target = FUZZ_TARGETS.find((t) => t.name === targetName)!;
  const seeds = await loadSeeds();
  for (const b of target.seeds(seeds)) await classify(target, b, target.names?.[0] ?? 'input'); // warm-up (lazy imports)
  let count = 0;
  let ok = 0;
  let failures = 0;
  let slowestMs = 0;
  const typed: Record<string, number> = {};
  // Standalone (`--child` by hand, for debugging) there is no IPC channel: print instead.
  const send = (m: Progress | Result): Promise<void> =>
    new Promise((resolve) => (process.send ? process.send(m, () => resolve()) : (m.type === 'result' && console.log(m), resolve())));
  await send({ type: 'progress', runs: 0 });
  let lastProgress = Date.now();
  let failing = false; // once a failure is found, fast-check shrinks it: those calls are not counted
  const details = await fc.check(
    fc.asyncProperty(fuzzCases(), async (c) => {
      // Synchronous decoders settle their promises as microtasks, which would starve timers and IPC: report progress
      // and yield to the event loop from here. A call that never returns stops these messages, which is the hang signal.
      if (Date.now() - lastProgress > 250) {
        lastProgress = Date.now();
        await send({ type: 'progress', runs: count });
      }
      const { bytes, name } = materialize(target, seeds, c);
      writeFileSync(caseFile, caseJson(c));
      const out = await classify(target, bytes, name);
      if (!failing) {
        count++;
        slowestMs = Math.max(slowestMs, out.ms);
        if (out.kind === 'ok') ok++;
        else if (out.kind === 'typed') typed[out.error.constructor.name] = (typed[out.error.constructor.name] ?? 0) + 1;
        if (out.kind === 'failure' || out.ms > CALL_MS) { failures++; failing = true; }
      }
      if (out.kind === 'failure') {
        const e = out.error;
        throw new Error(`untyped ${e instanceof Error ? `${e.constructor.name}: ${e.message}\n${e.stack ?? ''}` : String(e)}\n  input ${describeInput(bytes, name)}`);
      }
      if (out.ms > CALL_MS) throw new Error(`slow: ${out.ms.toFixed(0)} ms on ${describeInput(bytes, name)}`);
    }),
    { seed, numRuns: runs, plugins: [fc.timeout(CALL_MS), fc.interruptAfterTimeLimit(seconds * 1000)] },
  );
  const failure = details.failed
    ? `${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}\n  replay: FUZZ_SEED=${seed} path ${details.counterexamplePath}\n  case ${details.counterexample ? caseJson((details.counterexample as unknown as [FuzzCase])[0]) : '?'}`
    : undefined;
  await send({ type: 'result', target: targetName, runs: count, ok, typed, failures, slowestMs, ...(failure ? { failure } : {}) });
}

// ---------------------------------------------------------------------------------------------------------------
// parent: one child per target, with a hang and memory watchdog

function rssMb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

async function runTarget(name: string, seed: number, runs: number, seconds: number, dir: string): Promise<Result> {
  const hangMs = envInt('FUZZ_HANG_SECONDS', 60) * 1000;
  const maxRss = envInt('FUZZ_MAX_RSS_MB', 2048);
  const caseFile = join(dir, `${name}.case.json`);
  const proc = fork(fileURLToPath(import.meta.url), ['--child', name, String(seed), String(runs), String(seconds), caseFile], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve) => {
    let last = Date.now();
    let started = false;
    let runsSoFar = 0;
    let result: Result | undefined;
    let killedFor: string | undefined;
    const watchdog = setInterval(() => {
      const rss = rssMb(proc.pid!);
      if (rss > maxRss) killedFor = `unbounded allocation: child RSS ${rss.toFixed(0)} MB > ${maxRss} MB`;
      else if (started && Date.now() - last > hangMs) killedFor = `hang: no progress for ${hangMs / 1000} s`;
      else if (!started && Date.now() - last > STARTUP_MS) killedFor = `did not start within ${STARTUP_MS / 1000} s`;
      if (killedFor) proc.kill('SIGKILL');
    }, 500);
    proc.on('message', (m: Progress | Result) => {
      last = Date.now();
      started = true;
      if (m.type === 'progress') runsSoFar = m.runs;
      else result = m;
    });
    proc.on('exit', (code, signal) => {
      clearInterval(watchdog);
      if (result) return resolve(result);
      let input = '(unknown)';
      try { input = readFileSync(caseFile, 'utf8'); } catch { /* no case written yet */ }
      const why = killedFor ?? `child exited with ${signal ?? `code ${code}`} (crash)`;
      resolve({ type: 'result', target: name, runs: runsSoFar, ok: 0, typed: {}, failures: 1, slowestMs: 0, failure: `${why}\n  last case ${input}` });
    });
  });
}

async function main(): Promise<void> {
  const seconds = envInt('FUZZ_SECONDS', 35);
  const runs = envInt('FUZZ_RUNS', 1_000_000);
  const seed = envInt('FUZZ_SEED', Date.now() % 2 ** 31);
  const only = process.env.FUZZ_TARGETS?.split(',').map((s) => s.trim()).filter(Boolean);
  const targets = FUZZ_TARGETS.filter((t) => !only || only.includes(t.name));
  if (only && targets.length !== only.length) {
    process.stderr.write(`fuzz: unknown target in FUZZ_TARGETS; known: ${FUZZ_TARGETS.map((t) => t.name).join(', ')}\n`);
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), 'imagedrift-fuzz-'));
  const started = Date.now();
  console.log(`fuzz: ${targets.length} targets, ${seconds} s and at most ${runs} runs each, seed ${seed}`);
  console.log('target        runs   success  typed errors                         failures  slowest');
  const results: Result[] = [];
  for (const [i, t] of targets.entries()) {
    const r = await runTarget(t.name, seed + i, runs, seconds, dir);
    results.push(r);
    const typed = Object.values(r.typed).reduce((a, b) => a + b, 0);
    const byClass = Object.entries(r.typed).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(`${r.target.padEnd(12)} ${String(r.runs).padStart(6)}  ${String(r.ok).padStart(7)}  ${`${typed} (${byClass || '-'})`.padEnd(36)} ${String(r.failures).padStart(8)}  ${r.slowestMs.toFixed(0).padStart(5)} ms`);
    if (r.failure) console.log(`  FAILURE in ${r.target}: ${r.failure}`);
  }
  const total = (k: 'runs' | 'ok' | 'failures'): number => results.reduce((a, r) => a + r[k], 0);
  const typedTotal = results.reduce((a, r) => a + Object.values(r.typed).reduce((x, y) => x + y, 0), 0);
  console.log(`total        ${String(total('runs')).padStart(6)}  ${String(total('ok')).padStart(7)}  ${String(typedTotal).padEnd(36)} ${String(total('failures')).padStart(8)}   in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.exit(total('failures') > 0 ? 1 : 0);
}

if (process.argv[2] === '--child') {
  const [, , , name, seed, runs, seconds, caseFile] = process.argv;
  await child(name!, Number(seed), Number(runs), Number(seconds), caseFile!);
  process.exit(0);
} else {
  await main();
}
