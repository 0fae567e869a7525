import { randomUUID } from 'node:crypto';
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { NotFoundError, TransientStorageError } from '../core/errors.js';
import { readStoredJson, type ObjectStore } from '../storage/object-store.js';
import { canPresign } from '../storage/tenant-store.js';
import { jobTenant, parseJobPayload, parseJobTenant, TENANT_FIELD, type JobPayload } from './jobs.js';
import { isJobName, type JobName } from './names.js';
import { priorityOfRank, rerankTenant } from './fair-order.js';
import { JobQuota } from './quota.js';
import { RenewingQueue } from './renewing-queue.js';
import { JOB_ID_PATTERN, jobKeys } from '../storage/keys.js';
import type { JobError, JobResult, JobResultSummary, JobStatus, LargeJobResult } from '../schemas.js';

export type { JobStatus } from '../schemas.js';

/**
 * What the HTTP handlers use: enqueue a validated job and look up its status. Job ids are UUIDs chosen here (not
 * BullMQ's per-queue counter), so `jobs/<jobId>/` in the bucket can never collide across queue resets. Every job
 * belongs to a tenant (required by every call): the worker refuses a job without one (src/queue/processor.ts). A tenant
 * may have at most `maxJobsPerTenant` jobs in flight; one more is refused with a TooManyJobsError (src/queue/quota.ts).
 * Waiting jobs start in turn across tenants, not first come, first served (src/queue/fair-order.ts).
 */
export interface JobClientOptions {
  readonly connection: Redis;
  readonly prefix: string;
  readonly attempts: number;
  readonly backoffMs: number;
  /**
   * How long a call waits for a Redis connection that is not ready (default 5000 ms). BullMQ itself waits for 'ready'
   * without limit, and ioredis retries forever: a cold function whose Redis is unreachable hung past its timeout.
   */
  readonly readyTimeoutMs?: number;
  /**
   * The most jobs one tenant may have in flight (waiting, delayed for a retry, or running); default 20
   * (MAX_JOBS_PER_TENANT). Every client of one queue should use the same value: each checks its own.
   */
  readonly maxJobsPerTenant?: number;
  /** How long a slot taken before its job is added holds without the job (ms; default 60 000, src/queue/quota.ts). */
  readonly reservationMs?: number;
}

/** The job queue's Redis did not become ready within `readyTimeoutMs`: transient (HTTP 503 with Retry-After). */
export class QueueUnavailableError extends TransientStorageError {}

/** Results larger than this are not inlined in the status response (a Lambda response is at most 6 MB). */
const INLINE_RESULT_LIMIT = 4 * 1024 * 1024;
/** Validity of a large result's download link (seconds). */
const RESULT_URL_EXPIRES_IN = 900;

export class JobClient {
  readonly quota: JobQuota;
  private readonly queues: RenewingQueue;
  private readonly connection: Redis;
  private readonly prefix: string;
  private readonly readyTimeoutMs: number;
  private wasReady = false;

  constructor(opts: JobClientOptions) {
    this.connection = opts.connection;
    this.prefix = opts.prefix;
    this.readyTimeoutMs = opts.readyTimeoutMs ?? 5000;
    // A connection error fails the call (a handler answers 503); a Queue whose connection setup failed is replaced.
    this.queues = new RenewingQueue(opts.connection, opts.prefix, {
      attempts: opts.attempts,
      backoff: { type: 'exponential', delay: opts.backoffMs },
      removeOnComplete: { age: 7 * 24 * 3600, count: 10_000 },
      removeOnFail: { age: 30 * 24 * 3600, count: 10_000 },
    });
    this.quota = new JobQuota({
      prefix: opts.prefix,
      queueKeys: { jobPrefix: this.queue.keys['']!, completed: this.queue.keys.completed!, failed: this.queue.keys.failed! },
      ...(opts.maxJobsPerTenant !== undefined ? { limit: opts.maxJobsPerTenant } : {}),
      ...(opts.reservationMs !== undefined ? { reservationMs: opts.reservationMs } : {}),
    });
  }

  /**
   * Validates the tenant and the payload (the job's schema) and enqueues it; returns the job id. `tenant` (set by the
   * HTTP layer from the caller's API key, never from the body) is required and travels with the job: the worker works
   * in that tenant's view of the bucket, `tenants/<tenant>/`, and only that tenant can read the job's status. A missing
   * or invalid tenant is an InputError naming `tenant`, thrown before anything reaches Redis; a tenant with
   * `maxJobsPerTenant` jobs in flight gets a TooManyJobsError, and nothing is enqueued.
   */
  async enqueue<N extends JobName>(name: N, payload: JobPayload<N>, tenant: string): Promise<string> {
    const t = parseJobTenant(tenant);
    const data = parseJobPayload(name, payload);
    return this.reserveAndAdd(name, t, async () => data);
  }

