/**
 * Builds data/seed-demo.npz: a compact uint8 copy (round(x·255)) of the tutorial's three arrays, so `npm run demo`
 * needs neither ../shared nor the network. Source: ../shared/seed-example (MindArmour tests/ut/python/dataset,
 * commit 88285e85, Apache-2.0). Run: npx tsx scripts/make-demo-data.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { decodeNpy, encodeNpy } from '../src/io/npy.js';

const SEED = new URL('../../shared/seed-example/', import.meta.url).pathname;
const files: Record<string, Uint8Array> = {};
for (const [name, file] of [['train', 'concept_train_lenet.npy'], ['eval', 'concept_test_lenet1.npy'], ['test', 'concept_test_lenet2.npy']] as const) {
  const a = decodeNpy(new Uint8Array(readFileSync(SEED + file)));
  const q = new Uint8Array(a.data.length);
  for (let i = 0; i < q.length; i++) q[i] = Math.round(Math.min(1, Math.max(0, a.data[i]!)) * 255);
  files[`${name}.npy`] = encodeNpy(q, a.shape, 'uint8');
}
const lab = (n: number) => encodeNpy(Uint8Array.from({ length: n }, (_, i) => (i < n / 2 ? 0 : 1)), [n], 'uint8');
files['eval_labels.npy'] = lab(100);
files['test_truth.npy'] = lab(400);
writeFileSync(new URL('../data/seed-demo.npz', import.meta.url), zipSync(files, { level: 9 }));
