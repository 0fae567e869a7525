import { InputError } from '../core/errors.js';
import { assertFiniteScores } from '../core/threshold.js';
import { escapeHtml, fmtNumber } from './escape.js';

/**
 * Charts as standalone SVG strings (pure string building: no browser, no canvas). Every embedded string is escaped.
 * Colours: in-distribution blue, OOD orange, threshold red (the same in the report's thumbnails).
 */
export const COLOURS = { id: '#1f77b4', ood: '#e8710a', threshold: '#c62828', curve: '#5e35b1', axis: '#444', grid: '#e6e6e6' } as const;

interface Box {
  readonly width: number;
  readonly height: number;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

/** Coordinates are rounded to 0.01 px so the markup stays short. */
function r2(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** "Nice" tick values (1, 2 or 5 × 10^k apart, about `target` of them) inside [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const ratio = raw / mag; // in [1, 10): round to the nearest of 1, 2, 5, 10 on a log scale (as d3 does)
  const step = mag * (ratio >= Math.sqrt(50) ? 10 : ratio >= Math.sqrt(10) ? 5 : ratio >= Math.sqrt(2) ? 2 : 1);
  const out: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  for (let k = first; k * step <= hi + step * 1e-9; k++) out.push(Math.abs(k * step) < step * 1e-9 ? 0 : Number((k * step).toPrecision(12)));
  return out;
}

function open(box: Box, title: string, cls: string): string {
  const t = escapeHtml(title);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart ${cls}" viewBox="0 0 ${box.width} ${box.height}" width="${box.width}" height="${box.height}" role="img" aria-label="${t}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">` +
    `<title>${t}</title>` +
    `<rect x="0" y="0" width="${box.width}" height="${box.height}" fill="#fff"/>` +
    `<text x="${box.left}" y="20" font-size="14" font-weight="600" fill="#222">${t}</text>`
  );
}

/** Axes with ticks, tick labels, light grid lines and axis titles. `sx`/`sy` map data to pixels. */
function axes(box: Box, xTicks: number[], yTicks: number[], sx: (v: number) => number, sy: (v: number) => number, xLabel: string, yLabel: string, yFmt: (v: number) => string = fmtNumber): string {
  const x0 = box.left;
  const x1 = box.width - box.right;
  const y0 = box.height - box.bottom;
  const y1 = box.top;
  let s = '';
  for (const t of yTicks) {
    const y = r2(sy(t));
    s += `<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="${COLOURS.grid}"/>`;
    s += `<line x1="${x0 - 5}" y1="${y}" x2="${x0}" y2="${y}" stroke="${COLOURS.axis}"/>`;
    s += `<text x="${x0 - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="${COLOURS.axis}">${escapeHtml(yFmt(t))}</text>`;
  }
  for (const t of xTicks) {
    const x = r2(sx(t));
    s += `<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + 5}" stroke="${COLOURS.axis}"/>`;
    s += `<text x="${x}" y="${y0 + 18}" text-anchor="middle" fill="${COLOURS.axis}">${escapeHtml(fmtNumber(t))}</text>`;
  }
  s += `<line x1="${x0}" y1="${y0}" x2="${x1}" y2="${y0}" stroke="${COLOURS.axis}"/>`;
  s += `<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y1}" stroke="${COLOURS.axis}"/>`;
  s += `<text x="${r2((x0 + x1) / 2)}" y="${box.height - 8}" text-anchor="middle" fill="#222">${escapeHtml(xLabel)}</text>`;
  s += `<text x="14" y="${r2((y0 + y1) / 2)}" text-anchor="middle" transform="rotate(-90 14 ${r2((y0 + y1) / 2)})" fill="#222">${escapeHtml(yLabel)}</text>`;
  return s;
}

function legend(x: number, y: number, items: { colour: string; label: string }[]): string {
  let s = '';
  items.forEach((it, k) => {
    const yy = y + k * 18;
    s += `<rect x="${x}" y="${yy - 6}" width="14" height="12" fill="${it.colour}" fill-opacity="0.45" stroke="${it.colour}"/>`;
    s += `<text x="${x + 20}" y="${yy}" dominant-baseline="middle" fill="#222">${escapeHtml(it.label)}</text>`;
  });
  return s;
}

export interface HistogramInput {
  readonly id: ArrayLike<number>;
  readonly ood: ArrayLike<number>;
  /** Drawn as a dashed vertical line; the x range is widened to include it. */
  readonly threshold?: number;
  /** Number of equal-width bins over the common range (default 40). */
  readonly bins?: number;
  readonly title: string;
  readonly xLabel?: string;
}

/** Bin counts over [lo, hi] with `bins` equal bins; the last bin is closed on the right. */
export function binCounts(values: ArrayLike<number>, lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const w = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) {
    const b = Math.min(bins - 1, Math.max(0, Math.floor((values[i]! - lo) / w)));
    counts[b]!++;
  }
  return counts;
}