  /**
   * enqueue, for a payload that needs work done first (predict stores its inline images as a dataset): the tenant's
   * slot is taken before `prepare` runs, so a tenant at its limit is refused (TooManyJobsError) with nothing stored and
   * nothing enqueued. Then `prepare`'s payload is validated and enqueued. If `prepare`, the validation or the enqueue
   * fails, the slot is given back and the error rethrown; what `prepare` stored is the caller's to remove.
   */
  async enqueuePrepared<N extends JobName>(name: N, tenant: string, prepare: () => Promise<JobPayload<N>>): Promise<string> {
    const t = parseJobTenant(tenant);
    return this.reserveAndAdd(name, t, async () => parseJobPayload(name, await prepare()));
  }

  /** Takes a slot of tenant `t` (validated), then adds the job `data()` gives (validated); the slot is given back if that fails. */
  private async reserveAndAdd(name: JobName, t: string, data: () => Promise<object>): Promise<string> {
    await this.ready();
    // The connection BullMQ adds jobs on (it wraps the instance it is given): a release below reaches Redis after any
    // add sent before it, so it can see whether the add landed.
    const redis = this.connection;
    const jobId = randomUUID();
    const reservedAt = Date.now();
    const rank = await this.quota.reserve(redis, t, jobId);
    try {
      const payload = await data();
      // A reservation holds for reservationMs before its job exists; past half of it, the add might land after another
      // enqueue pruned the slot (one job over the limit), so the request is refused instead (a function never gets
      // here: its timeout is 29 s and the reservation lasts 60 s).
      const took = Date.now() - reservedAt;
      if (took > this.quota.reservationMs / 2) {
        throw new TransientStorageError('queue', `preparing the job took ${took} ms, more than half of the ${this.quota.reservationMs} ms its slot is held without a job; nothing was enqueued, retry`);
      }
      // Round robin across tenants: the job's priority is its rank among its tenant's jobs in flight (fair-order.ts).
      await this.queue.add(name, { ...payload, [TENANT_FIELD]: t }, { jobId, priority: priorityOfRank(rank) });
    } catch (e) {
      // With Redis down the release fails too; the reservation then lapses by itself after reservationMs.
      await this.quota.release(redis, t, jobId).catch(() => undefined);
      throw e;
    }
    // Not confirmed (Redis lost just now): the slot still frees when the job finishes, or reservationMs after a removal.
    await this.quota.confirm(redis, t, jobId).catch(() => undefined);
    // The rank was counted at the reserve: a job of the tenant that ended before this add was re-ranked by its worker
    // without this job (not added yet), and a reservation that lapsed without its job counted too. Either leaves this
    // job a rank too low, and if no other job of the tenant is running none ends to correct it: it would wait for as
    // long as other tenants keep a job queued at rank 1. So the tenant is re-ranked now that the job exists (usually
    // two reads, no write). A failure leaves the job enqueued with the rank it was given.
    await rerankTenant(this.queue, redis, this.prefix, t).catch(() => undefined);
    return jobId;
  }

  /**
   * How many jobs `tenant` has in flight as the limit counts them (waiting, delayed, active, and slots reserved for a
   * job being enqueued); finished and removed jobs are pruned first.
   */
  async inFlight(tenant: string): Promise<number> {
    const t = parseJobTenant(tenant);
    await this.ready();
    return this.quota.inFlight(this.connection, t);
  }

