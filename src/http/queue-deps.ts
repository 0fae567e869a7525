import { Redis } from 'ioredis';
import { JobClient } from '../queue/client.js';
import { closeRedis } from '../queue/redis.js';
import { getDeps } from './deps.js';

/**
 * The job client for handlers that enqueue or read jobs (fit, calibrate, predict, jobStatus), cached per container.
 * Its Redis connection fails requests fast (a handler answers 503 rather than hanging until the Lambda timeout).
 */
let client: JobClient | undefined;
let connection: Redis | undefined;

/**
 * A command unanswered this long fails (a 503): a Redis that stops answering on a connection that is already up (a
 * failed primary, a partition without a reset) otherwise holds the request until Lambda kills the function at its 29 s
 * (serverless.yml), and API Gateway answers a bare 500. `readyTimeoutMs` only bounds the first connection.
 */
const QUEUE_COMMAND_TIMEOUT_MS = 5000;

export function getJobClient(): JobClient {
  if (!client) {
    const { config } = getDeps();
    connection = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 5000, commandTimeout: QUEUE_COMMAND_TIMEOUT_MS });
    client = new JobClient({ connection, prefix: config.queuePrefix, attempts: config.jobs.attempts, backoffMs: config.jobs.backoffMs, maxJobsPerTenant: config.jobs.maxPerTenant });
  }
  return client;
}

/** Closes the cached client and the connection it created, also while Redis is down (src/queue/redis.ts). */
export async function closeJobClient(): Promise<void> {
  const c = client;
  const conn = connection;
  client = undefined;
  connection = undefined;
  if (c && conn) {
    await c.close();
    await closeRedis(conn);
  }
}