/**
 * Two overlaid histograms (ID and OOD scores) on a common binning. Heights are the share of each set (%), so sets of
 * different sizes compare directly.
 */
export function histogramSvg(input: HistogramInput): string {
  const bins = input.bins ?? 40;
  if (!Number.isInteger(bins) || bins < 1) throw new InputError('bins', `must be a positive integer, got ${bins}`);
  if (!input.id.length || !input.ood.length) throw new InputError('scores', `the histogram needs ID and OOD scores, got ${input.id.length} ID and ${input.ood.length} OOD`);
  assertFiniteScores(input.id, 'id');
  assertFiniteScores(input.ood, 'ood');
  const t = input.threshold;
  if (t !== undefined && !Number.isFinite(t)) throw new InputError('threshold', `must be finite, got ${t}`);
  let lo = Infinity;
  let hi = -Infinity;
  for (const a of [input.id, input.ood]) {
    for (let i = 0; i < a.length; i++) {
      lo = Math.min(lo, a[i]!);
      hi = Math.max(hi, a[i]!);
    }
  }
  if (t !== undefined) {
    lo = Math.min(lo, t);
    hi = Math.max(hi, t);
  }
  // A range too narrow to label (all scores tied, the threshold a hair above them) gets a fixed pad around it.
  if (hi - lo <= Math.max(Math.abs(hi), Math.abs(lo), 1) * 1e-6) {
    const pad = Math.max(Math.abs(hi) * 0.05, 0.5);
    lo -= pad;
    hi += pad;
  } else {
    const pad = (hi - lo) * 0.02;
    lo -= pad;
    hi += pad;
  }
  const idShare = binCounts(input.id, lo, hi, bins).map((c) => (100 * c) / input.id.length);
  const oodShare = binCounts(input.ood, lo, hi, bins).map((c) => (100 * c) / input.ood.length);
  const yMax = Math.max(...idShare, ...oodShare);
  const yTicks = niceTicks(0, yMax, 4);
  const yTop = Math.max(yTicks[yTicks.length - 1]!, yMax);

  const box: Box = { width: 600, height: 400, left: 58, right: 18, top: 58, bottom: 46 };
  const pw = box.width - box.left - box.right;
  const ph = box.height - box.top - box.bottom;
  const sx = (v: number) => box.left + ((v - lo) / (hi - lo)) * pw;
  const sy = (v: number) => box.top + ph - (v / yTop) * ph;
  const bw = pw / bins;

  let s = open(box, input.title, 'histogram');
  s += axes(box, niceTicks(lo, hi, 6), yTicks, sx, sy, input.xLabel ?? 'score (higher = more OOD)', 'share of set (%)', (v) => fmtNumber(v));
  const sets = [[idShare, COLOURS.id, 'id'], [oodShare, COLOURS.ood, 'ood']] as const;
  for (const [share, colour, set] of sets) {
    s += `<g class="bars-${set}" fill="${colour}" fill-opacity="0.4">`;
    share.forEach((v, b) => {
      if (v > 0) s += `<rect x="${r2(box.left + b * bw)}" y="${r2(sy(v))}" width="${r2(bw)}" height="${r2(sy(0) - sy(v))}"/>`;
    });
    s += '</g>';
  }
  for (const [share, colour] of sets) {
    // outlines after both fills, as step paths, so overlapping bars stay readable
    let d = `M${r2(box.left)} ${r2(sy(0))}`;
    share.forEach((v, b) => {
      d += `V${r2(sy(v))}H${r2(box.left + (b + 1) * bw)}`;
    });
    d += `V${r2(sy(0))}`;
    s += `<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.5"/>`;
  }
  s += `<line x1="${box.left}" y1="${r2(sy(0))}" x2="${box.width - box.right}" y2="${r2(sy(0))}" stroke="${COLOURS.axis}"/>`;
  if (t !== undefined) {
    const x = r2(sx(t));
    s += `<line class="threshold" x1="${x}" y1="${box.top - 6}" x2="${x}" y2="${r2(sy(0))}" stroke="${COLOURS.threshold}" stroke-width="2" stroke-dasharray="6 4"/>`;
    const anchor = sx(t) > box.left + pw * 0.8 ? 'end' : 'start';
    s += `<text x="${r2(sx(t) + (anchor === 'end' ? -5 : 5))}" y="${box.top - 2}" text-anchor="${anchor}" fill="${COLOURS.threshold}">threshold ${escapeHtml(fmtNumber(t))}</text>`;
  }
  const items = [
    { colour: COLOURS.id, label: `in-distribution (n=${input.id.length})` },
    { colour: COLOURS.ood, label: `OOD (n=${input.ood.length})` },
  ];
  s += legend(box.width - box.right - 170, 16, items);
  return `${s}</svg>`;
}

