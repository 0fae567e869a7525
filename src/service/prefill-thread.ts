/**
 * Worker-thread entry, started by src/service/prefill.ts and kept for the process: preprocesses each batch it is
 * sent (pure core code) and sends both buffers back. A batch that fails is answered `ok: false` and filled again by
 * the caller, whose plan names the bad sample by its index in the whole input (here it is an index in the batch).
 */
import { parentPort } from 'node:worker_threads';
import { planModelInput } from '../core/preprocess.js';
import type { PrefillReply, PrefillRequest } from './prefill.js';

parentPort!.on('message', (m: PrefillRequest) => {
  let ok = true;
  try {
    const arr = { data: new Float32Array(m.src), shape: m.shape, dtype: m.dtype, ...(m.layout ? { layout: m.layout } : {}) };
    planModelInput(arr, m.config, m.field).fill(new Float32Array(m.out), 0, m.b);
  } catch {
    ok = false;
  }
  const reply: PrefillReply = { call: m.call, batch: m.batch, ok, src: m.src, out: m.out };
  parentPort!.postMessage(reply, [m.src, m.out]);
});
