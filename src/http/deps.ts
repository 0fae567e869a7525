import { loadConfig, type Config } from '../config.js';
import { createLogger, type Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { createS3Client, S3Store } from '../storage/s3-store.js';

/**
 * Dependencies of the HTTP/event handlers, created on first use from the environment and cached for the life of the
 * (warm) Lambda container or serverless-offline worker. Tests inject their own with `setDeps` and drop them with
 * `resetDeps`. The queue (Redis + BullMQ) lives in ./queue-deps.ts so functions that never enqueue do not bundle it.
 */
export interface Deps {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: ObjectStore;
}

let cached: Deps | undefined;
let overrides: Partial<Deps> = {};

export function getDeps(): Deps {
  if (!cached) {
    const config = overrides.config ?? loadConfig(process.env);
    const logger = overrides.logger ?? createLogger(config.logLevel, { role: 'http' });
    const store =
      overrides.store ??
      new S3Store({
        client: createS3Client({
          ...(config.s3.endpoint !== undefined ? { endpoint: config.s3.endpoint } : {}),
          region: config.s3.region,
          forcePathStyle: config.s3.forcePathStyle,
          ...(config.s3.credentials ? { credentials: config.s3.credentials } : {}),
        }),
        bucket: config.s3.bucket,
      });
    cached = { config, logger, store };
  }
  return cached;
}

/** Replaces some dependencies (tests); takes effect on the next getDeps(). */
export function setDeps(d: Partial<Deps>): void {
  overrides = { ...d };
  cached = undefined;
}

export function resetDeps(): void {
  if (cached && !overrides.store && cached.store instanceof S3Store) cached.store.client.destroy();
  overrides = {};
  cached = undefined;
}

/** ORT options for in-process scoring (sync predict, audits, checks). */
export function runtimeOptions(config: Config): { executionProviders: string[]; intraOpNumThreads?: number } {
  return { executionProviders: config.ort.executionProviders, ...(config.ort.intraOpNumThreads !== undefined ? { intraOpNumThreads: config.ort.intraOpNumThreads } : {}) };
}
