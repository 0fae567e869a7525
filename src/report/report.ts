import { writeFileAtomic } from '../storage/local-dir-store.js';
import { join } from 'node:path';
import type { DetectorBundle } from '../core/bundle.js';
import { InputError, StorageError } from '../core/errors.js';
import type { DetectionMetrics } from '../core/metrics.js';
import type { Tensor } from '../core/tensor.js';
import { evaluationThreshold, type EvaluationThreshold } from '../service/evaluate.js';
import { LIBRARY_VERSION } from '../version.js';
import { escapeHtml, fmtNumber, fmtPercent } from './escape.js';
import { rocCurve } from './roc.js';
import { COLOURS, histogramSvg, rocSvg } from './svg.js';
import { extremeSamples, thumbnailsOf, type Thumbnail } from './thumbnails.js';

/**
 * The evaluation report: one self-contained `index.html` (inline CSS and SVG, PNG thumbnails as data URIs, no
 * scripts, no external URLs; a Content-Security-Policy forbids anything else). Every embedded string is escaped.
 */
/** Where the report's threshold comes from (src/service/evaluate.ts). */
export type ReportThreshold = EvaluationThreshold;

export interface ReportInput {
  readonly bundle: DetectorBundle;
  readonly idScores: ArrayLike<number>;
  readonly oodScores: ArrayLike<number>;
  /** The preprocessed model input (NCHW, [0, 1]) the scores came from, in the same order. */
  readonly idImages: Tensor;
  readonly oodImages: Tensor;
  readonly metrics: DetectionMetrics;
  readonly title: string;
  /** Default: `evaluationThreshold(bundle, idScores, oodScores)`. */
  readonly threshold?: ReportThreshold;
  /** Where the detector and the two data sets came from (shown in the header). */
  readonly sources?: { readonly detector?: string; readonly id?: string; readonly ood?: string };
  /** Thumbnails per grid (default 16). */
  readonly thumbnails?: number;
  /** Thumbnail upscaling factor (default 3). */
  readonly scale?: number;
  /** Timestamp shown in the footer (default: now). */
  readonly generatedAt?: string;
}

function flaggedShare(scores: ArrayLike<number>, t: number): number {
  let f = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= t) f++;
  return f / scores.length;
}

function nSamples(images: Tensor, field: string): number {
  if (images.shape.length !== 4) throw new InputError(field, `expected an NCHW tensor, got shape [${images.shape.join(',')}]`);
  return images.shape[0]!;
}

const CSS = `
*{box-sizing:border-box}
body{margin:0;background:#f5f6f8;color:#1d1d1f;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{background:#263238;color:#fff;padding:20px 32px}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header p{margin:0;color:#cfd8dc}
main{max-width:1120px;margin:0 auto;padding:20px 24px 8px}
section{background:#fff;border:1px solid #e0e3e7;border-radius:8px;padding:16px 20px;margin:0 0 18px}
h2{font-size:16px;margin:0 0 10px}
p.note{color:#555;margin:4px 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 18px}
.card{flex:1 1 160px;background:#fff;border:1px solid #e0e3e7;border-radius:8px;padding:12px 16px}
.card .v{font-size:24px;font-weight:600}
.card .k{color:#555;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .s{color:#555;font-size:12px}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eceff1;vertical-align:top}
th{width:230px;color:#37474f;font-weight:600}
td.num{font-variant-numeric:tabular-nums;white-space:nowrap;width:140px}
td.muted{color:#666}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
.charts{display:grid;grid-template-columns:3fr 2fr;gap:16px;align-items:start}
@media (max-width:900px){.charts{grid-template-columns:1fr}}
.charts figure{margin:0;min-width:0}
svg.chart{width:100%;height:auto;display:block}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(108px,1fr));gap:10px}
.thumb{margin:0;padding:5px;border:2px solid #ccc;border-radius:6px;text-align:center;background:#fafafa}
.thumb.set-id{border-color:${COLOURS.id}}
.thumb.set-ood{border-color:${COLOURS.ood}}
.thumb img{display:block;margin:0 auto;image-rendering:pixelated;background:#000}
.thumb figcaption{font-size:12px;margin-top:4px;line-height:1.35}
.badge{display:inline-block;padding:0 5px;border-radius:3px;color:#fff;font-weight:600;font-size:11px}
.badge.id{background:${COLOURS.id}}
.badge.ood{background:${COLOURS.ood}}
.verdict{display:block;color:${COLOURS.threshold};font-weight:600}
.verdict.ok{color:#2e7d32;font-weight:400}
.legend-inline>span{margin-right:14px}
footer{max-width:1120px;margin:0 auto;padding:0 24px 24px;color:#777;font-size:12px}
`;

function row(label: string, value: string, note = '', numeric = true): string {
  return `<tr><th>${escapeHtml(label)}</th><td class="${numeric ? 'num' : ''}">${value}</td><td class="muted">${escapeHtml(note)}</td></tr>`;
}