export interface RocSvgOptions {
  readonly title?: string;
  /** The operating point at the report's threshold, marked with a dot. */
  readonly operating?: { readonly fpr: number; readonly tpr: number };
}

/** The ROC curve (FPR on x, TPR on y, both 0..1) with the chance diagonal and the AUROC printed on the chart. */
export function rocSvg(points: readonly { fpr: number; tpr: number }[], auroc: number, opts: RocSvgOptions = {}): string {
  if (points.length < 2) throw new InputError('points', `a ROC curve needs at least 2 points, got ${points.length}`);
  for (const [k, p] of points.entries()) {
    if (!(p.fpr >= 0 && p.fpr <= 1 && p.tpr >= 0 && p.tpr <= 1)) throw new InputError(`points[${k}]`, `fpr and tpr must lie in [0, 1], got (${p.fpr}, ${p.tpr})`);
  }
  if (!(auroc >= 0 && auroc <= 1)) throw new InputError('auroc', `must lie in [0, 1], got ${auroc}`);
  const box: Box = { width: 400, height: 400, left: 58, right: 18, top: 36, bottom: 46 };
  const pw = box.width - box.left - box.right;
  const ph = box.height - box.top - box.bottom;
  const sx = (v: number) => box.left + v * pw;
  const sy = (v: number) => box.top + ph - v * ph;
  const ticks = [0, 0.2, 0.4, 0.6, 0.8, 1];
  let s = open(box, opts.title ?? 'ROC curve (OOD = positive)', 'roc');
  s += axes(box, ticks, ticks, sx, sy, 'false-positive rate (ID flagged)', 'true-positive rate (OOD caught)');
  s += `<line class="diagonal" x1="${sx(0)}" y1="${sy(0)}" x2="${sx(1)}" y2="${sy(1)}" stroke="#999" stroke-dasharray="4 4"/>`;
  // drop points closer than half a pixel to the last one kept (the curve is monotone, so this keeps its shape)
  const kept: string[] = [];
  let lx = NaN;
  let ly = NaN;
  points.forEach((p, k) => {
    const x = sx(p.fpr);
    const y = sy(p.tpr);
    if (k === 0 || k === points.length - 1 || Math.abs(x - lx) >= 0.5 || Math.abs(y - ly) >= 0.5) {
      kept.push(`${r2(x)},${r2(y)}`);
      lx = x;
      ly = y;
    }
  });
  s += `<polyline class="curve" points="${kept.join(' ')}" fill="none" stroke="${COLOURS.curve}" stroke-width="2" stroke-linejoin="round"/>`;
  const tx = r2(sx(0.4));
  s += `<text class="auroc" x="${tx}" y="${r2(sy(0.26))}" font-size="14" font-weight="600" fill="${COLOURS.curve}">AUROC ${escapeHtml(auroc.toFixed(4))}</text>`;
  if (opts.operating) {
    const { fpr, tpr } = opts.operating;
    const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
    s += `<circle class="operating" cx="${r2(sx(fpr))}" cy="${r2(sy(tpr))}" r="5" fill="${COLOURS.threshold}" stroke="#fff" stroke-width="1.5"/>`;
    s += `<circle cx="${r2(sx(0.4) + 5)}" cy="${r2(sy(0.18))}" r="5" fill="${COLOURS.threshold}"/>`;
    s += `<text x="${r2(sx(0.4) + 16)}" y="${r2(sy(0.18))}" dominant-baseline="middle" fill="#222">at the threshold:</text>`;
    s += `<text x="${tx}" y="${r2(sy(0.11))}" dominant-baseline="middle" fill="#222">FPR ${pct(fpr)}, TPR ${pct(tpr)}</text>`;
  }
  return `${s}</svg>`;
}
