import { z } from 'zod';
import { Keyring, parseKeyring } from './auth/api-keys.js';
import { InputError } from './core/errors.js';
import { DEFAULT_MAX_JOBS_PER_TENANT, MAX_MAX_JOBS_PER_TENANT } from './queue/quota.js';
import { DEFAULT_MAX_BODY_BYTES } from './service/limits.js';
import { SERVICE_PREFIXES, TENANTS_PREFIX } from './storage/keys.js';

/**
 * The service's configuration, read once from the environment and validated with zod. Every error names the
 * environment variable. Handlers, the worker and the audit all read this one object (src/http/deps.ts caches it).
 *
 *   S3_BUCKET                   required: the bucket holding all state (layout: README "S3 state layout")
 *   S3_ENDPOINT                 optional: an S3-compatible endpoint (local s3rver); omitted = AWS
 *   S3_FORCE_PATH_STYLE         default true when S3_ENDPOINT is set, false otherwise
 *   S3_ACCESS_KEY_ID /          optional, local endpoints only: explicit credentials. Omitted = the SDK's default
 *   S3_SECRET_ACCESS_KEY          chain (Lambda/instance role, AWS_* variables, profile)
 *   AWS_REGION                  default us-east-1
 *   REDIS_URL                   default redis://127.0.0.1:6379, except on Lambda (AWS_LAMBDA_FUNCTION_NAME is set), where
 *                               it is required: a deployed function must never quietly use its own loopback
 *   QUEUE_PREFIX                BullMQ key prefix (default "imagedrift"); also prefixes the version coordinator's keys
 *   WORKER_CONCURRENCY          jobs one worker process runs at once (default 1; ORT already uses several threads)
 *   WORKER_LOCK_DURATION_MS     BullMQ lock duration (default 60000): a job whose worker stops renewing it for this
 *   WORKER_STALLED_INTERVAL_MS    long is found by the stalled check (every STALLED_INTERVAL, default 30000 or the lock
 *                                 duration if shorter; at most the lock duration) and retried
 *   WORKER_SHUTDOWN_TIMEOUT_MS  after SIGTERM, the longest wait for active jobs (and Redis) before the process exits
 *                               anyway (default 540000, under systemd's TimeoutStopSec=600 in infra/)
 *   JOB_ATTEMPTS                attempts for transient failures (default 5); input errors fail at once
 *   JOB_BACKOFF_MS              first retry delay, doubled per attempt (default 2000)
 *   MAX_JOBS_PER_TENANT         jobs one tenant may have in flight (waiting, delayed for a retry, or running; default
 *                               20, at most 10000); one more is refused with 429 (src/queue/quota.ts). Read where jobs
 *                               are enqueued (the functions), like JOB_ATTEMPTS
 *   ORT_EXECUTION_PROVIDERS     comma-separated, in order of preference, e.g. "cuda,cpu" (default "cpu")
 *   ORT_INTRA_OP_THREADS        ORT intra-op threads (default: ORT's choice)
 *   FIT_THREADS                 most threads one feature-cluster fit spreads its KMeans initialisations over (default:
 *                               the cores; never more than nInit). The fitted detector is the same for every value
 *   SYNC_PREDICT_MAX_IMAGES     predict requests with at most this many samples are answered inline (default 64)
 *   INCOMING_PREFIX             prefix watched by checkObject (default "incoming/"); not under tenants/ or another
 *                               prefix the service writes to, and not holding API_KEYS_OBJECT
 *   DETECTOR_ID                 detector used by checkObject; omitted = the key segment after the tenant (<prefix><tenant>/<detector>/…)
 *   LOG_LEVEL                   pino level (default info)
 *   API_KEYS                    the keyring inline: JSON [{"id","tenant","sha256"}] (hashes only; `imagedrift keygen`)
 *   API_KEYS_OBJECT             and/or a key in the bucket holding the same JSON (e.g. "auth/api-keys.json"), re-read
 *                               at most every API_KEYS_TTL_MS (default 60000). With neither, every request gets 401.
 *   METRICS                     "emf": audit metrics as CloudWatch embedded-metric-format lines on stdout
 *                               (src/cloudwatch-metrics.ts; serverless.yml sets it); "off" (default) elsewhere
 *   MAX_BODY_BYTES              largest HTTP request body accepted (default 6291456 = Lambda's 6 MB request limit)
 */
