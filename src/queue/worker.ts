import { hostname } from 'node:os';
import { Redis } from 'ioredis';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Config } from '../config.js';
import { isImagedriftError } from '../core/errors.js';
import { createLogger, repeatLimiter, type Logger } from '../log.js';
import { closeExtractors } from '../service/extractor-cache.js';
import { prefillOffThread } from '../service/prefill.js';
import { RedisCoordinator } from '../storage/redis-coordinator.js';
import { createS3Client, S3Store } from '../storage/s3-store.js';
import { keepFairOrder } from './fair-order.js';
import { summarise, TENANT_FIELD } from './jobs.js';
import { QUEUE_NAME } from './names.js';
import { closeRedis } from './redis.js';
import { RenewingQueue } from './renewing-queue.js';
import { isPermanentError, processJob, releaseJobInputs, type ProcessorDeps } from './processor.js';

export { isPermanentError };

/**
 * The long-running BullMQ worker (entry point: infra/worker.ts).
 *
 * - Concurrency, lock duration and stalled-check interval come from config. A worker renews each job's lock every
 *   lockDuration/2; if the process dies (SIGKILL, OOM, node loss) the lock lapses, the next stalled check (any worker)
 *   moves the job back to waiting, and it runs again. The processor's job-id idempotency makes that rerun safe.
 * - Retries: transient failures (S3 5xx/throttling/network, Redis connection loss, a lost pointer race) are thrown as
 *   they are, so BullMQ retries them with the job's exponential backoff (JOB_ATTEMPTS, JOB_BACKOFF_MS; set by
 *   src/queue/client.ts). Input errors (bad payload, a missing or invalid tenant, missing dataset/detector, unfitted
 *   detector, unusable model) and a calibration whose detector was re-fitted meanwhile (StaleBaseError)
 *   become `UnrecoverableError`: the job fails at once, and `failedReason` holds the error as JSON {code,message,field}.
 * - Tenancy: each job works in its tenant's view of the bucket (src/queue/processor.ts); a job without a tenant fails
 *   as above ({code: 'INVALID_INPUT', field: 'tenant'}) without reading or writing anything.
 * - Shutdown: SIGTERM/SIGINT → `worker.close()`, which stops taking jobs and waits for the active ones to finish; a
 *   second signal forces it (the active job's lock then lapses and another worker picks it up).
 * - ORT execution providers come from config (e.g. cuda,cpu); src/model/session.ts falls back to CPU with a warning.
 */
export interface WorkerHandle {
  readonly worker: Worker;
  readonly deps: ProcessorDeps;
  /** Stops taking jobs, waits for active ones (or abandons them with `force`), closes connections. Idempotent. */
  close(force?: boolean): Promise<void>;
}

export interface StartWorkerOptions {
  readonly logger?: Logger;
  /** Install SIGTERM/SIGINT handlers that close the worker and exit the process (default true). */
  readonly handleSignals?: boolean;
}

/**
 * A job's log lines carry its id, kind, attempt, tenant and detector, as fields (never only in the text). `attempt`
 * counts as BullMQ's retries do (failed attempts + 1); a stalled run (its worker died) is no failed attempt, so the
 * rerun logs the same `attempt`, and `started` (runs begun by any worker, this one included) and `stalls` tell them apart.
 */
function jobLogger(logger: Logger, job: Job): Logger {
  const data = (job.data ?? {}) as Record<string, unknown>;
  return logger.child({
    jobId: job.id,
    kind: job.name,
    attempt: job.attemptsMade + 1,
    started: job.attemptsStarted,
    ...(job.stalledCounter > 0 ? { stalls: job.stalledCounter } : {}),
    ...(typeof data[TENANT_FIELD] === 'string' ? { tenant: data[TENANT_FIELD] } : {}),
    ...(typeof data.detector === 'string' ? { detector: data.detector } : {}),
  });
}

/**
 * BullMQ's reason for a job that stalled more often than `maxStalledCount`: its stalled check marks the job
 * (moveStalledJobsToWait), and the next worker to take it fails it at once with this message as an UnrecoverableError.
 */
const STALLED_OUT = 'job stalled more than allowable limit';

