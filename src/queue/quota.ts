/**
 * The per-tenant cap on jobs in flight (MAX_JOBS_PER_TENANT): one tenant's script enqueueing thousands of fits must
 * not make every other tenant's jobs wait behind them. A job is in flight while it is waiting, delayed (a retry's
 * backoff), prioritized or active; it stops being so when it completes, fails for good (attempts exhausted, an
 * unrecoverable error, too many stalls) or is removed.
 *
 * Design: one Redis sorted set per tenant, `<QUEUE_PREFIX>:quota:tenants/<tenant>/jobs` (scoped by tenant as the
 * version coordinator's keys are), holding the ids of the tenant's jobs. Whether a slot is still held is not tracked
 * by releasing it on events (a worker that dies between finishing a job and releasing its slot, or a job removed by an
 * operator, would leak the slot for ever); it is read off BullMQ's own state each time the limit is checked, in the
 * same Lua script that counts and adds, so N concurrent enqueues cannot overshoot (Redis runs one script at a time):
 *
 * - a member whose job exists holds its slot unless the job is in BullMQ's completed or failed set (the test BullMQ's
 *   own isFinished script makes). A retry (delayed, or back in wait) and a stalled job (still active, or moved back to
 *   wait for another worker) keep theirs; a job that stalled too often is failed by BullMQ and frees it.
 * - a member whose job does not exist holds its slot until its score, a deadline in Redis's clock: the slot is taken
 *   before the job is added (predict stores its request images in between, and must store nothing for a refused
 *   request), so a reservation counts for `reservationMs` without a job. Once the job is added the score is set to 0,
 *   so a job removed later frees its slot at once; a process that dies between reserving and adding frees it when the
 *   deadline passes.
 *
 * Members that hold no slot are deleted whenever a tenant's set is checked, so a set holds at most `limit` members
 * after each enqueue, and a check reads at most that many jobs. A refused request adds nothing (pruning is the only
 * write it may cause). Jobs enqueued without a reservation (by a release before this one, while a deploy rolls, or
 * put on the queue past JobClient) are not counted, nor is a finished job an operator re-queues (Job.retry) after its
 * slot was pruned.
 *
 * Not proven here: the script builds BullMQ's job keys from the prefix (as BullMQ's own scripts do) rather than
 * declaring them, so it runs on one Redis node (ElastiCache without cluster mode), not across cluster slots. A
 * reservation whose job is added after its deadline (a Redis that stalls for longer than `reservationMs` minus the time
 * `prepare` took; JobClient refuses to add once half of it has passed) could let one job go uncounted.
 */
import type { Redis } from 'ioredis';
import { InputError, StorageError, TooManyJobsError } from '../core/errors.js';
import { tenantPrefix } from '../storage/tenant-store.js';

/** MAX_JOBS_PER_TENANT's default. */
export const DEFAULT_MAX_JOBS_PER_TENANT = 20;
/**
 * The largest MAX_JOBS_PER_TENANT: a check reads every member of the tenant's set (up to the limit) inside one script,
 * during which Redis serves nothing else; 10,000 jobs is a few milliseconds.
 */
export const MAX_MAX_JOBS_PER_TENANT = 10_000;
/**
 * How long a slot reserved before its job exists holds (ms): twice the HTTP functions' 29 s timeout, so a function
 * that reserved, stored its images and was killed by Lambda before adding the job frees the slot within a minute.
 */
const DEFAULT_RESERVATION_MS = 60_000;

/**
 * Prunes the tenant's set and counts the slots held; reserves one for ARGV[3] when fewer than ARGV[2] are held.
 *   KEYS[1] the tenant's set · KEYS[2] BullMQ's completed set · KEYS[3] BullMQ's failed set
 *   ARGV[1] BullMQ's job key prefix (`<prefix>:<queue>:`) · ARGV[2] the limit · ARGV[3] the job id to reserve ('' =
 *   count only) · ARGV[4] how long (ms) the reservation holds before its job exists
 * Returns {reserved (1 or 0), slots held (including the new one)}.
 */
const CHECK_AND_RESERVE = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local held = 0
for i = 1, #members, 2 do
  local id = members[i]
  local holds
  if redis.call('EXISTS', ARGV[1] .. id) == 1 then
    holds = not redis.call('ZSCORE', KEYS[2], id) and not redis.call('ZSCORE', KEYS[3], id)
  else
    holds = tonumber(members[i + 1]) > now
  end
  if holds then held = held + 1 else redis.call('ZREM', KEYS[1], id) end