  /**
   * State, progress, result (from `jobs/<id>/result.json`, the source of truth) or error, for `tenant` (required,
   * validated like enqueue's; `store` is that tenant's view of the bucket). Another tenant's job, or a job without a
   * tenant, is a NotFoundError. A job that BullMQ has already removed but whose result is stored is reported as
   * completed.
   */
  async status(jobId: string, store: ObjectStore, tenant: string): Promise<JobStatus> {
    const t = parseJobTenant(tenant);
    if (!JOB_ID_PATTERN.test(jobId)) throw new NotFoundError('id', `no job ${JSON.stringify(jobId)}`);
    await this.ready();
    // The state first, then the job: a finished job's hash never changes again, so a job read after a terminal state
    // agrees with it. (Read the other way round, the last attempt could finish in between, and a 'failed' or
    // 'completed' state came with the attemptsMade of the attempt before; seen under load.)
    // A queued job is 'waiting' to callers, whether BullMQ keeps it in its wait list or, having a priority (every job
    // enqueued here has one: fair-order.ts), in its prioritized set.
    const bullState = await this.queue.getJobState(jobId);
    const state = bullState === 'prioritized' ? 'waiting' : bullState;
    let job = state === 'unknown' ? undefined : ((await this.queue.getJob(jobId)) as Job | undefined);
    // Another tenant's job does not exist for this caller (its result lives in the other tenant's view anyway).
    if (job && jobTenant(job.data) !== t) job = undefined;
    if (!job || state === 'unknown') {
      const result = await this.readResult(jobId, store);
      if (result === undefined) throw new NotFoundError('id', `no job ${jobId}`);
      return { id: jobId, kind: 'kind' in result ? result.kind : 'unknown', state: 'completed', progress: 100, attemptsMade: 0, result };
    }
    const progress = typeof job.progress === 'number' ? job.progress : 0;
    const base = { id: jobId, kind: isJobName(job.name) ? job.name : 'unknown', progress, attemptsMade: job.attemptsMade } as const;
    if (state === 'completed') {
      const result = (await this.readResult(jobId, store)) ?? (job.returnvalue as JobResultSummary);
      return { ...base, state, progress: 100, result };
    }
    if (state === 'failed') {
      // The result marker is written only after the work is published: a job BullMQ marked failed afterwards (an
      // attempt whose lock lapsed while it finished, then a stalled rerun) did complete. When the bucket cannot be
      // read (an outage, often the failure's own cause), the failure as recorded is the answer.
      const result = await this.readResult(jobId, store).catch(() => undefined);
      if (result !== undefined) return { ...base, state: 'completed', progress: 100, result };
      return { ...base, state, error: parseFailure(job.failedReason) };
    }
    // A job waiting for a retry carries its last error too.
    return job.failedReason ? { ...base, state, error: parseFailure(job.failedReason) } : { ...base, state };
  }

  /**
   * Whether the queue still has job `jobId`, in any state (waiting, delayed, active, completed, failed…): such a job may
   * still run (a retry, a stalled rerun) or be polled, so the retention sweep keeps its claim and result. False once
   * BullMQ has removed it (removeOnComplete / removeOnFail above).
   */
  async knows(jobId: string): Promise<boolean> {
    await this.ready();
    if (await this.queue.getJob(jobId)) return true;
    return (await this.queue.getJobState(jobId)) !== 'unknown';
  }

  /**
   * Waits for the queue's first connection, at most readyTimeoutMs. Once BullMQ has connected it does not wait for
   * 'ready' again, and a command during a later outage fails fast (maxRetriesPerRequest), so only the first
   * connection needs the bound.
   */
  private async ready(): Promise<void> {
    if (this.wasReady) return;
    if (this.connection.status === 'ready') {
      this.wasReady = true;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.queue.waitUntilReady(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new QueueUnavailableError('queue', `the job queue's Redis is not reachable (no connection within ${this.readyTimeoutMs} ms); retry later`)), this.readyTimeoutMs);
        }),
      ]);
      this.wasReady = true;
    } finally {
      clearTimeout(timer);
    }
  }

  private async readResult(jobId: string, store: ObjectStore): Promise<JobResult | LargeJobResult | undefined> {
    const key = jobKeys(jobId).result;
    const info = await store.head(key);
    if (!info) return undefined;
    if (info.size > INLINE_RESULT_LIMIT) {
      // Too large for a JSON response: a short-lived download link (where the store can presign), and the key.
      const url = canPresign(store) ? await store.presignGet(key, { expiresIn: RESULT_URL_EXPIRES_IN }) : undefined;
      return { resultKey: key, bytes: info.size, ...(url ? { url, urlExpiresIn: RESULT_URL_EXPIRES_IN } : {}), note: url ? 'too large to inline; download it from url' : 'too large to inline; read it from the bucket' };
    }
    return readStoredJson<JobResult>(store, key, 'job result');
  }

  /** The BullMQ queue (a new one after a failed connection setup: src/queue/renewing-queue.ts). */
  get queue(): Queue {
    return this.queues.get();
  }

  async close(): Promise<void> {
    await this.queues.close();
  }
}

/** Permanent failures carry `{code,message,field}` as JSON (src/queue/worker.ts); anything else is a plain message. */
function parseFailure(reason: string | undefined): JobError {
  if (reason) {
    try {
      const v = JSON.parse(reason) as { code?: unknown; message?: unknown; field?: unknown };
      if (typeof v.code === 'string' && typeof v.message === 'string') return { code: v.code, message: v.message, ...(typeof v.field === 'string' ? { field: v.field } : {}) };
    } catch {
      // not JSON: a transient error's message
    }
  }
  return { code: 'JOB_FAILED', message: reason ?? 'the job failed' };
}
