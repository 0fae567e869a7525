/** A real s3rver (infra/s3-local.ts) on loopback for tests, plus an S3Store over it. */
import { randomUUID } from 'node:crypto';
import { startS3Local, type S3Local } from '../../infra/s3-local.js';
import { createS3Client, S3Store } from '../../src/storage/s3-store.js';

export interface TestS3 {
  readonly s3: S3Local;
  /** A store over the bucket. */
  readonly store: S3Store;
  /** A fresh key space in the shared bucket: a unique `t-<uuid>/` prefix. */
  prefix(): string;
  stop(): Promise<void>;
}

export async function startTestS3(opts: { bucket?: string; maxAttempts?: number } = {}): Promise<TestS3> {
  const s3 = await startS3Local({ bucket: opts.bucket ?? 'test-bucket' });
  const client = createS3Client({ endpoint: s3.endpoint, region: s3.region, forcePathStyle: true, credentials: s3.credentials, ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}) });
  const store = new S3Store({ client, bucket: s3.bucket });
  return {
    s3,
    store,
    prefix: () => `t-${randomUUID()}/`,
    async stop() {
      client.destroy();
      await s3.stop();
    },
  };
}
