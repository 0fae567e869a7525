/**
 * The npm package as a library user gets it: what the package root exports (the README's "Library" section), and what
 * the tarball holds (`npm pack --dry-run`, lifecycle scripts off): the runtime (dist/src, bin, the demo's model and
 * data), not the repository's tests, benchmarks or deployment files.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as lib from '../../src/index.js';
import { REPO, SEED } from '../helpers/paths.js';

describe('the imagedrift package', () => {
  it('exports the documented API from its root', () => {
    const functions = [
      'OodDetectorFeatureCluster', 'loadData', 'loadLabels', 'decodeBytes', 'fitDetector', 'calibrateDetector', 'calibrateLabelFree', 'predictData',
      'scoreData', 'driftCheck', 'exactThreshold', 'gridThreshold', 'conformalThreshold', 'conformalPValues', 'applyThreshold', 'detectionMetrics',
      'binomialDrift', 'ksDrift', 'mmdDrift', 'createDetector', 'restoreDetector', 'DetectorRepository', 'LocalDirStore', 'InputError', 'ModelError',
      'NotFittedError', 'StorageError', 'fitOffThread',
    ] as const;
    for (const name of functions) assert.equal(typeof (lib as Record<string, unknown>)[name], 'function', name);
    assert.deepEqual([...lib.DETECTOR_KINDS].sort(), ['energy', 'ensemble', 'feature-cluster', 'knn', 'mahalanobis', 'msp']);
    assert.equal(lib.RECOMMENDED_ENSEMBLE.kind, 'ensemble');
  });

  it('from plain JavaScript (node --input-type=module -e, with memory and stack options), the built package fits in a worker thread with fitOffThread and refuses the outdated offThread', () => {
    // What a JavaScript user gets: dist/src (not the TypeScript sources), run by Node without tsx, so the thread
    // script must be found beside the compiled module.
    const script = `
      import { readFileSync } from 'node:fs';
      import { fitDetector, fitOffThread, loadData } from ${JSON.stringify(join(REPO, 'dist/src/index.js'))};
      const model = new Uint8Array(readFileSync(${JSON.stringify(join(REPO, 'models/lenet5.onnx'))}));
      const data = await loadData(${JSON.stringify(join(SEED, 'concept_test_lenet1.npy'))});
      const req = { model, modelKey: 'model.onnx', data, layer: 'output', nCluster: 5, seed: 0 };
      const here = await fitDetector(req);
      const there = await fitDetector({ ...req, fitter: fitOffThread });
      let refused;
      try { await fitDetector({ ...req, offThread: true }); } catch (e) { refused = { name: e.name, field: e.field, detail: e.detail }; }
      console.log(JSON.stringify({ same: here.fitId === there.fitId, refused }));
      process.exit(0);`;
    // With Node options a worker accepts only when it inherits them (an explicit execArgv with them is refused).
    const out = execFileSync(process.execPath, ['--max-old-space-size=1024', '--stack-size=2000', '--input-type=module', '-e', script], { cwd: REPO, encoding: 'utf8' });
    const res = JSON.parse(out.trim().split('\n').pop()!) as { same: boolean; refused?: { name: string; field: string; detail: string } };
    assert.equal(res.same, true, 'the off-thread fit is the same fit');
    assert.equal(res.refused?.name, 'InputError');
    assert.equal(res.refused?.field, 'offThread');
    assert.match(res.refused!.detail, /is not an option of fitDetector .*pass fitter: fitOffThread/);
  });

  it("a fit thread whose script fails to load reports that error, under any --unhandled-rejections mode the thread inherits", () => {
    // A copy of the built package with a fit-thread.js that throws as it loads (the repository's dist is not touched).
    const dir = mkdtempSync(join(tmpdir(), 'imagedrift-thread-'));
    try {
      cpSync(join(REPO, 'dist/src'), join(dir, 'dist/src'), { recursive: true });
      symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
      writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
      writeFileSync(join(dir, 'dist/src/service/fit-thread.js'), "throw new RangeError('thread script broke at load');\n");
      const script = `
        import { fitOffThread } from ${JSON.stringify(join(dir, 'dist/src/index.js'))};
        try { await fitOffThread({ kind: 'feature-cluster', nCluster: 2, seed: 0 }, { data: new Float32Array(40), rows: 10, cols: 4 }, {}); console.log('fitted'); }
        catch (e) { console.log(JSON.stringify({ name: e.name, message: e.message })); }`;
      for (const mode of ['throw', 'warn', 'none']) {
        const out = execFileSync(process.execPath, [`--unhandled-rejections=${mode}`, '--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        const res = JSON.parse(out.trim().split('\n').pop()!) as { name: string; message: string };
        assert.equal(res.name, 'RangeError', `${mode}: ${out}`);
        assert.match(res.message, /thread script broke at load/, mode);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("packs the runtime (the library, and the CLI bundle bin/imagedrift.js loads) and nothing of the repository around it", () => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'silent' } });
    const files = (JSON.parse(out) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const needed of ['package.json', 'README.md', 'bin/imagedrift.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/cli.cjs', 'dist/src/cli/compile-cache.js', 'dist/kmeans-thread.js', 'models/lenet5.onnx', 'data/seed-demo.npz']) {
      assert.ok(files.includes(needed), `${needed} is in the tarball`);
    }
    const stray = files.filter((f) => /^(test|benchmarks|scripts|handlers|infra|docs|\.ci)\//.test(f) || /^dist\/(handlers|infra|test)\//.test(f) || /^(serverless\.yml|tsconfig.*\.json)$/.test(f));
    assert.deepEqual(stray, []);
  });

  it("the CLI bundle carries zod's English messages only (the other locales were 360 KB parsed at every start)", () => {
    const cli = readFileSync(join(REPO, 'dist/cli.cjs'), 'utf8');
    assert.ok(cli.includes('Invalid input'), 'English messages are in');
    // esbuild writes ASCII: ü and é as \\xFC and \\xE9. Both phrases are in zod's own locale files, so a bundle with the
    // locales would hold them.
    for (const [locale, phrase, escaped] of [['de', 'Ungültige Eingabe', 'Ung\\xFCltige Eingabe'], ['fr', 'Entrée invalide', 'Entr\\xE9e invalide']] as const) {
      assert.ok(readFileSync(join(REPO, `node_modules/zod/v4/locales/${locale}.js`), 'utf8').includes(phrase), `zod's ${locale} locale says ${phrase}`);
      assert.ok(!cli.includes(escaped), `the ${locale} locale is left out`);
    }
  });

  it("the CLI bundle is pure ASCII, has no import() of a package, requires onnxruntime-node and answers protobufjs's optional long itself (what every CLI process reads and loads at start)", () => {
    const cli = readFileSync(join(REPO, 'dist/cli.cjs'));
    // One non-ASCII byte (a comment's ×) and Node decodes the whole file into a two-byte string for V8 to scan.
    const at = cli.findIndex((b) => b > 0x7f);
    assert.equal(at, -1, `non-ASCII byte at ${at}: ${cli.subarray(Math.max(0, at - 40), at + 40).toString()}`);
    const text = cli.toString('latin1');
    // No import() of a package at all: the launcher runs the bundle as a vm.Script, which has no loader for one (and
    // an ES import of onnxruntime-node, a CommonJS package, would have Node scan its files for export names).
    assert.deepEqual(text.match(/\bimport\(\s*["'][^"']*["']\s*\)/g), null);
    assert.ok(/require\(["']onnxruntime-node["']\)/.test(text), 'onnxruntime-node is loaded with require');
    // protobufjs's optional `long` comes from the bundle, not a second time from node_modules through Node's CommonJS loader.
    const cached = execFileSync(process.execPath, ['-e', `require(${JSON.stringify(join(REPO, 'dist/cli.cjs'))}); console.log(JSON.stringify(Object.keys(require.cache)));`], { encoding: 'utf8' });
    assert.deepEqual((JSON.parse(cached) as string[]).filter((k) => /[\\/]node_modules[\\/]long[\\/]/.test(k)), []);
  });

  it("its declarations type-check in a strict consumer without skipLibCheck (no onnx-proto types leak)", () => {
    // Under node_modules so that the consumer resolves @types/node as an installed project would.
    const dir = join(REPO, 'node_modules', '.cache', 'imagedrift-consumer');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(
        join(dir, 'use.ts'),
        [
          `import { OodDetectorFeatureCluster, loadData, conformalThreshold, createDetector, type DetectorSpec } from '${join(REPO, 'dist/src/index.js')}';`,
          `const spec: DetectorSpec = { kind: 'knn', k: 5 };`,
          `export async function run(model: Uint8Array): Promise<number[]> {`,
          `  const det = new OodDetectorFeatureCluster(model, await loadData('train.npy'), 10, 'output[:Tensor]');`,
          `  const t = await det.getOptimalThreshold([0, 1], await loadData('eval.npy'));`,
          `  void createDetector(spec); void conformalThreshold([1, 2, 3], 0.5);`,
          `  return det.oodPredict(t, await loadData('test.npy'));`,
          `}`,
        ].join('\n'),
      );
      const tsconfig = { compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', types: ['node'], skipLibCheck: false, noEmit: true }, files: ['use.ts'] };
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
      execFileSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      assert.fail(`consumer type-check failed: ${(e as { stdout?: string }).stdout ?? String(e)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