end
if ARGV[3] == '' or held >= tonumber(ARGV[2]) then return {0, held} end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
return {1, held + 1}`;

/** The Redis sorted set of `tenant`'s job ids under QUEUE_PREFIX `prefix`: `<prefix>:quota:tenants/<tenant>/jobs`. */
export function tenantJobsKey(prefix: string, tenant: string): string {
  return `${prefix}:quota:${tenantPrefix(tenant)}jobs`;
}

/** Gives a reservation back, unless its job exists (an add that did land, though its caller saw an error, keeps it). */
const RELEASE = `if redis.call('EXISTS', ARGV[1] .. ARGV[2]) == 1 then return 0 end
return redis.call('ZREM', KEYS[1], ARGV[2])`;

/** The BullMQ keys the check reads (Queue.keys). */
export interface QueueStateKeys {
  /** `<prefix>:<queue>:`, to which a job id is appended to name the job's hash. */
  readonly jobPrefix: string;
  readonly completed: string;
  readonly failed: string;
}

export interface JobQuotaOptions {
  /** QUEUE_PREFIX: the sets live under it, beside the queue's keys. */
  readonly prefix: string;
  readonly queueKeys: QueueStateKeys;
  /** The most jobs one tenant may have in flight. Default DEFAULT_MAX_JOBS_PER_TENANT. */
  readonly limit?: number;
  /** How long a reservation holds before its job exists (ms). Default DEFAULT_RESERVATION_MS. */
  readonly reservationMs?: number;
}

export class JobQuota {
  readonly limit: number;
  readonly reservationMs: number;
  private readonly prefix: string;
  private readonly queueKeys: QueueStateKeys;

  constructor(opts: JobQuotaOptions) {
    const limit = opts.limit ?? DEFAULT_MAX_JOBS_PER_TENANT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_MAX_JOBS_PER_TENANT) throw new InputError('maxJobsPerTenant', `must be an integer from 1 to ${MAX_MAX_JOBS_PER_TENANT}, got ${limit}`);
    const reservationMs = opts.reservationMs ?? DEFAULT_RESERVATION_MS;
    if (!Number.isSafeInteger(reservationMs) || reservationMs < 1) throw new InputError('reservationMs', `must be a positive integer, got ${reservationMs}`);
    this.limit = limit;
    this.reservationMs = reservationMs;
    this.prefix = opts.prefix;
    this.queueKeys = opts.queueKeys;
  }

  /** The tenant's set: `<prefix>:quota:tenants/<tenant>/jobs`. */
  key(tenant: string): string {
    return tenantJobsKey(this.prefix, tenant);
  }

  /**
   * Takes one of the tenant's slots for `jobId`, whose job must then be added (and `confirm`ed) within
   * `reservationMs`, or `release`d; returns the slots the tenant now holds, this one included (the new job's rank,
   * src/queue/fair-order.ts). A tenant already holding `limit` slots is refused with a TooManyJobsError, and nothing
   * is added.
   */
  async reserve(redis: Redis, tenant: string, jobId: string): Promise<number> {
    const [reserved, held] = await this.check(redis, tenant, jobId);
    if (!reserved) throw new TooManyJobsError(tenant, this.limit, held);
    return held;
  }

  /** The slots the tenant holds now (finished and removed jobs pruned), reserving nothing. */
  async inFlight(redis: Redis, tenant: string): Promise<number> {
    return (await this.check(redis, tenant, ''))[1];
  }

  /** The job is added: from now on its slot is held exactly as long as the job is in flight. */
  async confirm(redis: Redis, tenant: string, jobId: string): Promise<void> {
    await redis.zadd(this.key(tenant), 'XX', 0, jobId);
  }

  /** Gives the reservation back (its job was not added); a job that exists after all keeps it. */
  async release(redis: Redis, tenant: string, jobId: string): Promise<void> {
    await redis.eval(RELEASE, 1, this.key(tenant), this.queueKeys.jobPrefix, jobId);
  }

  private async check(redis: Redis, tenant: string, jobId: string): Promise<[boolean, number]> {
    const k = this.queueKeys;
    const r = await redis.eval(CHECK_AND_RESERVE, 3, this.key(tenant), k.completed, k.failed, k.jobPrefix, String(this.limit), jobId, String(this.reservationMs));
    if (!Array.isArray(r) || r.length !== 2 || !r.every((v) => typeof v === 'number')) throw new StorageError('quota', `redis returned ${JSON.stringify(r)} for the job quota check`);
    return [r[0] === 1, r[1] as number];
  }
}
