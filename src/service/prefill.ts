/**
 * Preprocessing overlapped with inference: onnxruntime-node runs `session.run` synchronously on the calling thread, so
 * a batch preprocessed there cannot overlap with one being inferred. `prefillOffThread` preprocesses batch j+1 in a
 * worker thread while the caller runs the model on batch j.
 */
import type { Worker } from 'node:worker_threads';
import { fillBatches, type BatchFeeder, type ModelInputPlan, type PlanSource, type PreprocessConfig } from '../core/preprocess.js';
import type { DType, Layout } from '../core/tensor.js';
import { startWorker } from './threads.js';

/** One batch for the thread: `b` samples' source values in `src`, to be preprocessed into `out` (both transferred). */
export interface PrefillRequest {
  readonly call: number;
  readonly batch: number;
  readonly b: number;
  readonly src: ArrayBuffer;
  readonly out: ArrayBuffer;
  /** The source's shape with `batchSize` samples, the length of `src`. */
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly layout?: Layout;
  readonly config: PreprocessConfig;
  readonly field: string;
}

/** The thread's answer: the same two buffers back, `out` filled unless `ok` is false (then the caller fills it). */
export interface PrefillReply {
  readonly call: number;
  readonly batch: number;
  readonly ok: boolean;
  readonly src: ArrayBuffer;
  readonly out: ArrayBuffer;
}

interface PrefillThread {
  readonly worker: Worker;
  readonly waiting: Map<string, { resolve: (r: PrefillReply) => void; reject: (e: unknown) => void }>;
}

/** The one thread of this process, started on first use and kept (unreferenced while idle, so it never holds the process open). */
let thread: PrefillThread | undefined;
let calls = 0;

function prefillThread(): PrefillThread {
  if (thread) return thread;
  const t: PrefillThread = { worker: startWorker('prefill-thread'), waiting: new Map() };
  const fail = (e: unknown): void => {
    if (thread === t) thread = undefined;
    for (const w of t.waiting.values()) w.reject(e);
    t.waiting.clear();
    void t.worker.terminate();
  };
  t.worker.on('message', (r: PrefillReply) => {
    const key = `${r.call}:${r.batch}`;
    const w = t.waiting.get(key);
    t.waiting.delete(key);
    if (t.waiting.size === 0) t.worker.unref();
    w?.resolve(r);
  });
  t.worker.on('error', fail);
  t.worker.on('exit', (code) => fail(new Error(`the preprocessing thread exited with code ${code}`)));
  t.worker.unref();
  thread = t;
  return t;
}

function send(t: PrefillThread, req: PrefillRequest): Promise<PrefillReply> {
  const reply = new Promise<PrefillReply>((resolve, reject) => t.waiting.set(`${req.call}:${req.batch}`, { resolve, reject }));
  reply.catch(() => undefined); // a batch never awaited (the caller stopped early) must not become an unhandled rejection
  t.worker.ref();
  t.worker.postMessage(req, [req.src, req.out]);
  return reply;
}

/**
 * A {@link BatchFeeder} that preprocesses in a worker thread, one batch ahead of the caller, into two buffers it
 * passes back and forth (transferred, never shared: a buffer is in one thread at a time, and the model reads from
 * the calling thread's). Memory: two batches of source values and two of model input. The batches, their order and
 * their values are those of {@link fillBatches}: the thread runs the same preprocessing on a copy of each batch's
 * source values, and a batch it refuses (a bad pixel) is filled again on the calling thread, whose error names the
 * sample by its index in the whole input. An input of one batch, or a plan that does not carry its source, is
 * preprocessed on the calling thread. The queue worker passes it as its runtime's `feeder`.
 */
export const prefillOffThread: BatchFeeder = (plan, batchSize) => (plan.source && plan.shape[0] > batchSize ? overlapped(plan, plan.source, batchSize) : fillBatches(plan, batchSize));

async function* overlapped(plan: ModelInputPlan, source: PlanSource, batchSize: number): AsyncGenerator<Float32Array> {
  const t = prefillThread();
  const call = calls++;
  const { arr, config, field } = source;
  const [n, per] = [plan.shape[0], plan.perSample];
  const srcPer = arr.data.length / n;
  const meta = { shape: [batchSize, ...arr.shape.slice(1)], dtype: arr.dtype, ...(arr.layout ? { layout: arr.layout } : {}), config, field };
  const request = (batch: number, src: ArrayBuffer, out: ArrayBuffer): Promise<PrefillReply> => {
    const from = batch * batchSize;
    const b = Math.min(batchSize, n - from);
    new Float32Array(src).set(arr.data.subarray(from * srcPer, (from + b) * srcPer));
    return send(t, { call, batch, b, src, out, ...meta });
  };
  const batches = Math.ceil(n / batchSize);
  const ahead = [0, 1].map((j) => request(j, new ArrayBuffer(batchSize * srcPer * 4), new ArrayBuffer(batchSize * per * 4)));
  for (let j = 0; j < batches; j++) {
    const r = await ahead[j % 2]!;
    const from = j * batchSize;
    const batch = new Float32Array(r.out, 0, Math.min(batchSize, n - from) * per);
    if (!r.ok) plan.fill(batch, from, from + batch.length / per); // throws the error of the whole input's sample
    yield batch;
    // The caller has asked for the next batch, so it is done with this one: its buffers carry batch j+2.
    if (j + 2 < batches) ahead[j % 2] = request(j + 2, r.src, r.out);
  }
}
