/**
 * Drift tests at audit size: the permutation MMD of an audit run (reference = the 1,000 rows a calibration stores,
 * window = up to `mmdWindow` = 1,000 rows, 200 permutations, layer-9 features of real MNIST / CIFAR-10 test images),
 * vectorised (`mmdDrift`: all permutations as one K·W product) against one pass over the kernel per permutation
 * (benchmarks/lib/mmd-loop.ts). Same kernel and permutation sequence, so the p-values must be identical.
 */
import { mmdDrift } from '../../src/core/drift.js';
import { toModelInput } from '../../src/core/preprocess.js';
import type { Matrix } from '../../src/core/tensor.js';
import { getExtractor } from '../../src/service/detector-service.js';
import { PREPROCESS, sliceRows } from '../lib/data.js';
import { mmdPerPermutation } from '../lib/mmd-loop.js';
import type { BenchContext, SectionResult } from '../lib/report.js';
import { table } from '../lib/report.js';
import { fmtRatio, fmtSummary, summarise, timeRuns } from '../lib/stats.js';

const LAYER = '9';
const PERMUTATIONS = 200;
const REFERENCE = 1000;

export async function driftSection(ctx: BenchContext): Promise<SectionResult> {
  const { runs, log } = ctx;
  const ex = await getExtractor(ctx.model, LAYER);
  // Workload b's test set: 10,000 MNIST test images, then 10,000 CIFAR-10 test images.
  const feats = async (from: number, to: number): Promise<Matrix> => ex.extract(toModelInput(sliceRows(ctx.b.w.test, from, to), PREPROCESS));
  const reference = await feats(0, REFERENCE);
  const cases = [
    { name: 'MNIST window', m: 200, data: await feats(1000, 1200) },
    { name: 'MNIST window', m: 1000, data: await feats(1000, 2000) },
    { name: 'CIFAR-10 window', m: 1000, data: await feats(10000, 11000) },
  ];
  const rows: string[][] = [];
  const mismatches: string[] = [];
  const ratios: number[] = [];
  for (const c of cases) {
    log(`drift: MMD ${REFERENCE} + ${c.m} rows, ${c.name}`);
    const opts = { permutations: PERMUTATIONS, seed: 1 };
    const fast = mmdDrift(reference, c.data, opts);
    const loop = mmdPerPermutation(reference, c.data, opts);
    if (fast.pValue !== loop.pValue || Math.abs(fast.statistic - loop.statistic) > 1e-12) mismatches.push(`${c.name} m=${c.m}: p ${fast.pValue} vs ${loop.pValue}`);
    // Interleaved, so both sides see the same machine load.
    const tFast: number[] = [];
    const tLoop: number[] = [];
    for (let r = 0; r < runs; r++) {
      tFast.push(...(await timeRuns(1, () => mmdDrift(reference, c.data, opts), r === 0 ? 1 : 0)));
      tLoop.push(...(await timeRuns(1, () => mmdPerPermutation(reference, c.data, opts), r === 0 ? 1 : 0)));
    }
    const [sf, sl] = [summarise(tFast), summarise(tLoop)];
    ratios.push(sl.median / sf.median);
    rows.push([c.name, `${REFERENCE} + ${c.m} (N = ${REFERENCE + c.m})`, fast.pValue.toPrecision(3), fmtSummary(sf), fmtSummary(sl), fmtRatio(sl.median / sf.median)]);
  }
  const minRatio = Math.min(...ratios);
  const markdown = [
    `Layer \`${LAYER}\` features (120 columns) of real images; reference = the first ${REFERENCE} MNIST test images (what a calibration stores: \`REFERENCE_ROWS\`); ${PERMUTATIONS} permutations, seed 1; ${runs} interleaved runs each (after one warm-up). "One pass per permutation" = benchmarks/lib/mmd-loop.ts: the same kernel and permutations, each permutation's MMD² by its own pass over the N×N kernel. Both include building the kernel (N²·d), which they share in cost.`,
    '',
    table(['window', 'rows (reference + window)', 'p-value', '`mmdDrift` (vectorised)', 'one pass per permutation', 'speed-up'], rows),
    '',
    mismatches.length ? `**Same output: FAILED** — ${mismatches.join('; ')}` : `Same output: identical p-values and statistics (|Δ| ≤ 1e−12) in all ${cases.length} cases.`,
  ].join('\n');
  return {
    title: '6. Drift tests at audit size',
    markdown,
    goals: [{ section: '6', goal: 'MMD permutations vectorised: faster than one kernel pass per permutation at audit size, same p-values', met: mismatches.length === 0 && minRatio > 1, measured: `${fmtRatio(minRatio)}–${fmtRatio(Math.max(...ratios))} faster; p-values identical: ${mismatches.length === 0 ? 'yes' : 'no'}` }],
    ...(mismatches.length ? { failed: `drift: ${mismatches.join('; ')}` } : {}),
  };
}
