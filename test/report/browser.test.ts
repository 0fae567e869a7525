/**
 * End to end on the seed files: fit (layer 9, 10 clusters) → `imagedrift report` with MNIST as ID and grey CIFAR-10
 * as OOD → the page opened in headless Chromium (Debian package `chromium`) with no console errors, no failed or
 * external requests, both charts and all 32 thumbnails rendered. The screenshot is kept (its path is printed as a
 * test diagnostic; set IMAGEDRIFT_REPORT_SCREENSHOT_DIR to choose the folder).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { cliInProcess } from '../helpers/cli.js';
import { REPO, SEED } from '../helpers/paths.js';

const CHROMIUM = '/usr/bin/chromium';
const MODEL = join(REPO, 'models/lenet5.onnx');
const TRAIN = join(SEED, 'concept_train_lenet.npy');
const TEST = join(SEED, 'concept_test_lenet2.npy');
let dir: string;

const cli = cliInProcess;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'imagedrift-report-e2e-'));
  // concept_test_lenet2: 200 MNIST digits, then 200 grey CIFAR-10 images, 1×32×32 each
  const t = decodeNpy(new Uint8Array(readFileSync(TEST)));
  assert.deepEqual(t.shape, [400, 1, 32, 32]);
  const half = 200 * 32 * 32;
  writeFileSync(join(dir, 'id.npy'), encodeNpy(t.data.subarray(0, half), [200, 1, 32, 32], 'float32'));
  writeFileSync(join(dir, 'ood.npy'), encodeNpy(t.data.subarray(half), [200, 1, 32, 32], 'float32'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('imagedrift report, rendered in headless Chromium', () => {
  it('fit → report --json writes a self-contained index.html', async () => {
    const det = join(dir, 'det');
    const fit = await cli('fit', '--model', MODEL, '--train', TRAIN, '--layer', '9', '--n-cluster', '10', '--seed', '0', '--out', det);
    assert.equal(fit.code, 0, fit.err.join('\n'));
    const r = await cli('report', det, '--id', join(dir, 'id.npy'), '--ood', join(dir, 'ood.npy'), '--out', join(dir, 'report'), '--json');
    assert.equal(r.code, 0, r.err.join('\n'));
    const res = JSON.parse(r.out[0]!);
    assert.equal(res.out, join(dir, 'report', 'index.html'));
    assert.ok(res.auroc > 0.8 && res.auroc <= 1, `auroc ${res.auroc}`);
    assert.equal(res.thresholdSource, 'best-accuracy', 'an uncalibrated detector gets the best-accuracy threshold');
    const html = readFileSync(res.out, 'utf8');
    assert.ok(html.includes('best accuracy on this data (the detector is not calibrated'));
    assert.ok(!html.includes('<script'));

    const plain = await cli('report', det, '--id', join(dir, 'id.npy'), '--ood', join(dir, 'ood.npy'), '--out', join(dir, 'report2'));
    assert.equal(plain.code, 0, plain.err.join('\n'));
    assert.deepEqual(plain.out, [join(dir, 'report2', 'index.html')]);

    const missing = await cli('report', det, '--id', join(dir, 'id.npy'), '--ood', join(dir, 'ood.npy'));
    assert.equal(missing.code, 2);
    assert.deepEqual(missing.err, ['imagedrift: error: --out: is required']);
  });

  it('renders with no console errors, 2+ SVG charts and 32 loaded thumbnails; screenshot saved', async (t) => {
    const page = join(dir, 'report', 'index.html');
    assert.ok(existsSync(page), 'the previous test wrote the report');
    assert.ok(
      existsSync(CHROMIUM),
      `headless Chromium is required at ${CHROMIUM} for this test; install the Debian package: apt-get update && apt-get install -y chromium`,
    );
    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'imagedrift-chromium-profile-'));
    const ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
      viewport: { width: 1200, height: 900 },
    });
    try {
      const tab = ctx.pages()[0] ?? (await ctx.newPage());
      const problems: string[] = [];
      const requested: string[] = [];
      tab.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      tab.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      tab.on('requestfailed', (q) => problems.push(`request failed: ${q.url().slice(0, 80)} ${q.failure()?.errorText ?? ''}`));
      tab.on('request', (q) => requested.push(q.url()));
      const url = pathToFileURL(page).href;
      const resp = await tab.goto(url, { waitUntil: 'load' });
      assert.ok(resp?.ok(), `loading ${url}`);

      const charts = await tab.$$eval('svg.chart', (els) => els.map((e) => e.getBoundingClientRect()).map((b) => ({ w: b.width, h: b.height })));
      assert.ok(charts.length >= 2, `${charts.length} SVG charts`);
      for (const c of charts) assert.ok(c.w > 200 && c.h > 200, `chart drawn at ${c.w}×${c.h}`);
      const imgs = await tab.$$eval('.thumb img', (els) => (els as HTMLImageElement[]).map((i) => ({ complete: i.complete, w: i.naturalWidth, h: i.naturalHeight })));
      assert.equal(imgs.length, 32);
      for (const i of imgs) assert.deepEqual(i, { complete: true, w: 96, h: 96 });
      assert.equal(await tab.locator('#most-ood .thumb').count(), 16);
      assert.equal(await tab.locator('#least-ood .thumb').count(), 16);
      assert.ok((await tab.locator('table.metrics').innerText()).includes('AUROC'));
      assert.ok((await tab.locator('table.config').innerText()).includes('feature-cluster'));

      const shots = process.env.IMAGEDRIFT_REPORT_SCREENSHOT_DIR ?? mkdtempSync(join(tmpdir(), 'imagedrift-report-screenshot-'));
      mkdirSync(shots, { recursive: true });
      const shot = join(shots, 'report.png');
      await tab.screenshot({ path: shot, fullPage: true });
      assert.ok(statSync(shot).size > 10_000);
      t.diagnostic(`screenshot: ${shot}`);

      assert.deepEqual(problems, []);
      assert.deepEqual(requested.filter((u) => u !== url && !u.startsWith('data:')), [], 'no request leaves the page');
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
