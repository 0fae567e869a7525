import { Redis } from 'ioredis';
import { JobClient } from '../queue/client.js';
import { getDeps } from './deps.js';

/**
 * The job client for handlers that enqueue or read jobs (fit, calibrate, predict, jobStatus), cached per container.
 * Its Redis connection fails requests fast (a handler answers 503 rather than hanging until the Lambda timeout).
 */
let client: JobClient | undefined;
let connection: Redis | undefined;

export function getJobClient(): JobClient {
  if (!client) {
    const { config } = getDeps();
    connection = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 5000 });
    client = new JobClient({ connection, prefix: config.queuePrefix, attempts: config.jobs.attempts, backoffMs: config.jobs.backoffMs });
  }
  return client;
}

/** Closes the cached client and the connection it created. */
export async function closeJobClient(): Promise<void> {
  const c = client;
  const conn = connection;
  client = undefined;
  connection = undefined;
  if (c && conn) {
    await c.close();
    await conn.quit().catch(() => undefined);
  }
}
