import { z } from 'zod';
import { tenantIdSchema } from '../auth/api-keys.js';
import { isTransientError, NotFoundError, StorageError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { parseScheduleInput, retentionPolicySchema } from '../schemas.js';
import { DetectorRepository } from '../storage/detector-repository.js';
import { auditKeys, detectorIdOfKey, detectorPrefix, parseAuditSummaryKey } from '../storage/keys.js';
import { readStoredJson, type ObjectInfo, type ObjectStore } from '../storage/object-store.js';
import { expiredJobIds, planRetention, RETENTION_RULES, retentionPolicy, type Deletion, type DetectorInventory, type Inventory, type RetentionPolicy, type RetentionRule, type StoredObject } from '../storage/retention.js';
import { tenantStore } from '../storage/tenant-store.js';

/**
 * The retention sweep: lists what the policy (src/storage/retention.ts) judges, asks the queue about old jobs, and
 * deletes what it returns, in its order, over any ObjectStore: a tenant's view of the bucket (`sweepTenant`, run daily
 * by the `retention` function for every tenant of the keyring) or a CLI detector directory (`pruneDetector`, versions
 * only). Deletes are idempotent (a key already gone is not an error), so two sweeps may overlap, and one stopped
 * anywhere (the invocation's time, a failure) leaves consistent state that the next run finishes from a new listing.
 */

export interface SweepOptions {
  readonly policy?: RetentionPolicy;
  /** The time ages are measured from (tests pass a later one instead of waiting). */
  readonly now: Date;
  /** Plan and report, delete nothing. */
  readonly dryRun?: boolean;
  /** Whether the queue still has a job, in any state. Without it no job's claim or result is deleted. */
  readonly jobInQueue?: (jobId: string) => Promise<boolean>;
  /** The invocation's time left (ms): the sweep stops before a delete once less than RETENTION_FINISH_RESERVE_MS is. */
  readonly remainingMs?: () => number;
  readonly logger?: Logger;
}

/** Time kept for the summary line and the SDK's own retries once the sweep stops deleting for the time limit. */
const RETENTION_FINISH_RESERVE_MS = 30_000;

export type RuleCounts = Record<RetentionRule, { count: number; bytes: number }>;

export interface SweepReport {
  readonly dryRun: boolean;
  /** False when the sweep stopped early (time limit or a failed delete): the next run takes up the rest. */
  readonly complete: boolean;
  /** Per rule: keys deleted (a dry run: that would be) and their bytes. */
  readonly rules: RuleCounts;
  /** Each deletion made (or planned, in a dry run), in order. */
  readonly deleted: readonly Deletion[];
  /** The deletions the policy asked for; more than `deleted` when the sweep stopped early. */
  readonly planned: number;
  /** A delete that failed (the sweep stopped there). */
  readonly error?: unknown;
}

const emptyCounts = (): RuleCounts => Object.fromEntries(RETENTION_RULES.map((r) => [r, { count: 0, bytes: 0 }])) as RuleCounts;

/** Listed objects as the policy takes them; an object without a time (a store that cannot tell) counts as new. */
function stored(objects: readonly ObjectInfo[], now: Date): StoredObject[] {
  return objects.map((o) => ({ key: o.key, size: o.size, lastModified: o.lastModified ?? now }));
}

/** For a read whose failure means "cannot tell" (the caller keeps everything): undefined, a transient error rethrown. */
async function unlessDamaged<T>(read: () => Promise<T>, onDamage: (e: unknown) => void): Promise<T | undefined> {
  try {
    return await read();
  } catch (e) {
    if (isTransientError(e) || !(e instanceof StorageError)) throw e;
    onDamage(e);
    return undefined;
  }
}

async function detectorInventory(store: ObjectStore, id: string, objects: StoredObject[], logger?: Logger): Promise<DetectorInventory> {
  const prefix = detectorPrefix(id);
  const ptr = await unlessDamaged(() => new DetectorRepository(store).readPointer(prefix), (e) => logger?.warn({ err: e, detector: id }, 'retention: the detector pointer cannot be read; its versions are kept'));
  return { prefix, current: ptr?.version, objects };
}

const cursorSchema = z.object({ summaryKey: z.string() }).loose();

/** Everything the policy judges in a tenant's view: uploads, jobs (old ones asked about), detectors, audits. */
async function takeInventory(view: ObjectStore, opts: Pick<SweepOptions, 'policy' | 'now' | 'jobInQueue' | 'logger'>): Promise<Inventory> {
  const { now } = opts;
  const policy = retentionPolicy(opts.policy);
  const uploads = stored(await view.list('uploads/'), now);

  const jobObjects = stored(await view.list('jobs/'), now);
  let jobs: Inventory['jobs'];
  if (opts.jobInQueue) {
    const inQueue = new Set<string>();
    for (const id of expiredJobIds(jobObjects, policy, now)) if (await opts.jobInQueue(id)) inQueue.add(id);
    jobs = { objects: jobObjects, inQueue };
  }

  const byDetector = new Map<string, StoredObject[]>();
  for (const o of stored(await view.list('detectors/'), now)) {
    const id = detectorIdOfKey(o.key);
    if (id !== undefined) byDetector.set(id, [...(byDetector.get(id) ?? []), o]);
  }
  const detectors: DetectorInventory[] = [];
  for (const [id, objects] of byDetector) detectors.push(await detectorInventory(view, id, objects, opts.logger));

  const auditObjects = stored(await view.list('audits/'), now);
  const cursors = new Map<string, string>();
  // Only an audit with summaries has anything to sweep, and only its cursor tells which summaries may go.
  for (const name of new Set(auditObjects.map((o) => parseAuditSummaryKey(o.key)?.audit).filter((n): n is string => n !== undefined))) {
    const key = auditKeys(name).cursor;
    const c = await unlessDamaged(() => readStoredJson(view, key, 'audit cursor', cursorSchema), (e) => opts.logger?.warn({ err: e, audit: name }, 'retention: the audit cursor cannot be read; its summaries are kept'));
    if (c) cursors.set(name, c.summaryKey);
  }
  return { uploads, ...(jobs ? { jobs } : {}), detectors, audits: { objects: auditObjects, cursors } };
}

/** Deletes `plan` in order (or only counts it, in a dry run), stopping before a delete when time runs short. */
async function carryOut(store: ObjectStore, plan: readonly Deletion[], opts: SweepOptions): Promise<SweepReport> {
  const rules = emptyCounts();
  const deleted: Deletion[] = [];
  const dryRun = opts.dryRun ?? false;
  let complete = true;
  let error: unknown;
  for (const d of plan) {
    if (!dryRun) {
      const left = opts.remainingMs?.();
      if (left !== undefined && left < RETENTION_FINISH_RESERVE_MS) {
        complete = false;
        break;
      }
      try {
        await store.delete(d.key);
      } catch (e) {
        complete = false;
        error = e;
        break;
      }
    }
    deleted.push(d);
    rules[d.rule].count++;
    rules[d.rule].bytes += d.size;
  }
  return { dryRun, complete, rules, deleted, planned: plan.length, ...(error !== undefined ? { error } : {}) };
}

/** One tenant's view (or any store laid out the same way): every rule. */
export async function sweepTenant(view: ObjectStore, opts: SweepOptions): Promise<SweepReport> {
  const policy = retentionPolicy(opts.policy);
  const inventory = await takeInventory(view, { ...opts, policy });
  return carryOut(view, planRetention(inventory, policy, opts.now), opts);
}

/**
 * One detector's versions (the CLI's `prune` of a detector directory, prefix ''): the versions and crashed-saves rules
 * only. A detector without a pointer is NotFound (nothing can be told apart); an unreadable pointer is damaged state.
 */
export async function pruneDetector(store: ObjectStore, prefix: string, opts: SweepOptions): Promise<SweepReport & { current: number }> {
  const policy = retentionPolicy(opts.policy);
  const ptr = await new DetectorRepository(store).readPointer(prefix);
  if (!ptr) throw new NotFoundError('detector', `no detector at ${store.location}${prefix ? `/${prefix}` : ''} (current.json is missing)`);
  const objects = stored(await store.list(prefix), opts.now);
  const plan = planRetention({ detectors: [{ prefix, current: ptr.version, objects }] }, policy, opts.now);
  return { ...(await carryOut(store, plan, opts)), current: ptr.version };
}

/**
 * The scheduled event's input (`schedule.input`, `parseScheduleInput`): one tenant or every one, a dry run, the
 * policy's fields (days; `retentionPolicySchema`).
 */
const scheduleInputSchema = retentionPolicySchema.extend({ tenant: tenantIdSchema.optional(), dryRun: z.boolean().optional() });

export interface TenantOutcome {
  readonly tenant: string;
  readonly dryRun?: boolean;
  readonly complete?: boolean;
  readonly rules?: RuleCounts;
  readonly error?: string;
  /** Not started: the invocation's time ran out first. */
  readonly skipped?: string;
}

/**
 * One scheduled run: the tenant the event names, or every tenant `tenants()` lists, starting at a different one each
 * day (so a run that cannot reach them all in one invocation still sweeps each in turn; nothing is written to remember
 * where it stopped: the next run lists afresh). One summary line per tenant at info ("retention sweep done": dry run,
 * complete, count and bytes per rule, ms), a failure at error; the run throws (the scheduler retries, then keeps the
 * event in the failed-events queue) only when every tenant it started failed.
 */
export async function runScheduledRetention(
  deps: {
    store: ObjectStore;
    logger: Logger;
    tenants: () => Promise<string[]>;
    jobInQueue: (jobId: string) => Promise<boolean>;
    remainingMs?: () => number;
    now?: () => Date;
  },
  event: unknown,
): Promise<{ tenants: TenantOutcome[] }> {
  const input = parseScheduleInput(scheduleInputSchema, event, `retention schedule input (it takes tenant, dryRun and the policy: ${Object.keys(retentionPolicySchema.shape).join(', ')})`);
  const { tenant, dryRun = false } = input;
  // The policy's own fields only (EventBridge's event passes its fields through the loose parse).
  const policy = retentionPolicy(Object.fromEntries(Object.keys(retentionPolicySchema.shape).map((k) => [k, (input as Record<string, unknown>)[k]])));
  const now = deps.now ?? (() => new Date());
  let tenants = tenant !== undefined ? [tenant] : [...new Set(await deps.tenants())].sort();
  // A different first tenant each day.
  const start = tenants.length ? Math.floor(now().getTime() / 86_400_000) % tenants.length : 0;
  tenants = [...tenants.slice(start), ...tenants.slice(0, start)];
  const out: TenantOutcome[] = [];
  for (const t of tenants) {
    const left = deps.remainingMs?.();
    if (left !== undefined && left < 2 * RETENTION_FINISH_RESERVE_MS) {
      out.push({ tenant: t, skipped: `not started with ${Math.round(left / 1000)} s of the invocation left` });
      continue;
    }
    const t0 = performance.now();
    const logger = deps.logger.child({ tenant: t });
    const failed = (err: unknown, rules?: RuleCounts) => {
      // What was deleted before the failure is in `rules`; the next run lists afresh and goes on.
      logger.error({ err, dryRun, ...(rules ? { rules } : {}), ms: Math.round(performance.now() - t0) }, 'retention sweep failed');
      out.push({ tenant: t, error: err instanceof Error ? err.message : String(err) });
    };
    let r: SweepReport;
    try {
      r = await sweepTenant(tenantStore(deps.store, t), { policy, now: now(), dryRun, jobInQueue: deps.jobInQueue, logger, ...(deps.remainingMs ? { remainingMs: deps.remainingMs } : {}) });
    } catch (e) {
      failed(e);
      continue;
    }
    if (r.error !== undefined) {
      failed(r.error, r.rules);
      continue;
    }
    logger.info({ dryRun, complete: r.complete, rules: r.rules, planned: r.planned, ms: Math.round(performance.now() - t0) }, 'retention sweep done');
    out.push({ tenant: t, dryRun, complete: r.complete, rules: r.rules });
  }
  const skipped = out.filter((o) => o.skipped !== undefined);
  const stopped = out.filter((o) => o.complete === false);
  if (skipped.length + stopped.length > 0) deps.logger.warn({ skipped: skipped.map((o) => o.tenant), stopped: stopped.map((o) => o.tenant) }, 'retention run stopped for the invocation\'s time limit; the rest is swept next run');
  const started = out.filter((o) => o.skipped === undefined);
  if (started.length > 0 && started.every((o) => o.error !== undefined)) throw new Error(`every tenant's retention sweep failed: ${started.map((o) => `${o.tenant}: ${o.error}`).join('; ')}`);
  return { tenants: out };
}
