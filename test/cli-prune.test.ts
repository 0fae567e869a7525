/**
 * `imagedrift prune <detector-dir>`: the retention policy's version rules over a CLI detector directory (the sweep of
 * src/service/retention.ts over a LocalDirStore), and the CLI's error rules. Versions are aged by setting their files'
 * modification times back (the CLI reads the real clock; nothing waits).
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliInProcess as cli } from './helpers/cli.js';
import { REPO, SEED } from './helpers/paths.js';

const MODEL = join(REPO, 'models/lenet5.onnx');
const EVAL = join(SEED, 'concept_test_lenet1.npy');
const DAY = 86_400_000;

let dir: string;
let det: string;

/** Every file of the detector directory `days` old. */
function age(d: string, days: number): void {
  const t = new Date(Date.now() - days * DAY);
  const walk = (p: string) => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(p, e.name));
      else utimesSync(join(p, e.name), t, t);
    }
  };
  walk(d);
}
const versions = (d: string) => readdirSync(d).filter((n) => /^v\d+$/.test(n)).map((n) => Number(n.slice(1))).sort((a, b) => a - b);
const current = (d: string) => (JSON.parse(readFileSync(join(d, 'current.json'), 'utf8')) as { version: number }).version;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'imagedrift-prune-'));
  writeFileSync(join(dir, 'labels.json'), JSON.stringify(Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1))));
  det = join(dir, 'det');
  const fit = await cli('fit', '--model', MODEL, '--train', EVAL, '--layer', 'output', '--n-cluster', '5', '--seed', '0', '--out', det);
  assert.equal(fit.code, 0, fit.err.join('\n'));
  for (let i = 0; i < 5; i++) {
    const cal = await cli('calibrate', det, '--eval', EVAL, '--ood-labels', join(dir, 'labels.json'));
    assert.equal(cal.code, 0, cal.err.join('\n'));
  }
  assert.deepEqual(versions(det), [1, 2, 3, 4, 5, 6]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('imagedrift prune', () => {
  it('young versions are never pruned (default --min-age 7 days)', async () => {
    const r = await cli('prune', det, '--keep-versions', '1', '--json');
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(JSON.parse(r.out[0]!), { detector: det, dryRun: false, current: 6, versions: [], crashedSaves: [], files: 0, bytes: 0, keepVersions: 1, minAgeDays: 7 });
    assert.deepEqual(versions(det), [1, 2, 3, 4, 5, 6]);
  });

  it('old versions: --dry-run lists them and deletes nothing; then they go, never the current one, one above it, or the kept ones', async () => {
    // v7: a save that never moved the pointer (above the current v6); v0-less crashed save at v3 (arrays, no manifest).
    cpSync(join(det, 'v6'), join(det, 'v7'), { recursive: true });
    rmSync(join(det, 'v3', 'manifest.json'));
    age(det, 30);
    const dry = await cli('prune', det, '--keep-versions', '2', '--dry-run', '--json');
    assert.equal(dry.code, 0, dry.err.join('\n'));
    const planned = JSON.parse(dry.out[0]!);
    assert.deepEqual([planned.dryRun, planned.current, planned.versions, planned.crashedSaves], [true, 6, [1, 2], [3]]);
    assert.ok(planned.files >= 5 && planned.bytes > 0, JSON.stringify(planned));
    assert.deepEqual(versions(det), [1, 2, 3, 4, 5, 6, 7], 'a dry run deletes nothing');

    const text = await cli('prune', det, '--keep-versions', '2', '--min-age', '29.5');
    assert.equal(text.code, 0, text.err.join('\n'));
    assert.match(text.out[0]!, new RegExp(`^pruned ${det} \\(current v6\\): versions v1, v2; unfinished saves v3; ${planned.files} files, ${planned.bytes} bytes`));
    assert.deepEqual(versions(det), [4, 5, 6, 7]);
    assert.deepEqual([existsSync(join(det, 'model.onnx')), current(det)], [true, 6]);
    // The detector still works, and a new save takes a number above every one the directory holds.
    const pred = await cli('predict', det, '--data', EVAL, '--json');
    assert.equal(pred.code, 0, pred.err.join('\n'));
    assert.equal(JSON.parse(pred.out[0]!).detectorVersion, 6);
    const cal = await cli('calibrate', det, '--eval', EVAL, '--ood-labels', join(dir, 'labels.json'), '--json');
    assert.equal(JSON.parse(cal.out[0]!).version, 8);
  });

  it('--min-age longer than the versions\' age keeps them', async () => {
    const r = await cli('prune', det, '--keep-versions', '1', '--min-age', '31', '--json');
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(JSON.parse(r.out[0]!).versions, []);
  });

  it('bad input: exit 2 and one line naming the argument; a damaged pointer: exit 1', async () => {
    const bad = async (args: string[], line: RegExp, code = 2) => {
      const r = await cli('prune', ...args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.err.join('\n')}`);
      assert.deepEqual(r.out, []);
      assert.equal(r.err.length, 1, r.err.join('\n'));
      assert.match(r.err[0]!, line);
    };
    await bad([det, '--keep-versions', '0'], /^imagedrift: error: --keep-versions: must be >= 1/);
    await bad([det, '--keep-versions', '2.5'], /^imagedrift: error: --keep-versions: must be an integer/);
    await bad([det, '--min-age', '0.5'], /^imagedrift: error: --min-age: must be >= 1 \(days\)/);
    await bad([det, '--min-age', 'week'], /^imagedrift: error: --min-age: must be a number/);
    await bad([det, '--keep-versions', '3', '--keep-versions', '4'], /^imagedrift: error: --keep-versions: is given more than once/);
    await bad([det, '--keep'], /^imagedrift: error: arguments: .*--keep/);
    await bad([], /^imagedrift: error: arguments: expected 1 positional argument/);
    await bad([join(dir, 'nothing-here')], /^imagedrift: error: detector: no detector at .*nothing-here \(current\.json is missing\)/);
    const damaged = join(dir, 'damaged');
    cpSync(det, damaged, { recursive: true });
    writeFileSync(join(damaged, 'current.json'), '{"version": "six"');
    await bad([damaged], /^imagedrift: error: current\.json: pointer is not valid JSON/, 1);
    assert.ok(existsSync(join(damaged, 'v4', 'manifest.json')), 'nothing pruned');
  });
});
