/**
 * The report's pure builders: SVG charts, thumbnails and the HTML page, checked for well-formed markup (a small
 * tag-balance scanner below), correctly placed values and escaping.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import type { DetectorBundle } from '../../src/core/bundle.js';
import type { FittedDetector } from '../../src/core/detector.js';
import { detectionMetricsOf } from '../../src/core/metrics.js';
import type { Tensor } from '../../src/core/tensor.js';
import { escapeHtml, fmtNumber } from '../../src/report/escape.js';
import { buildReport, writeReport } from '../../src/report/report.js';
import { evaluationThreshold } from '../../src/service/evaluate.js';
import { rocCurve } from '../../src/report/roc.js';
import { binCounts, histogramSvg, niceTicks, rocSvg } from '../../src/report/svg.js';
import { extremeSamples, sampleToPixels, thumbnailDataUri } from '../../src/report/thumbnails.js';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { StorageError } from '../../src/core/errors.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const VOID = new Set(['meta', 'img', 'br', 'hr', 'link', 'input']);
const ENTITIES = ['&amp;', '&lt;', '&gt;', '&quot;', '&#39;'];

function isLetter(c: string | undefined): boolean {
  return c !== undefined && c.toLowerCase() !== c.toUpperCase();
}

/** Scans markup without regexes: every tag closes in order, attribute quotes pair up, `&` only starts an entity. Returns element counts. */
function wellFormed(markup: string): Map<string, number> {
  const counts = new Map<string, number>();
  const stack: string[] = [];
  let i = 0;
  for (;;) {
    const lt = markup.indexOf('<', i);
    const text = markup.slice(i, lt === -1 ? undefined : lt);
    for (let a = text.indexOf('&'); a !== -1; a = text.indexOf('&', a + 1)) {
      assert.ok(ENTITIES.some((e) => text.startsWith(e, a)), `bare '&' in text near ${JSON.stringify(text.slice(a, a + 12))}`);
    }
    if (lt === -1) break;
    if (markup.startsWith('<!', lt)) {
      i = markup.indexOf('>', lt) + 1;
      continue;
    }
    const gt = markup.indexOf('>', lt);
    assert.ok(gt > lt, `unterminated tag at ${lt}`);
    const tag = markup.slice(lt + 1, gt);
    let quotes = 0;
    for (const ch of tag) if (ch === '"') quotes++;
    assert.equal(quotes % 2, 0, `unbalanced quotes in <${tag}>`);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    } else {
      let end = 0;
      while (end < tag.length && tag[end] !== ' ' && tag[end] !== '/' && tag[end] !== '\n') end++;
      const name = tag.slice(0, end);
      assert.ok(isLetter(name[0]), `'<' that does not start a tag: ${JSON.stringify(markup.slice(lt, lt + 20))}`);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      if (!tag.endsWith('/') && !VOID.has(name)) stack.push(name);
      if (name === 'style') {
        // CSS is raw text: skip to its end tag
        i = markup.indexOf('</style>', gt);
        continue;
      }
    }
    i = gt + 1;
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  return counts;
}

/** The value of attribute `name` in the first element that contains `marker` in its tag. */
function attrOf(markup: string, marker: string, name: string): string {
  const at = markup.indexOf(marker);
  assert.ok(at !== -1, `${marker} not found`);
  const start = markup.lastIndexOf('<', at);
  const tag = markup.slice(start, markup.indexOf('>', at));
  const k = tag.indexOf(` ${name}="`);
  assert.ok(k !== -1, `${name} not in ${tag}`);
  const from = k + name.length + 3;
  return tag.slice(from, tag.indexOf('"', from));
}

const EVIL = '<script>alert("x&y")</script>';

