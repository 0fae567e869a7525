/**
 * The order in which waiting jobs start, across tenants: round robin by the number of jobs each tenant has in flight,
 * not first come, first served. Without it, a tenant that queued 20 long fits made every other tenant's next job wait
 * for all 20 (the per-tenant cap, src/queue/quota.ts, bounds how many, not who goes first).
 *
 * The rule: a job's BullMQ priority (lower starts first; equal priorities start in the order they were set) is its
 * rank in its tenant's jobs in flight, by enqueue time: 1 + the number of the tenant's jobs in flight (waiting, delayed
 * for a retry, or running) that were enqueued before it. So every tenant's oldest job has priority 1, its second 2, and
 * so on, and a worker takes the priority-1 jobs of all tenants, in turn, before anyone's second.
 * - At enqueue (src/queue/client.ts) the rank is the number of slots the tenant holds, the new job's included, which
 *   the quota check counts anyway. Once the job is added the client re-ranks the tenant: a job of the tenant that
 *   ended between the count and the add was re-ranked without the new job, and a reservation that lapsed without its
 *   job was counted.
 * - When one of a tenant's jobs ends (completes, or an attempt fails) the worker re-ranks the tenant's jobs still in
 *   flight (`FairOrder`); those whose rank fell get the new priority through BullMQ's changePriority, which puts them
 *   behind the jobs already waiting at that priority. A tenant whose job just ran therefore goes to the back of the
 *   line. A job waits for its own tenant's earlier jobs, running ones included (with several worker slots, a tenant
 *   with a job running does not get a second slot while other tenants have first jobs queued: the slots are shared
 *   by jobs in flight, not by arrival), and once those have ended, for at most one job of each other tenant that is
 *   queued at its rank.
 *
 * What it is not: weighted (every tenant counts the same, whatever its jobs cost), or exact under races. Ranks are
 * read and written in separate commands, so concurrent enqueues and re-ranks can give two of a tenant's jobs the same
 * rank, or one a rank too far back, for a while. A rank too far back is not harmless: if none of the tenant's jobs is
 * running, none ends to correct it, and the job waits for as long as other tenants keep a job queued at a lower rank.
 * So every path that can leave one corrects it: the enqueue re-ranks after its add, a re-rank repeats until a pass
 * changes nothing (a concurrent re-rank's stale writes are read back), and a failed re-rank is retried at the next job
 * end of any tenant. Not corrected until the tenant's next job ends: a waiting job removed by hand (no worker sees it
 * end), and job ends seen only by an older release's workers while a deploy rolls. A re-rank writes at most
 * `RERANK_WINDOW` of a tenant's oldest jobs in flight (their ranks are the ones that decide the next starts), but it
 * reads the tenant's whole set (three commands a job, in one round trip), so its cost grows with the tenant's jobs in
 * flight (up to MAX_JOBS_PER_TENANT): a re-rank that changes nothing took a median of 2 ms at 20, 6 ms at 100, 21 ms at
 * 1,000 and 95 ms at 5,000 on the development machine. Jobs enqueued without a priority (by a release before this one,
 * while a deploy rolls) start before every prioritized job, as BullMQ orders them.
 */
