/** Handler-level test setup: a real s3rver bucket and a real Redis queue prefix, injected into src/http/deps. */
import type { Redis } from 'ioredis';
import { hashApiKey } from '../../src/auth/api-keys.js';
import { loadConfig, type Config } from '../../src/config.js';
import { resetDeps, setDeps } from '../../src/http/deps.js';
import { closeJobClient, getJobClient } from '../../src/http/queue-deps.js';
import { createLogger } from '../../src/log.js';
import type { JobResult } from '../../src/queue/jobs.js';
import { processJob, type ProcessorDeps } from '../../src/queue/processor.js';
import { closeExtractors } from '../../src/service/extractor-cache.js';
import { cleanupPrefix, connectRedis, REDIS_URL, uniquePrefix } from './redis.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { RedisCoordinator } from '../../src/storage/redis-coordinator.js';
import { tenantStore } from '../../src/storage/tenant-store.js';
import { TEST_API_KEY, TEST_TENANT } from './http-event.js';
import { startTestS3, type TestS3 } from './s3.js';

export interface ServiceFixture {
  readonly s3: TestS3;
  readonly redis: Redis;
  /** QUEUE_PREFIX (no trailing ':'): every Redis key the service writes starts with it. */
  readonly queuePrefix: string;
  readonly config: Config;
  /** The test tenant (TEST_TENANT, whose key httpEvent sends) and its view of the bucket, which handlers work in. */
  readonly tenant: string;
  readonly store: ObjectStore;
  /** Every key in the test tenant's view, sorted. */
  keys(): Promise<string[]>;
  /** Every key in the whole bucket, sorted ("nothing written anywhere" checks). */
  allKeys(): Promise<string[]>;
  /** Jobs in the queue, any state. */
  jobCount(): Promise<number>;
  /**
   * What the worker gives the processor: the whole bucket (each job works in its tenant's view of it) and the
   * fixture's Redis coordinator (`<queuePrefix>:coord:`, as src/queue/worker.ts names it), on CPU.
   */
  readonly processorDeps: ProcessorDeps;
  /**
   * Runs a job in-process as the worker would, as the test tenant: `payload` plus the tenant field JobClient.enqueue
   * adds, so the job reads and writes `store` (the tenant's view), never the bucket root.
   */
  runJob(id: string, name: string, payload: Record<string, unknown>): Promise<JobResult>;
  stop(): Promise<void>;
}

export async function startServiceFixture(env: Record<string, string> = {}): Promise<ServiceFixture> {
  const s3 = await startTestS3({ bucket: 'imagedrift-test' });
  const redis = connectRedis();
  const queuePrefix = uniquePrefix().replace(/:$/, '');
  const config = loadConfig({
    S3_BUCKET: s3.s3.bucket,
    S3_ENDPOINT: s3.s3.endpoint,
    S3_ACCESS_KEY_ID: s3.s3.credentials.accessKeyId,
    S3_SECRET_ACCESS_KEY: s3.s3.credentials.secretAccessKey,
    REDIS_URL,
    QUEUE_PREFIX: queuePrefix,
    LOG_LEVEL: 'silent',
    API_KEYS: JSON.stringify([{ id: 'test-key', tenant: TEST_TENANT, sha256: hashApiKey(TEST_API_KEY) }]),
    ...env,
  });
  setDeps({ config, store: s3.store, logger: createLogger('silent') });
  const store = tenantStore(s3.store, TEST_TENANT);
  const processorDeps: ProcessorDeps = { store: s3.store, coordinator: new RedisCoordinator(redis, { keyPrefix: `${queuePrefix}:coord:` }), logger: createLogger('silent'), runtime: { executionProviders: ['cpu'] } };
  return {
    s3,
    redis,
    queuePrefix,
    config,
    tenant: TEST_TENANT,
    store,
    keys: async () => (await store.list('')).map((o) => o.key),
    allKeys: async () => (await s3.store.list('')).map((o) => o.key),
    jobCount: async () => {
      const counts = await getJobClient().queue.getJobCounts();
      return Object.values(counts).reduce((a, b) => a + b, 0);
    },
    processorDeps,
    runJob: (id, name, payload) => processJob(processorDeps, { id, name, data: { ...payload, tenant: TEST_TENANT }, updateProgress: async () => undefined }),
    async stop() {
      await closeJobClient();
      resetDeps();
      await closeExtractors();
      await cleanupPrefix(redis, queuePrefix);
      await redis.quit();
      await s3.stop();
    },
  };
}
