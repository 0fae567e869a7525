/** Micro-benchmarks with tinybench: per-call latency p50 and min–max of a set of synchronous functions. */
import { Bench } from 'tinybench';
import type { Summary } from './stats.js';

/** Runs each function for ~`timeMs` (at least `iterations` calls) after a warm-up; returns seconds. */
export async function micro(tasks: Record<string, () => unknown>, opts: { timeMs?: number; iterations?: number } = {}): Promise<Record<string, Summary & { p99: number }>> {
  const bench = new Bench({ time: opts.timeMs ?? 300, iterations: opts.iterations ?? 10, warmupIterations: 3, warmupTime: 50 });
  for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn);
  await bench.run();
  const out: Record<string, Summary & { p99: number }> = {};
  for (const t of bench.tasks) {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`micro-benchmark ${t.name}: ${r.state}${'error' in r ? ` (${String((r as { error: unknown }).error)})` : ''}`);
    const l = r.latency;
    out[t.name] = { median: l.p50 / 1000, min: l.min / 1000, max: l.max / 1000, p99: l.p99 / 1000, n: l.samplesCount };
  }
  return out;
}
