/**
 * Child of the ORT section: the same 10,000 MNIST test fills (28×28 → 32×32, batches of 256) through the first
 * `ModelInputPlan` a fresh process makes, then through a second plan over the same data. Prints JSON
 * `{ first: seconds[], later: seconds[] }`. V8 specialises the optimised code of a closure on its context only while
 * one closure of its kind exists, so the first plan can run faster than every later one; a server or worker makes a
 * plan per request, so the later figure is the steady state (and the one the stage table measures).
 */
import { planModelInput } from '../../src/core/preprocess.js';
import { decodeBytes } from '../../src/io/load.js';
import { PATHS, PREPROCESS, readBytes } from '../lib/data.js';

const runs = Number(process.argv[2] ?? 5);
const data = await decodeBytes(readBytes(PATHS.mnistTest), 't10k.gz');
const n = data.shape[0]!;

function time(): number[] {
  const plan = planModelInput(data, PREPROCESS);
  const buf = new Float32Array(256 * plan.perSample);
  const out: number[] = [];
  for (let r = 0; r < runs + 2; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i += 256) plan.fill(buf, i, Math.min(n, i + 256));
    if (r >= 2) out.push((performance.now() - t0) / 1000); // two warm-up passes
  }
  return out;
}

const first = time();
const later = time();
process.stdout.write(JSON.stringify({ first, later }));
