/** Worker child processes (`node --import tsx infra/worker.ts`) and a large fit dataset built from the seed train set. */
import { readFile } from 'node:fs/promises';
import type { Config } from '../../src/config.js';
import { decodeNpy, encodeNpy } from '../../src/io/npy.js';
import { completeDatasetUpload, presignDatasetUpload } from '../../src/service/datasets.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import type { Presigner } from '../../src/storage/tenant-store.js';
import { REPO, SEED } from './paths.js';
import { startChild, type Child } from './procs.js';

/** The environment that gives a worker the same bucket and queue as `config`. */
export function workerEnv(config: Config, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_NO_WARNINGS: '1' };
  env.S3_BUCKET = config.s3.bucket;
  if (config.s3.endpoint) env.S3_ENDPOINT = config.s3.endpoint;
  if (config.s3.credentials) {
    env.S3_ACCESS_KEY_ID = config.s3.credentials.accessKeyId;
    env.S3_SECRET_ACCESS_KEY = config.s3.credentials.secretAccessKey;
  }
  env.AWS_REGION = config.s3.region;
  env.REDIS_URL = config.redisUrl;
  env.QUEUE_PREFIX = config.queuePrefix;
  env.LOG_LEVEL = 'info';
  if (config.auth.keyring.size > 0) env.API_KEYS = JSON.stringify(config.auth.keyring.entries());
  return { ...env, ...extra };
}

/**
 * `nodeArgs` go before the worker's own (e.g. `--expose-gc`, another `--import`, as the soak's probe is loaded).
 * `compiled`: run `dist/infra/worker.js` as deployed (infra/imagedrift-worker.service, infra/Dockerfile.worker; dist/
 * must be built) instead of the sources under tsx.
 */
export async function startWorkerProcess(name: string, env: NodeJS.ProcessEnv, nodeArgs: readonly string[] = [], opts: { compiled?: boolean } = {}): Promise<Child> {
  const args = opts.compiled ? [...nodeArgs, 'dist/infra/worker.js'] : ['--import', 'tsx', ...nodeArgs, 'infra/worker.ts'];
  const c = startChild(process.execPath, args, { cwd: REPO, env, name });
  await c.waitFor(/"msg":"worker ready"/, 60_000);
  return c;
}

/**
 * The seed train set (1000 LeNet inputs) repeated `copies` times, stored as a dataset through the presigned-upload
 * path, in `store` (a tenant's view of the bucket, where that tenant's jobs read it). Feature extraction of the plain
 * set takes a fraction of a second on CPU, too short to interrupt a fit reliably in the middle; the repeated set makes
 * the fit last seconds while using only real seed images.
 */
export async function putRepeatedTrainSet(store: ObjectStore & Presigner, id: string, copies: number): Promise<number> {
  const a = decodeNpy(new Uint8Array(await readFile(`${SEED}concept_train_lenet.npy`)));
  const data = new Float32Array(a.data.length * copies);
  for (let i = 0; i < copies; i++) data.set(a.data, i * a.data.length);
  const shape = [a.shape[0]! * copies, ...a.shape.slice(1)];
  const bytes = encodeNpy(data, shape, 'float32');
  const up = await presignDatasetUpload(store, { id, name: `${id}.npy`, contentLength: bytes.byteLength });
  const res = await fetch(up.url, { method: 'PUT', body: Buffer.from(bytes) });
  if (res.status !== 200) throw new Error(`PUT to the presigned URL failed: ${res.status}`);
  await completeDatasetUpload(store, { id });
  return shape[0]!;
}