describe('histogramSvg', () => {
  it('is well-formed, with one bar per non-empty bin and the threshold line where the threshold is', () => {
    // range [0, 3] padded by 2% each side → [-0.06, 3.06]; plot x from 58 to 600 − 18 = 582 px
    const svg = histogramSvg({ id: [0, 1], ood: [2, 3, 3], threshold: 1.5, bins: 4, title: 'scores' });
    const counts = wellFormed(svg);
    assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
    assert.equal(counts.get('rect'), 1 + 2 + 2 + 2, 'background + 2 ID bars + 2 OOD bars + 2 legend swatches');
    assert.equal(Number(attrOf(svg, 'class="threshold"', 'x1')), 58 + (1.56 / 3.12) * 524);
    assert.ok(svg.includes('>threshold 1.5</text>'));
    assert.ok(svg.includes('in-distribution (n=2)') && svg.includes('OOD (n=3)'));
    // y axis: share of set in %; the tallest bar is OOD's 3 → 2/3 = 66.7%, so the ticks reach at least 60
    assert.ok(svg.includes('>60</text>'));
  });

  it('bins share one range, the last bin is closed, and equal values still get a visible range', () => {
    assert.deepEqual(binCounts([0, 0.5, 1], 0, 1, 2), [1, 2]);
    const svg = histogramSvg({ id: [1, 1], ood: [1], title: 't' });
    wellFormed(svg);
    assert.ok(!svg.includes('NaN') && !svg.includes('Infinity'));
    // All scores tied and the "flag nothing" threshold a hair above them (max + 1e-9·|max|): once five identical x
    // labels ("-4.087") and the bars squeezed to the left edge; now a padded axis with distinct labels.
    const tied = histogramSvg({ id: [-4.087, -4.087], ood: [-4.087], threshold: -4.087 * (1 - 1e-9), title: 't' });
    wellFormed(tied);
    const labels = [...tied.matchAll(/<text[^>]*text-anchor="middle"[^>]*>(-?[\d.]+)<\/text>/g)].map((m) => m[1]);
    assert.ok(labels.length >= 3 && new Set(labels).size === labels.length, `x tick labels: ${labels.join(' ')}`);
  });

  it('escapes the title and rejects bad input with the field named', () => {
    const svg = histogramSvg({ id: [0], ood: [1], title: EVIL });
    wellFormed(svg);
    assert.ok(!svg.includes('<script'));
    assert.ok(svg.includes('&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;'));
    assert.throws(() => histogramSvg({ id: [], ood: [1], title: 't' }), /scores: /);
    assert.throws(() => histogramSvg({ id: [0], ood: [Infinity], title: 't' }), /ood\[0\]: /);
    assert.throws(() => histogramSvg({ id: [0], ood: [1], bins: 0, title: 't' }), /bins: /);
  });

  it('niceTicks steps by 1, 2 or 5 × 10^k', () => {
    assert.deepEqual(niceTicks(0, 1, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
    assert.deepEqual(niceTicks(-0.06, 3.06, 6), [0, 0.5, 1, 1.5, 2, 2.5, 3]);
    assert.deepEqual(niceTicks(0, 66.7, 4), [0, 20, 40, 60]);
  });
});

describe('rocSvg', () => {
  it('draws the curve through the ROC points, the diagonal, the operating point and the AUROC', () => {
    const pts = rocCurve([0.1, 0.4, 0.35, 0.8], [0.9, 0.4, 0.6]);
    const svg = rocSvg(pts, 19 / 24, { operating: { fpr: 0.25, tpr: 2 / 3 } });
    wellFormed(svg);
    // plot box: x 58..382, y 36..354 (400 − 46)
    const xy = attrOf(svg, 'class="curve"', 'points').split(' ');
    assert.equal(xy.length, pts.length);
    assert.equal(xy[0], '58,354');
    assert.equal(xy[1], `58,${Math.round((354 - 318 / 3) * 100) / 100}`);
    assert.equal(xy.at(-1), '382,36');
    assert.equal(attrOf(svg, 'class="diagonal"', 'x2'), '382');
    assert.equal(attrOf(svg, 'class="operating"', 'cx'), '139');
    assert.ok(svg.includes('>AUROC 0.7917</text>'));
    assert.ok(svg.includes('>FPR 25.00%, TPR 66.67%</text>'));
  });

  it('thins points closer than half a pixel but keeps both ends', () => {
    const n = 5000;
    const id = Array.from({ length: n }, (_, i) => i / n);
    const ood = id.map((v) => v + 0.3);
    const xy = attrOf(rocSvg(rocCurve(id, ood), 0.9), 'class="curve"', 'points').split(' ');
    assert.ok(xy.length < 2000, `${xy.length} points kept`);
    assert.equal(xy[0], '58,354');
    assert.equal(xy.at(-1), '382,36');
  });

  it('rejects out-of-range input', () => {
    assert.throws(() => rocSvg([{ fpr: 0, tpr: 0 }], 0.5), /points: /);
    assert.throws(() => rocSvg([{ fpr: 0, tpr: 0 }, { fpr: 1.5, tpr: 1 }], 0.5), /points\[1\]: /);
    assert.throws(() => rocSvg([{ fpr: 0, tpr: 0 }, { fpr: 1, tpr: 1 }], NaN), /auroc: /);
  });
});

describe('escaping and number formatting', () => {
  it('escapeHtml covers the five special characters', () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
  it('fmtNumber keeps 4 significant digits without exponent noise', () => {
    assert.deepEqual([0, 0.5, 1 / 3, 12345.6, -2.5e-7, 1234].map((v) => fmtNumber(v)), ['0', '0.5', '0.3333', '12346', '-2.5e-7', '1234']);
  });
});

function ramp(n: number, c: number, h: number, w: number): Tensor {
  const data = new Float32Array(n * c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = (i % 17) / 16;
  return { data, shape: [n, c, h, w] };
}

describe('thumbnails', () => {
  it('picks the extremes across both sets, ties broken by set then index', () => {
    const { mostOod, leastOod } = extremeSamples([0.1, 0.9, 0.5], [0.9, 0.2], 2);
    assert.deepEqual(mostOod, [{ set: 'id', index: 1, score: 0.9 }, { set: 'ood', index: 0, score: 0.9 }]);
    assert.deepEqual(leastOod, [{ set: 'id', index: 0, score: 0.1 }, { set: 'ood', index: 1, score: 0.2 }]);
  });

  it('converts NCHW [0, 1] to interleaved uint8 (clamped), and RGB keeps its channel order', () => {
    const grey = sampleToPixels({ data: Float32Array.from([0, 0.5, 1, 2, -1, 0.25]), shape: [1, 1, 2, 3] }, 0);
    assert.deepEqual([...grey.pixels], [0, 128, 255, 255, 0, 64]);
    // 2 pixels: R plane [1, 0], G plane [0, 1], B plane [0.5, 0.5]
    const rgb = sampleToPixels({ data: Float32Array.from([9, 9, 9, 9, 9, 9, 1, 0, 0, 1, 0.5, 0.5]), shape: [2, 3, 1, 2] }, 1);
    assert.deepEqual([...rgb.pixels], [255, 0, 128, 0, 255, 128]);
    // RGBA (a 4-channel model input; `report` used to refuse every such detector): drawn from R, G, B, alpha not shown.
    const rgba = sampleToPixels({ data: Float32Array.from([1, 0, 0, 1, 0.5, 0.5, 0, 0]), shape: [1, 4, 1, 2] }, 0);
    assert.deepEqual({ channels: rgba.channels, pixels: [...rgba.pixels] }, { channels: 3, pixels: [255, 0, 128, 0, 255, 128] });
    assert.throws(() => sampleToPixels(ramp(1, 2, 2, 2), 0), /images: has 2 channels/);
    assert.throws(() => sampleToPixels(ramp(1, 1, 2, 2), 1), /images\[1\]: /);
  });

  it('encodes an upscaled PNG data URI with nearest-neighbour pixels', async () => {
    const t = await thumbnailDataUri({ data: Float32Array.from([0, 1, 1, 0]), shape: [1, 1, 2, 2] }, 0, 3);
    assert.ok(t.src.startsWith('data:image/png;base64,'));
    const png = Buffer.from(t.src.slice('data:image/png;base64,'.length), 'base64');
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height, t.width, t.height], [6, 6, 6, 6]);
    const c = info.channels;
    assert.deepEqual([data[0], data[2 * c], data[3 * c], data[5 * c], data[6 * 3 * c]], [0, 0, 255, 255, 255]);
  });
});

function fakeBundle(calibrated: boolean): DetectorBundle {
  const fitted: FittedDetector = {
    kind: 'knn',
    dim: 84,
    nTrain: 1000,
    params: { k: 50, metric: 'cosine', note: EVIL },
    stats: { bank: 1000 },
    arrays: () => ({}),
    score: () => new Float64Array(),
  };
  return {
    model: { key: 'model.onnx', sha256: 'ab'.repeat(32), layer: '9', batchSize: 256 },
    preprocess: { input: { channels: 1, height: 4, width: 4 }, scale: 'auto', grey: 'bt601', resize: 'bilinear', range: [0, 1] },
    fitted,
    ...(calibrated ? { calibration: { threshold: 0.55, method: 'conformal' as const, targetFpr: 0.05, nEval: 500, nOod: 0, flaggedRate: 0.05, idFlaggedRate: 0.05 } } : {}),
    createdAt: '2025-01-01T00:00:00.000Z',
    libraryVersion: '0.1.0',
  };
}

describe('buildReport', () => {
  const idScores = Array.from({ length: 20 }, (_, i) => i / 40); // 0 … 0.475
  const oodScores = Array.from({ length: 30 }, (_, i) => 0.4 + i / 50); // 0.4 … 0.98
  const input = (calibrated: boolean, title = 'report') => ({
    bundle: fakeBundle(calibrated),
    idScores,
    oodScores,
    idImages: ramp(20, 1, 4, 4),
    oodImages: ramp(30, 1, 4, 4),
    metrics: detectionMetricsOf(idScores, oodScores),
    title,
    generatedAt: '2025-01-02T00:00:00.000Z',
  });

  it('is a self-contained, well-formed page with both charts, 32 thumbnails, metrics and config', async () => {
    const html = await buildReport(input(false));
    const counts = wellFormed(html.slice(html.indexOf('<html')));
    assert.equal(counts.get('svg'), 2);
    assert.equal(counts.get('img'), 32);
    assert.equal(counts.get('script'), undefined);
    // no external references: every src is a data URI and the only URL is the SVG namespace
    let srcs = 0;
    for (let k = html.indexOf(' src="'); k !== -1; k = html.indexOf(' src="', k + 1), srcs++) assert.ok(html.startsWith(' src="data:image/png;base64,', k));
    assert.equal(srcs, 32);
    assert.equal(html.split('://').length - 1, 2, 'no URL but the two SVG namespaces');
    assert.equal(html.split('http://www.w3.org/2000/svg').length - 1, 2);
    const m = detectionMetricsOf(idScores, oodScores);
    for (const v of [m.auroc.toFixed(4), m.auprIn.toFixed(4), m.auprOut.toFixed(4), m.detectionAccuracy.toFixed(4)]) assert.ok(html.includes(`>${v}</td>`), v);
    assert.ok(html.includes('best accuracy on this data (the detector is not calibrated'));
    assert.ok(html.includes('ab'.repeat(32)) && html.includes('<code>9</code>') && html.includes('input 1 × 4 × 4'));
    assert.ok(html.includes('>OOD</span> #29<br>score 0.98'), 'the top-scoring OOD sample leads the most-OOD grid');
    assert.ok(html.includes('>ID</span> #0<br>score 0'));
  });

  it('uses the calibrated threshold when there is one, and says so', async () => {
    const html = await buildReport(input(true));
    assert.equal(evaluationThreshold(fakeBundle(true), idScores, oodScores).value, 0.55);
    assert.ok(html.includes('calibrated: label-free conformal quantile of 500 held-out ID scores, target false-alarm rate 0.05'));
    assert.ok(html.includes('>threshold 0.55</text>'));
  });

  it('escapes every embedded string (title, params)', async () => {
    const html = await buildReport(input(false, EVIL));
    wellFormed(html.slice(html.indexOf('<html')));
    assert.ok(!html.includes('<script'));
    assert.ok(html.includes('<title>&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;</title>'));
    assert.ok(html.includes('&quot;&lt;script&gt;alert(\\&quot;x&amp;y\\&quot;)&lt;/script&gt;&quot;'), 'JSON-quoted param, escaped');
  });

  it('rejects scores that do not match the images', async () => {
    await assert.rejects(buildReport({ ...input(false), idImages: ramp(19, 1, 4, 4) }), /idScores: has 20 scores but idImages has 19/);
  });

  it('writeReport creates the directory and writes index.html', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imagedrift-report-unit-'));
    try {
      const path = await writeReport(join(dir, 'a', 'b'), '<!doctype html>');
      assert.equal(path, join(dir, 'a', 'b', 'index.html'));
      assert.equal(readFileSync(path, 'utf8'), '<!doctype html>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writeReport: a failed write is a StorageError on outDir (the CLI shows --out) and leaves no temp file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imagedrift-report-unit-'));
    try {
      mkdirSync(join(dir, 'index.html', 'x'), { recursive: true }); // the page's name is taken by a directory
      await assert.rejects(writeReport(dir, '<!doctype html>'), (e: unknown) => e instanceof StorageError && e.field === 'outDir' && /cannot write .*index\.html: (EISDIR|ENOTEMPTY)/.test(e.detail));
      assert.deepEqual(readdirSync(dir), ['index.html'], 'no temp file left');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