function thumbGrid(thumbs: readonly Thumbnail[], threshold: number): string {
  return thumbs
    .map((t) => {
      const flagged = t.score >= threshold;
      const setName = t.set === 'id' ? 'ID' : 'OOD';
      const verdict = t.set === 'id' ? (flagged ? 'false alarm' : 'passed') : flagged ? 'caught' : 'missed';
      const wrong = (t.set === 'id') === flagged;
      const alt = `${setName} sample ${t.index}, score ${fmtNumber(t.score)}`;
      return (
        `<figure class="thumb set-${t.set}"><img src="${escapeHtml(t.src)}" width="${t.width}" height="${t.height}" alt="${escapeHtml(alt)}">` +
        `<figcaption><span class="badge ${t.set}">${setName}</span> #${t.index}<br>score ${escapeHtml(fmtNumber(t.score))}` +
        `<span class="verdict${wrong ? '' : ' ok'}">${verdict}</span></figcaption></figure>`
      );
    })
    .join('');
}

function configTable(b: DetectorBundle): string {
  const f = b.fitted;
  const p = b.preprocess;
  const c = b.calibration;
  const json = (v: unknown) => `<code>${escapeHtml(JSON.stringify(v))}</code>`;
  let s = '';
  s += row('kind', `<code>${escapeHtml(f.kind)}</code>`, '', false);
  const params = Object.entries(f.params as Record<string, unknown>);
  s += row('parameters', params.length ? params.map(([k, v]) => `${escapeHtml(k)} = ${json(v)}`).join('<br>') : '—', 'as given at construction', false);
  s += row('features', `${f.nTrain} × ${f.dim}`, 'training samples × feature dimension', false);
  const stats = Object.entries(f.stats);
  if (stats.length) s += row('fit statistics', stats.map(([k, v]) => `${escapeHtml(k)} = ${escapeHtml(fmtNumber(v))}`).join('<br>'), '', false);
  s += row('layer', `<code>${escapeHtml(b.model.layer)}</code>`, 'the tensor whose output is the feature vector', false);
  s += row('model', `<code>${escapeHtml(b.model.key)}</code>, batch size ${b.model.batchSize}`, '', false);
  s += row('model sha256', `<code>${escapeHtml(b.model.sha256)}</code>`, '', false);
  const pre = [
    `input ${p.input.channels} × ${p.input.height} × ${p.input.width} (C × H × W)`,
    `layout ${p.layout ?? 'detected per input'}`,
    `scale ${p.scale === 'auto' ? 'auto (integer dtypes ÷ 255)' : p.scale}`,
    `grey ${p.grey}`,
    `resize ${p.resize}`,
    `range [${p.range[0]}, ${p.range[1]}]`,
  ];
  s += row('preprocessing', pre.map(escapeHtml).join('<br>'), '', false);
  if (c) {
    const cal = [
      `method ${c.method}${c.step !== undefined ? ` (step ${c.step})` : ''}`,
      `threshold ${fmtNumber(c.threshold, 6)}`,
      ...(c.accuracy !== undefined ? [`accuracy ${fmtNumber(c.accuracy)} on the calibration set`] : []),
      ...(c.targetFpr !== undefined ? [`target false-alarm rate ${c.targetFpr}`] : []),
      `${c.nEval} samples (${c.nOod} OOD)`,
      `ID flagged rate ${fmtPercent(c.idFlaggedRate)}`,
    ];
    s += row('calibration', cal.map(escapeHtml).join('<br>'), '', false);
  } else s += row('calibration', 'none', 'the detector has no threshold of its own', false);
  s += row('library version', escapeHtml(b.libraryVersion), b.libraryVersion === LIBRARY_VERSION ? 'saved by this version' : `this report: ${LIBRARY_VERSION}`, false);
  s += row('created', escapeHtml(b.createdAt), '', false);
  return `<table class="config">${s}</table>`;
}