export async function startWorker(config: Config, opts: StartWorkerOptions = {}): Promise<WorkerHandle> {
  // Which worker (node and process) ran an attempt: a stalled job is reported by the worker that finds it, not the one
  // that died, and several GPU nodes share one log.
  const logger = opts.logger ?? createLogger(config.logLevel, { role: 'worker', hostname: hostname(), pid: process.pid });
  // BullMQ's blocking connection must retry forever; the coordinator's fails fast so a Redis outage becomes a retry.
  const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
  const coordinatorRedis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  // ioredis reconnects by itself (its default retryStrategy, forever); its 'error' events are only notices. Without a
  // listener ioredis prints every failed reconnect as an "Unhandled error event" on the console; log the first one of
  // an outage and the recovery instead (commands in the outage reject and become retried TransientStorageErrors).
  let coordinatorDown = false;
  coordinatorRedis.on('error', (e: Error) => {
    if (!coordinatorDown) logger.warn({ err: e }, 'coordinator redis connection lost; reconnecting');
    coordinatorDown = true;
  });
  // A Redis that shuts down cleanly (SIGTERM) closes the socket without an 'error' event: count the close as an outage
  // too, so its recovery is logged as well.
  coordinatorRedis.on('close', () => {
    if (!coordinatorDown && coordinatorRedis.status !== 'end') logger.warn('coordinator redis connection closed; reconnecting');
    coordinatorDown = coordinatorRedis.status !== 'end';
  });
  coordinatorRedis.on('ready', () => {
    if (coordinatorDown) logger.info('coordinator redis reconnected');
    coordinatorDown = false;
  });
  const client = createS3Client({
    ...(config.s3.endpoint !== undefined ? { endpoint: config.s3.endpoint } : {}),
    region: config.s3.region,
    forcePathStyle: config.s3.forcePathStyle,
    ...(config.s3.credentials ? { credentials: config.s3.credentials } : {}),
  });
  const deps: ProcessorDeps = {
    store: new S3Store({ client, bucket: config.s3.bucket }),
    coordinator: new RedisCoordinator(coordinatorRedis, { keyPrefix: `${config.queuePrefix}:coord:` }),
    logger,
    runtime: { executionProviders: config.ort.executionProviders, ...(config.ort.intraOpNumThreads !== undefined ? { intraOpNumThreads: config.ort.intraOpNumThreads } : {}), feeder: prefillOffThread },
    ...(config.worker.fitThreads !== undefined ? { fitThreads: config.worker.fitThreads } : {}),
  };

  // Jobs this worker is running (its processor has not returned): close() waits for them when Redis is down.
  let running = 0;
  let idle: (() => void) | undefined;
  const worker = new Worker(
    QUEUE_NAME,
    async (job: Job) => {
      const log = jobLogger(logger, job);
      log.info('job started');
      running++;
      try {
        return summarise(await processJob({ ...deps, logger: log }, job));
      } catch (e) {
        if (isPermanentError(e) && isImagedriftError(e)) {
          log.error({ err: e, code: e.code }, `job failed permanently (${e.code}; no retry can fix it)`);
          throw new UnrecoverableError(JSON.stringify(e.toJSON()));
        }
        const left = (job.opts.attempts ?? 1) - (job.attemptsMade + 1);
        if (left > 0) log.warn({ err: e, attemptsLeft: left }, 'job attempt failed; BullMQ retries it with backoff');
        else log.error({ err: e, attempts: job.opts.attempts ?? 1 }, 'job attempt failed; no attempts left, the job has failed');
        throw e;
      } finally {
        if (--running === 0) idle?.();
      }
    },
    {
      connection,
      prefix: config.queuePrefix,
      concurrency: config.worker.concurrency,
      lockDuration: config.worker.lockDurationMs,
      stalledInterval: config.worker.stalledIntervalMs,
      maxStalledCount: 1,
      autorun: true,
    },
  );
  // One line per message a minute at most, with how many were held back (`repeated`): BullMQ raises this on every
  // failed reconnect through a Redis outage.
  const errorLines = repeatLimiter();
  worker.on('error', (e) => {
    const held = errorLines(e.message);
    if (held !== undefined) logger.error({ err: e, ...(held > 0 ? { repeated: held } : {}) }, 'worker error');
  });
  worker.on('stalled', (jobId) => logger.warn({ jobId }, 'job stalled (its worker stopped renewing the lock); it will run again'));
  // A failed attempt is logged once, above, where its cause is known; 'failed' also fires for stalled jobs that ran out,
  // which no processJob saw fail: what they stored for themselves (a predict's request images) is released here. Only
  // BullMQ's own stall failure (final: it is unrecoverable), never an attempt whose message merely mentions a stall.
  // close() waits for releases under way.
  const releasing = new Set<Promise<void>>();
  worker.on('failed', (job, e) => {
    if (!job || e.message !== STALLED_OUT) return;
    const log = jobLogger(logger, job);
    log.error({ err: e.message }, 'job failed: stalled more than allowed');
    const p = releaseJobInputs({ ...deps, logger: log }, job).finally(() => releasing.delete(p));
    releasing.add(p);
  });

  // Round robin across tenants (src/queue/fair-order.ts): when a job ends, its tenant's waiting jobs move up a rank.
  // The re-rank works on the coordinator's connection, which fails fast in an outage (a re-rank is then skipped).
  const rankQueues = new RenewingQueue(coordinatorRedis, config.queuePrefix);
  const fairOrder = keepFairOrder(worker, () => rankQueues.get(), coordinatorRedis, config.queuePrefix, logger);

  let closing: Promise<void> | undefined;
  const close = (force = false): Promise<void> => {
    if (closing && !force) return closing;
    const p = (async () => {
      // BullMQ's orderly close never returns while Redis is down: it interrupts its blocking connection with a
      // disconnect that waits for an 'end' event ioredis never emits for a connection that is reconnecting
      // (taskforcesh/bullmq#4656), and its lock-renewal and stalled-check timers then keep the process alive. So with
      // Redis down the close pauses the worker (locally: no new job, even if Redis returns meanwhile), lets the jobs this
      // worker is running return, then forces BullMQ's close (which drops its connections without waiting): a job
      // whose completion could not reach Redis is rerun by a stalled check, as after a crash.
      if (!force && connection.status !== 'ready') {
        await worker.pause(true);
        if (running > 0) await new Promise<void>((resolve) => (idle = resolve));
        await worker.close(true);
      } else await worker.close(force);
      await Promise.allSettled([...releasing]);
      await fairOrder.idle();
      await rankQueues.close().catch(() => undefined);
      await Promise.all([closeRedis(coordinatorRedis), closeRedis(connection)]);
      await closeExtractors();
      client.destroy();
    })();
    closing = p;
    return p;
  };

  // Signals are handled from here on, before the worker reports ready (autorun has already started it).
  // First SIGTERM/SIGINT: stop taking jobs and let the active ones finish, for at most shutdownTimeoutMs (a close also
  // waits on Redis, which may be down). Second signal, or the timeout: exit at once; the active jobs' locks lapse and
  // another worker's stalled check runs them again (BullMQ ignores `force` once a close is under way, so exiting is
  // the only way to stop waiting).
  if (opts.handleSignals ?? true) {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals): void => {
      signals++;
      if (signals > 1) {
        logger.warn({ signal: sig }, 'second signal: exiting without waiting for active jobs (another worker reruns them)');
        process.exit(1);
      }
      logger.info({ signal: sig, timeoutMs: config.worker.shutdownTimeoutMs }, 'shutting down: finishing active jobs');
      setTimeout(() => {
        logger.error({ timeoutMs: config.worker.shutdownTimeoutMs }, 'shutdown timed out: exiting without waiting for active jobs (another worker reruns them)');
        process.exit(1);
      }, config.worker.shutdownTimeoutMs).unref();
      close().then(
        () => {
          logger.info('worker closed');
          process.exit(0);
        },
        (e: unknown) => {
          logger.error({ err: e }, 'worker close failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
  await worker.waitUntilReady();
  logger.info({ queue: QUEUE_NAME, prefix: config.queuePrefix, concurrency: config.worker.concurrency, providers: config.ort.executionProviders, bucket: config.s3.bucket }, 'worker ready');
  return { worker, deps, close };
}