import { Job, type Queue, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../log.js';
import { jobTenant } from './jobs.js';
import { tenantJobsKey } from './quota.js';

/** How many of a tenant's oldest jobs in flight a re-rank reorders (bounds its writes per finished job). */
const RERANK_WINDOW = 100;

/** A job's priority from its rank in its tenant's jobs in flight (1 = the oldest). */
export function priorityOfRank(rank: number): number {
  if (!Number.isSafeInteger(rank) || rank < 1) throw new RangeError(`a rank is a positive integer, got ${rank}`);
  return rank;
}

interface InFlight {
  readonly id: string;
  readonly timestamp: number;
  readonly priority: number;
}

/**
 * The tenant's jobs in flight, oldest first (enqueue time, then priority, then id): the members of its quota set whose
 * job exists and is neither completed nor failed, read in one round trip. Reservations whose job is not added yet are
 * skipped.
 */
async function tenantJobsInFlight(queue: Queue, redis: Redis, prefix: string, tenant: string): Promise<InFlight[]> {
  const ids = await redis.zrange(tenantJobsKey(prefix, tenant), '0', '-1');
  if (ids.length === 0) return [];
  const jobPrefix = queue.keys['']!;
  const p = redis.pipeline();
  for (const id of ids) {
    p.hmget(jobPrefix + id, 'timestamp', 'priority');
    p.zscore(queue.keys.completed!, id);
    p.zscore(queue.keys.failed!, id);
  }
  const replies = (await p.exec()) ?? [];
  const out: InFlight[] = [];
  ids.forEach((id, i) => {
    const [hashErr, hash] = replies[3 * i] ?? [];
    const [doneErr, done] = replies[3 * i + 1] ?? [];
    const [failErr, failed] = replies[3 * i + 2] ?? [];
    const err = hashErr ?? doneErr ?? failErr;
    if (err) throw err;
    const [timestamp, priority] = hash as [string | null, string | null];
    if (timestamp === null || done !== null || failed !== null) return; // not added yet, or finished
    out.push({ id, timestamp: Number(timestamp), priority: Number(priority ?? 0) });
  });
  // Jobs added in the same millisecond keep their order through their priorities (a later enqueue ranks lower).
  return out.sort((a, b) => a.timestamp - b.timestamp || a.priority - b.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** How many passes one re-rank makes at most (see rerankTenant). */
const RERANK_PASSES = 3;

/**
 * Gives each of the tenant's `RERANK_WINDOW` oldest jobs in flight the priority of its rank, where it differs;
 * returns how many changes it made. A job that finished or was removed meanwhile is skipped.
 *
 * A pass reads the ranks and then writes them in separate commands, so a pass that read before another process's
 * re-rank of the same tenant (another worker's job of that tenant ended meanwhile) can write ranks that are already
 * stale, and a rank written too high is never corrected if no job of the tenant ends again. So a pass that changed
 * anything is followed by another, until one finds nothing to change (at most `RERANK_PASSES`): whichever process
 * writes last reads its own writes back and corrects them.
 */
export async function rerankTenant(queue: Queue, redis: Redis, prefix: string, tenant: string): Promise<number> {
  let changed = 0;
  for (let pass = 0; pass < RERANK_PASSES; pass++) {
    const n = await rerankPass(queue, redis, prefix, tenant);
    changed += n;
    if (n === 0) break;
  }
  return changed;
}

async function rerankPass(queue: Queue, redis: Redis, prefix: string, tenant: string): Promise<number> {
  const jobs = (await tenantJobsInFlight(queue, redis, prefix, tenant)).slice(0, RERANK_WINDOW);
  let changed = 0;
  for (const [i, j] of jobs.entries()) {
    const priority = priorityOfRank(i + 1);
    if (j.priority === priority) continue;
    const job = await Job.fromId(queue, j.id);
    if (!job) continue;
    // BullMQ's script moves a waiting job to its new place atomically; for a running or delayed job it only records the
    // priority, which a retry then waits with.
    await job.changePriority({ priority });
    changed++;
  }
  return changed;
}

/**
 * The worker's side of the rule: `jobEnded(tenant)` re-ranks that tenant's jobs in the background. Re-ranks of one
 * tenant never overlap (a request during one runs once more after it). A failed one is logged, and its tenant is
 * re-ranked again at the next job end, whichever tenant's: waiting for that tenant's own next job end could mean waiting
 * for ever, since its jobs left a rank too low start only once no other tenant has a job queued at their rank.
 */
export class FairOrder {
  private readonly running = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  /** Tenants whose last re-rank failed (at most one entry per tenant; removed when a re-rank of it succeeds). */
  private readonly failed = new Set<string>();

  constructor(
    /** The queue to re-rank on (called per re-rank: src/queue/renewing-queue.ts replaces one whose setup failed). */
    private readonly queue: () => Queue,
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly logger?: Logger,
  ) {}

  jobEnded(tenant: string): void {
    this.rerank(tenant);
    for (const t of this.failed) if (t !== tenant) this.rerank(t);
  }

  private rerank(tenant: string): void {
    if (this.running.has(tenant)) {
      this.again.add(tenant);
      return;
    }
    const run = (async () => {
      do {
        this.again.delete(tenant);
        try {
          await rerankTenant(this.queue(), this.redis, this.prefix, tenant);
          this.failed.delete(tenant);
        } catch (e) {
          this.failed.add(tenant);
          this.logger?.warn({ err: e, tenant }, 're-ranking the tenant\'s waiting jobs failed; the next job to end, any tenant\'s, re-ranks them');
        }
      } while (this.again.has(tenant));
      this.running.delete(tenant);
    })();
    this.running.set(tenant, run);
  }

  /** Resolves when no re-rank is under way (the worker's close waits for it; tests use it to order their steps). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }
}

/**
 * Keeps `worker`'s queue in fair order: each job that completes or fails (an attempt) re-ranks its tenant's jobs, on
 * `queue()` and `redis` (a connection that fails fast, so an outage skips re-ranks rather than holding them). BullMQ
 * picks the worker's next job in the same script that records the end, then emits these events: a re-rank decides the
 * picks after that one. It is under way (`idle` waits for it) by the time the next job's processor runs.
 */
export function keepFairOrder(worker: Worker, queue: () => Queue, redis: Redis, prefix: string, logger?: Logger): FairOrder {
  const order = new FairOrder(queue, redis, prefix, logger);
  const ended = (job: Job | undefined): void => {
    const tenant = job ? jobTenant(job.data) : undefined;
    if (tenant !== undefined) order.jobEnded(tenant);
  };
  worker.on('completed', ended);
  worker.on('failed', ended);
  return order;
}
