/**
 * `npm run bench -- --only …` replaces the sections it measured and carries the others over from the previous
 * BENCHMARKS.md, marked with the date they were measured (benchmarks/lib/report.ts `carriedOver`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { carriedOver, LOAD_BEGIN, writtenOn } from '../../benchmarks/lib/report.js';
import { REPO } from '../helpers/paths.js';

const previous = [
  '# Benchmarks',
  '',
  'Written by `npm run bench` (benchmarks/run.ts) for issue 5 on 2026-11-20; the whole run took 6.0 min.',
  '',
  '## Goals',
  '',
  '| § | goal | status | measured |',
  '|---|---|---|---|',
  '| 1 | Same output | **met** | max |Δscore| 3e-8 |',
  '| 1 | One-time fit within 2× | **not met** | 2.10× |',
  '| 2 | Pipeline ≥ 0.85 | **not met** | 0.677 *(earlier run, 2026-11-18)* |',
  '| 4 | p50 | not measured | s3rver did not start |',
  '',
  '## 1. Reference',
  '',
  'ref body',
  '',
  '## 2. ORT',
  '',
  '*Not re-measured by the last run (`--only`): measured on 2026-11-18.*',
  '',
  'ort body',
  '',
  '#### a subheading inside the section',
  '',
  '## 3. Fit',
  '',
  'fit body',
  '',
  LOAD_BEGIN,
  '## Load',
  'load body',
].join('\n');

describe('carriedOver (bench --only)', () => {
  it('keeps the sections not re-run, marked once with the date they were measured, up to the next section or marker', () => {
    const { sections } = carriedOver(previous, ['2. ORT', '3. Fit', '9. Missing'], new Set());
    assert.deepEqual(sections.map((s) => s.title), ['2. ORT', '3. Fit']);
    assert.equal(sections[0]!.markdown, '*Not re-measured by the last run (`--only`): measured on 2026-11-18.*\n\nort body\n\n#### a subheading inside the section');
    assert.equal(sections[1]!.markdown, '*Not re-measured by the last run (`--only`): measured on 2026-11-20.*\n\nfit body');
  });

  it('keeps the goal rows this run did not report, with status and measured value intact, marked once', () => {
    const { goals } = carriedOver(previous, [], new Set(['One-time fit within 2×']));
    assert.deepEqual(goals, [
      { section: '1', goal: 'Same output', met: true, measured: 'max |Δscore| 3e-8 *(earlier run, 2026-11-20)*' },
      { section: '2', goal: 'Pipeline ≥ 0.85', met: false, measured: '0.677 *(earlier run, 2026-11-18)*' },
      { section: '4', goal: 'p50', met: null, measured: 's3rver did not start *(earlier run, 2026-11-20)*' },
    ]);
  });

  it('carries nothing over from an empty or absent previous file', () => {
    assert.deepEqual(carriedOver('', ['2. ORT'], new Set()), { sections: [], goals: [] });
  });

  it('parses the committed BENCHMARKS.md: every section and goal row is found', () => {
    const real = readFileSync(join(REPO, 'BENCHMARKS.md'), 'utf8');
    assert.match(writtenOn(real) ?? '', /^\d{4}-\d{2}-\d{2}$/);
    const titles = [...real.matchAll(/^## (\d\. .*)$/gm)].map((m) => m[1]!);
    assert.ok(titles.length >= 6, `sections found: ${titles.join('; ')}`);
    const { sections, goals } = carriedOver(real, titles, new Set());
    assert.deepEqual(sections.map((s) => s.title), titles);
    for (const s of sections) assert.ok(!s.markdown.includes(LOAD_BEGIN) && !/^## /m.test(s.markdown), s.title);
    const rows = real.slice(real.indexOf('## Goals'), real.indexOf('## 1.')).split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| § |'));
    assert.equal(goals.length, rows.length);
    assert.ok(goals.every((g) => g.met !== null || g.measured.length > 0));
  });
});
