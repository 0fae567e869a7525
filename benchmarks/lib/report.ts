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