const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const opt = <T extends z.ZodTypeAny>(s: T) => z.preprocess(emptyToUndefined, s.optional());
/** A decimal integer in [min, max]: "0x10", "1e1", "2.0" and " 5" are refused, not coerced. */
const int = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a decimal integer')
    .transform(Number)
    .pipe(z.number().min(min, `must be >= ${min}`).max(max, `must be <= ${max}`));
/**
 * `scheme://host[:port]` with one of the given schemes, written out (`http:/x` is not silently read as `http://x`), a
 * host, a numeric port if any, and no path beyond `/` (or a database number, for Redis).
 */
const serviceUrl = (schemes: readonly string[], example: string) =>
  z.string().refine((v) => {
    const scheme = /^([a-z]+):\/\//.exec(v)?.[1];
    if (scheme === undefined || !schemes.includes(scheme)) return false;
    try {
      const u = new URL(v);
      // Redis URLs may carry connection options as query parameters (ioredis reads e.g. ?family=6).
      return u.hostname !== '' && /^\/?\d*$/.test(u.pathname) && (u.search === '' || scheme.startsWith('redis')) && u.hash === '';
    } catch {
      return false; // e.g. a port that is not a number
    }
  }, `must be ${schemes.map((s) => `${s}://`).join(' or ')}host[:port], e.g. ${example}`);
/** Prefixes (at the bucket root) that the service itself writes to. */
const OWN_PREFIXES: readonly string[] = [TENANTS_PREFIX, ...SERVICE_PREFIXES];
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const envSchema = z.object({
  S3_BUCKET: z.preprocess(emptyToUndefined, z.string({ error: 'is required (the bucket holding detectors, datasets and jobs)' }).regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'is not a valid bucket name')),
  S3_ENDPOINT: opt(serviceUrl(['http', 'https'], 'http://127.0.0.1:4569')),
  S3_FORCE_PATH_STYLE: opt(bool),
  S3_ACCESS_KEY_ID: opt(z.string()),
  S3_SECRET_ACCESS_KEY: opt(z.string()),
  AWS_REGION: opt(z.string().regex(/^[a-z0-9-]+$/, 'is not a region name')),
  AWS_LAMBDA_FUNCTION_NAME: opt(z.string()),
  REDIS_URL: opt(serviceUrl(['redis', 'rediss'], 'redis://127.0.0.1:6379')),
  QUEUE_PREFIX: opt(z.string().regex(/^[A-Za-z0-9_.:{}-]{1,96}$/, 'must be 1-96 characters of [A-Za-z0-9_.:{}-]')),
  WORKER_CONCURRENCY: opt(int(1, 256)),
  WORKER_LOCK_DURATION_MS: opt(int(500, 3_600_000)),
  WORKER_STALLED_INTERVAL_MS: opt(int(250, 3_600_000)),
  WORKER_SHUTDOWN_TIMEOUT_MS: opt(int(100, 86_400_000)),
  JOB_ATTEMPTS: opt(int(1, 100)),
  JOB_BACKOFF_MS: opt(int(0, 3_600_000)),
  MAX_JOBS_PER_TENANT: opt(int(1, MAX_MAX_JOBS_PER_TENANT)),
  ORT_EXECUTION_PROVIDERS: opt(z.string().regex(/^\s*[A-Za-z0-9_]+\s*(,\s*[A-Za-z0-9_]+\s*)*$/, 'must be a comma-separated list of provider names, e.g. "cuda,cpu"')),
  ORT_INTRA_OP_THREADS: opt(int(1, 1024)),
  FIT_THREADS: opt(int(1, 1024)),
  SYNC_PREDICT_MAX_IMAGES: opt(int(0, 100_000)),
  INCOMING_PREFIX: opt(
    z
      .string()
      .regex(/^([A-Za-z0-9_.-]+\/)+$/, 'must be a key prefix ending in "/", e.g. "incoming/"')
      .refine((s) => !s.split('/').includes('..'), 'must not contain ".."')
      // checkObject writes its results (and the service all its state) under these: an S3 event on them would fire
      // checkObject on the service's own writes, and results under the watched prefix would fire it again, forever.
      .refine((s) => !OWN_PREFIXES.some((p) => s.startsWith(p)), `must not be under a prefix the service writes to (${OWN_PREFIXES.join(', ')})`),
  ),
  DETECTOR_ID: opt(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be 1-64 characters of [A-Za-z0-9_-]')),
  LOG_LEVEL: opt(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
  API_KEYS: opt(z.string()),
  API_KEYS_OBJECT: opt(z.string().regex(/^[A-Za-z0-9_.=-]+(\/[A-Za-z0-9_.=-]+)*$/, 'must be a key in the bucket, e.g. "auth/api-keys.json"').refine((k) => !k.startsWith(TENANTS_PREFIX) && !k.split('/').some((s) => s === '.' || s === '..'), 'must be outside tenants/ and have no "." or ".." segments')),
  API_KEYS_TTL_MS: opt(int(0, 86_400_000)),
  METRICS: opt(z.enum(['emf', 'off'])),
  // At most Lambda's own request limit: a larger value could never take effect.
  MAX_BODY_BYTES: opt(int(1024, DEFAULT_MAX_BODY_BYTES)),
});

export interface Config {
  readonly s3: {
    readonly bucket: string;
    readonly endpoint?: string;
    readonly region: string;
    readonly forcePathStyle: boolean;
    readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  };
  readonly redisUrl: string;
  readonly queuePrefix: string;
  readonly worker: { readonly concurrency: number; readonly lockDurationMs: number; readonly stalledIntervalMs: number; readonly shutdownTimeoutMs: number; readonly fitThreads?: number };
  readonly jobs: { readonly attempts: number; readonly backoffMs: number; readonly maxPerTenant: number };
  readonly ort: { readonly executionProviders: string[]; readonly intraOpNumThreads?: number };
  readonly syncPredictMaxImages: number;
  readonly incomingPrefix: string;
  readonly detectorId?: string;
  readonly logLevel: string;
  readonly auth: {
    /** The inline keyring (API_KEYS), validated here so a bad entry fails at start-up, naming the variable. */
    readonly keyring: Keyring;
    readonly keysObject?: string;
    readonly keysTtlMs: number;
  };
  readonly maxBodyBytes: number;
  /** Where service metrics go: CloudWatch EMF lines on stdout, or nowhere. */
  readonly metrics: 'emf' | 'off';
}

/** Variables whose values are never echoed in an error (they end up in logs). */
const SECRET_VARIABLES = new Set(['S3_ACCESS_KEY_ID', 'S3_SECRET_ACCESS_KEY', 'API_KEYS']);

/** `scheme://user:password@host` → `scheme://***@host`: a URL's credentials never reach a log. */
function redactUserinfo(v: string): string {
  return v.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/?#]*@/i, '$1***@');
}

/** Every variable the configuration reads (serverless.yml must set no other). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** Reads and validates the configuration; throws an InputError whose field is the offending variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const r = envSchema.safeParse(env);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const name = String(issue.path[0] ?? 'environment');
    const got = env[name];
    throw new InputError(name, `${issue.message}${got !== undefined && !SECRET_VARIABLES.has(name) ? ` (got ${JSON.stringify(redactUserinfo(got))})` : ''}`);
  }
  const e = r.data;
  const lock = e.WORKER_LOCK_DURATION_MS ?? 60_000;
  // Default: every 30 s, or as often as the lock lasts when it is shorter (a lock of 20 s alone is valid).
  const stalledIntervalMs = e.WORKER_STALLED_INTERVAL_MS ?? Math.min(30_000, lock);
  if (stalledIntervalMs > lock) {
    throw new InputError('WORKER_STALLED_INTERVAL_MS', `must be at most WORKER_LOCK_DURATION_MS (${lock}): a lapsed lock is only found at the next stalled check`);
  }
  if (e.REDIS_URL === undefined && e.AWS_LAMBDA_FUNCTION_NAME !== undefined) {
    // serverless.yml refuses to package a stage without it, but an empty value (a failed secret lookup) gets through.
    throw new InputError('REDIS_URL', 'is required on Lambda (the ElastiCache endpoint, set at deploy); it is missing or empty');
  }
  const incomingPrefix = e.INCOMING_PREFIX ?? 'incoming/';
  if (e.API_KEYS_OBJECT?.startsWith(incomingPrefix)) {
    throw new InputError('API_KEYS_OBJECT', `must be outside INCOMING_PREFIX (${incomingPrefix}): checkObject would read the keyring as data`);
  }
  if ((e.S3_ACCESS_KEY_ID === undefined) !== (e.S3_SECRET_ACCESS_KEY === undefined)) {
    const missing = e.S3_ACCESS_KEY_ID === undefined ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY';
    throw new InputError(missing, 'S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY must be set together');
  }
  return {
    s3: {
      bucket: e.S3_BUCKET,
      ...(e.S3_ENDPOINT !== undefined ? { endpoint: e.S3_ENDPOINT } : {}),
      region: e.AWS_REGION ?? 'us-east-1',
      forcePathStyle: e.S3_FORCE_PATH_STYLE ?? e.S3_ENDPOINT !== undefined,
      ...(e.S3_ACCESS_KEY_ID !== undefined ? { credentials: { accessKeyId: e.S3_ACCESS_KEY_ID, secretAccessKey: e.S3_SECRET_ACCESS_KEY! } } : {}),
    },
    redisUrl: e.REDIS_URL ?? 'redis://127.0.0.1:6379',
    queuePrefix: e.QUEUE_PREFIX ?? 'imagedrift',
    worker: {
      concurrency: e.WORKER_CONCURRENCY ?? 1,
      lockDurationMs: e.WORKER_LOCK_DURATION_MS ?? 60_000,
      stalledIntervalMs,
      shutdownTimeoutMs: e.WORKER_SHUTDOWN_TIMEOUT_MS ?? 540_000,
      ...(e.FIT_THREADS !== undefined ? { fitThreads: e.FIT_THREADS } : {}),
    },
    jobs: { attempts: e.JOB_ATTEMPTS ?? 5, backoffMs: e.JOB_BACKOFF_MS ?? 2000, maxPerTenant: e.MAX_JOBS_PER_TENANT ?? DEFAULT_MAX_JOBS_PER_TENANT },
    ort: {
      executionProviders: (e.ORT_EXECUTION_PROVIDERS ?? 'cpu').split(',').map((s) => s.trim().toLowerCase()),
      ...(e.ORT_INTRA_OP_THREADS !== undefined ? { intraOpNumThreads: e.ORT_INTRA_OP_THREADS } : {}),
    },
    syncPredictMaxImages: e.SYNC_PREDICT_MAX_IMAGES ?? 64,
    incomingPrefix,
    ...(e.DETECTOR_ID !== undefined ? { detectorId: e.DETECTOR_ID } : {}),
    logLevel: e.LOG_LEVEL ?? 'info',
    auth: {
      keyring: e.API_KEYS !== undefined ? parseKeyring(e.API_KEYS, 'API_KEYS') : new Keyring([]),
      ...(e.API_KEYS_OBJECT !== undefined ? { keysObject: e.API_KEYS_OBJECT } : {}),
      keysTtlMs: e.API_KEYS_TTL_MS ?? 60_000,
    },
    maxBodyBytes: e.MAX_BODY_BYTES ?? DEFAULT_MAX_BODY_BYTES,
    metrics: e.METRICS ?? 'off',
  };
}
