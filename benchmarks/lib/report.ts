/** Shared shapes for the benchmark sections and the report. */
import type { Features, FeatureFiles, Workload } from './data.js';
import type { PythonVersions } from './python.js';

export interface Goal {
  readonly section: string;
  readonly goal: string;
  /** null = not measured. */
  readonly met: boolean | null;
  readonly measured: string;
}

export interface SectionResult {
  readonly title: string;
  readonly markdown: string;
  readonly goals: readonly Goal[];
  /** A correctness check of the section failed (e.g. same-output): `npm run bench` exits non-zero. */
  readonly failed?: string;
  readonly data?: unknown;
}

export interface BenchContext {
  readonly dir: string;
  readonly model: Uint8Array;
  readonly runs: number;
  readonly python: PythonVersions;
  readonly log: (s: string) => void;
  readonly a: { readonly w: Workload; readonly f: Features; readonly files: FeatureFiles };
  readonly b: { readonly w: Workload; readonly f: Features; readonly files: FeatureFiles };
  /** Workload b training features of layer `10` (fc2, 84 columns), for the k-means engine comparison. */
  readonly bFc2Train: string;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

export function metText(m: boolean | null): string {
  return m === null ? 'not measured' : m ? '**met**' : '**not met**';
}

/** BENCHMARKS.md markers around the load run's section: written by `npm run load`, kept by `npm run bench`. */
export const LOAD_BEGIN = '<!-- load:begin -->';
export const LOAD_END = '<!-- load:end -->';
/** BENCHMARKS.md markers around the soak section (`npm run soak`'s runs, written up by hand), kept by `npm run bench`. */
export const SOAK_BEGIN = '<!-- soak:begin -->';
export const SOAK_END = '<!-- soak:end -->';

/** The sections of `previous` (BENCHMARKS.md) that `npm run bench` does not measure and keeps: load, then soak. */
export function keptSections(previous: string): string {
  return [[LOAD_BEGIN, LOAD_END], [SOAK_BEGIN, SOAK_END]]
    .map(([b, e]) => {
      const [i, j] = [previous.indexOf(b!), previous.indexOf(e!)];
      return i >= 0 && j > i ? `\n${previous.slice(i, j + e!.length)}\n` : '';
    })
    .join('');
}

/** The date (YYYY-MM-DD) in BENCHMARKS.md's "Written by … on <date>" line, or null. */
export function writtenOn(previous: string): string | null {
  return /^Written by .*? on (\d{4}-\d{2}-\d{2})/m.exec(previous)?.[1] ?? null;
}

const CARRIED = /^\*Not re-measured by the last run[^\n]*\*$/;

/**
 * What a partial run (`--only`) carries over from the previous BENCHMARKS.md, so that it replaces the sections it
 * measured and keeps the rest: the sections titled in `keep` (each marked with the date it was measured, unless it
 * already carries such a mark) and the goal rows whose goal this run did not report (marked likewise). A section or
 * row missing from `previous` is simply absent.
 */
export function carriedOver(previous: string, keep: readonly string[], reported: ReadonlySet<string>): { sections: SectionResult[]; goals: Goal[] } {
  const date = writtenOn(previous) ?? 'an earlier date';
  const lines = previous.split('\n');
  const isBoundary = (l: string) => l.startsWith('## ') || l.startsWith('<!-- ');
  const sections: SectionResult[] = [];
  for (const title of keep) {
    const at = lines.indexOf(`## ${title}`);
    if (at < 0) continue;
    let end = at + 1;
    while (end < lines.length && !isBoundary(lines[end]!)) end++;
    const body = lines.slice(at + 1, end).join('\n').trim();
    const mark = `*Not re-measured by the last run (\`--only\`): measured on ${date}.*`;
    sections.push({ title, markdown: CARRIED.test(body.split('\n')[0]!) ? body : `${mark}\n\n${body}`, goals: [] });
  }
  const goals: Goal[] = [];
  const g = lines.indexOf('## Goals');
  for (let i = g + 1; g >= 0 && i < lines.length && !isBoundary(lines[i]!); i++) {
    const row = lines[i]!;
    if (!row.startsWith('| ') || row.startsWith('| § |')) continue;
    // ' | ' separates cells; a measured value may hold a bare '|' (as in |Δscore|), never one with spaces around it.
    const [section, goal, status, ...measured] = row.slice(2, -2).split(' | ');
    if (section === undefined || goal === undefined || status === undefined || reported.has(goal)) continue;
    const m = measured.join(' | ');
    const met = status === '**met**' ? true : status === '**not met**' ? false : null;
    goals.push({ section, goal, met, measured: / \*\(earlier run, [^)]*\)\*$/.test(m) ? m : `${m} *(earlier run, ${date})*` });
  }
  return { sections, goals };
}
