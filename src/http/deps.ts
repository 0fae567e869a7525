import { loadConfig, type Config } from '../config.js';
import { bindMissing, createLogger, type Logger } from '../log.js';
import type { ObjectStore } from '../storage/object-store.js';
import { createS3Client, S3Store } from '../storage/s3-store.js';
import { loadKeyring } from './auth.js';
import type { LambdaContext } from './events.js';

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

/**
 * S3 timeouts of the functions. The client's defaults (src/storage/s3-store.ts: 5 s connect, 30 s idle socket, 3 SDK
 * attempts, sized for the worker) let one request to an S3 that accepts connections but never answers run ~99 s (the
 * SDK arms an idle timeout of 6 s or more only 3 s after the request starts), past the HTTP functions' 29 s
 * (serverless.yml `provider.timeout`): Lambda then kills the function, and the client gets API Gateway's bare 500
 * instead of the 503 with Retry-After. 3 attempts × (2 s connect + 5 s idle) and the SDK's backoff stay under it. The
 * idle timer restarts whenever data flows, so a large transfer (a 256 MiB dataset) is not cut short.
 */
const FUNCTION_S3_TIMEOUTS = { connectionTimeoutMs: 2_000, socketTimeoutMs: 5_000 } as const;

/**
 * What every function's log line says about where it came from: `role: function` (HTTP routes, the audit schedule
 * and the S3-event check alike) and, on Lambda (and serverless offline), the function's name, so the audit's and
 * checkObject's lines are told from the HTTP routes' without parsing the message.
 */
export function functionLogBindings(env: NodeJS.ProcessEnv): Record<string, string> {
  const name = env.AWS_LAMBDA_FUNCTION_NAME;
  return { role: 'function', ...(name ? { function: name } : {}) };
}

let cached: Deps | undefined;
let overrides: Partial<Deps> = {};

export function getDeps(): Deps {
  if (!cached) {
    const config = overrides.config ?? loadConfig(process.env);
    const logger = overrides.logger ?? createLogger(config.logLevel, functionLogBindings(process.env));
    const store =
      overrides.store ??
      new S3Store({
        client: createS3Client({
          ...FUNCTION_S3_TIMEOUTS,
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

/**
 * What a scheduled run (the audit and retention functions) takes from its invocation: the dependencies, a logger
 * bound to Lambda's invocation id (to tie every line of the run to its START/REPORT and timeout lines), the
 * invocation's time left, and the tenants of the keyring (read when the run asks).
 */
export function scheduledRunDeps(context?: LambdaContext): Deps & { tenants: () => Promise<string[]>; remainingMs?: () => number } {
  const { config, store, logger } = getDeps();
  const remaining = context?.getRemainingTimeInMillis?.bind(context);
  return {
    config,
    store,
    logger: bindMissing(logger, { awsRequestId: context?.awsRequestId }),
    tenants: async () => (await loadKeyring(config, store)).tenants(),
    ...(remaining ? { remainingMs: remaining } : {}),
  };
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
