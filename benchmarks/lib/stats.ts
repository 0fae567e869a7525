/** Summary statistics and formatting for the benchmark report. */

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarise(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  return { median: quantile(s, 0.5), min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, n: s.length };
}

/** Lower and upper quartiles (the interquartile range), interpolated as the median is. */
export function quartiles(samples: readonly number[]): { q1: number; q3: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { q1: quantile(s, 0.25), q3: quantile(s, 0.75) };
}

/** Times `fn` `runs` times (after `warmup` untimed calls); returns seconds per run. */
export async function timeRuns(runs: number, fn: () => unknown, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    out.push((performance.now() - t0) / 1000);
  }
  return out;
}

/** Seconds with a sensible unit: "12.3 ms", "1.23 s", "45 µs". */
export function fmtTime(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'n/a';
  if (seconds >= 1) return `${seconds.toFixed(2)} s`;
  if (seconds >= 1e-3) return `${(seconds * 1e3).toPrecision(3)} ms`;
  return `${(seconds * 1e6).toPrecision(3)} µs`;
}

/** "median (min–max)" of a time summary. */
export function fmtSummary(s: Summary): string {
  return `${fmtTime(s.median)} (${fmtTime(s.min)}–${fmtTime(s.max)})`;
}

export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return 'n/a';
  if (r >= 100) return `${Math.round(r).toLocaleString('en-US')}×`;
  return `${r.toPrecision(3)}×`;
}

export function fmtNum(n: number, digits = 3): string {
  if (!Number.isFinite(n)) return 'n/a';
  return Math.abs(n) >= 1000 ? Math.round(n).toLocaleString('en-US') : n.toPrecision(digits);
}

/** Least-squares slope of y on x (0 when every x is the same). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den > 0 ? num / den : 0;
}

/** Least-squares slope of log(y) on log(x): 1 = linear growth. */
export function logLogSlope(xs: readonly number[], ys: readonly number[]): number {
  return slope(xs.map(Math.log), ys.map(Math.log));
}