/** Builds the report page. Thumbnails are rendered with sharp (loaded lazily). */
export async function buildReport(input: ReportInput): Promise<string> {
  const { bundle, idScores, oodScores, metrics: m } = input;
  const nId = nSamples(input.idImages, 'idImages');
  const nOod = nSamples(input.oodImages, 'oodImages');
  if (idScores.length !== nId) throw new InputError('idScores', `has ${idScores.length} scores but idImages has ${nId} samples`);
  if (oodScores.length !== nOod) throw new InputError('oodScores', `has ${oodScores.length} scores but oodImages has ${nOod} samples`);
  if (m.nId !== nId || m.nOod !== nOod) throw new InputError('metrics', `are for ${m.nId} ID / ${m.nOod} OOD samples, the scores are ${nId} / ${nOod}`);
  const th = input.threshold ?? evaluationThreshold(bundle, idScores, oodScores);
  const t = th.value;
  const fpr = flaggedShare(idScores, t);
  const tpr = flaggedShare(oodScores, t);
  const acc = ((1 - fpr) * nId + tpr * nOod) / (nId + nOod);

  const k = input.thumbnails ?? 16;
  const { mostOod, leastOod } = extremeSamples(idScores, oodScores, k);
  const images = { id: input.idImages, ood: input.oodImages };
  const [most, least] = await Promise.all([thumbnailsOf(mostOod, images, input.scale ?? 3), thumbnailsOf(leastOod, images, input.scale ?? 3)]);

  const hist = histogramSvg({ id: idScores, ood: oodScores, threshold: t, title: 'Score distributions' });
  const roc = rocSvg(rocCurve(idScores, oodScores), m.auroc, { operating: { fpr, tpr } });

  const src = input.sources ?? {};
  const f = bundle.fitted;
  const subtitle = [
    `${f.kind} detector on layer ${bundle.model.layer}`,
    `${nId} in-distribution${src.id ? ` (${src.id})` : ''} vs ${nOod} OOD${src.ood ? ` (${src.ood})` : ''}`,
    ...(src.detector ? [`detector ${src.detector}`] : []),
  ].join(' · ');

  const cards = [
    ['AUROC', m.auroc.toFixed(4)],
    ['FPR @ 95% TPR', fmtPercent(m.fpr95)],
    ['accuracy at threshold', fmtPercent(acc)],
    ['threshold', fmtNumber(t), th.source === 'calibrated' ? 'calibrated' : 'best accuracy on this data'],
  ]
    .map(([key, v, sub]) => `<div class="card"><div class="k">${escapeHtml(key!)}</div><div class="v">${escapeHtml(v!)}</div>${sub ? `<div class="s">${escapeHtml(sub)}</div>` : ''}</div>`)
    .join('');

  let metrics = '';
  metrics += row('AUROC', m.auroc.toFixed(4), 'area under the ROC curve; ties count one half');
  metrics += row('FPR @ 95% TPR', fmtPercent(m.fpr95), `share of ID flagged at the threshold that catches 95% of OOD (${fmtNumber(m.threshold95)})`);
  metrics += row('AUPR-In', m.auprIn.toFixed(4), 'average precision with ID as the positive class');
  metrics += row('AUPR-Out', m.auprOut.toFixed(4), 'average precision with OOD as the positive class');
  metrics += row('detection accuracy', m.detectionAccuracy.toFixed(4), '1 − min over thresholds of ½·FPR + ½·(1 − TPR)');
  metrics += row('threshold', escapeHtml(fmtNumber(t, 6)), th.detail);
  metrics += row('accuracy at threshold', fmtPercent(acc), 'share of all samples classified correctly (score ≥ threshold ⇒ OOD)');
  metrics += row('ID flagged (false alarms)', fmtPercent(fpr), `${Math.round(fpr * nId)} of ${nId} in-distribution samples`);
  metrics += row('OOD caught', fmtPercent(tpr), `${Math.round(tpr * nOod)} of ${nOod} OOD samples`);
  metrics += row('samples', `${nId} ID / ${nOod} OOD`, '');

  const title = escapeHtml(input.title);
  const legendNote = `<p class="note legend-inline"><span><span class="badge id">ID</span> in-distribution set</span><span><span class="badge ood">OOD</span> OOD set</span>#n is the sample’s position in its own input file; red marks a wrong decision at the threshold.</p>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${title}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${title}</h1><p>${escapeHtml(subtitle)}</p></header>
<main>
<div class="cards">${cards}</div>
<section id="metrics"><h2>Metrics</h2><p class="note">OOD is the positive class; a sample is flagged as OOD where its score ≥ the threshold.</p><table class="metrics">${metrics}</table></section>
<section id="charts"><h2>Scores</h2><div class="charts"><figure>${hist}</figure><figure>${roc}</figure></div></section>
<section id="most-ood"><h2>The ${most.length} most OOD samples (highest scores)</h2>${legendNote}<div class="grid">${thumbGrid(most, t)}</div></section>
<section id="least-ood"><h2>The ${least.length} least OOD samples (lowest scores)</h2>${legendNote}<div class="grid">${thumbGrid(least, t)}</div></section>
<section id="detector"><h2>Detector</h2>${configTable(bundle)}</section>
</main>
<footer>Generated by imagedrift ${escapeHtml(LIBRARY_VERSION)} at ${escapeHtml(input.generatedAt ?? new Date().toISOString())}.</footer>
</body>
</html>
`;
}

/**
 * Writes `<outDir>/index.html` (creating the directory) and returns its path. The write is atomic: a failed one leaves
 * no partial page and an earlier report in place.
 */
export async function writeReport(outDir: string, html: string): Promise<string> {
  const path = join(outDir, 'index.html');
  try {
    await writeFileAtomic(path, html);
  } catch (e) {
    throw new StorageError('outDir', `cannot write ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
  return path;
}
