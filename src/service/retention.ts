import { z } from 'zod';
import { tenantIdSchema } from '../auth/api-keys.js';
import { isTransientError, NotFoundError, StorageError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { parseScheduleInput, retentionPolicySchema } from '../schemas.js';
import { DetectorRepository } from '../storage/detector-repository.js';
import { auditKeys, detectorIdOfKey, detectorPrefix, parseAuditSummaryKey, RETENTION_CURSOR_KEY } from '../storage/keys.js';
import { compareKeys, readStoredJson, type ObjectInfo, type ObjectStore } from '../storage/object-store.js';
import { expiredJobIds, planRetention, RETENTION_RULES, retentionPolicy, type Deletion, type Inventory, type RetentionPolicy, type RetentionRule, type StoredObject } from '../storage/retention.js';
import { tenantStore } from '../storage/tenant-store.js';

/**
 * The retention sweep: lists what the policy (src/storage/retention.ts) judges, asks the queue about old jobs, and
 * deletes what it returns, in its order, over any ObjectStore: a tenant's view of the bucket (`sweepTenant`, run daily
 * by the `retention` function for every tenant of the keyring) or a CLI detector directory (`pruneDetector`, versions
 * only). Deletes are idempotent (a key already gone is not an error), so two sweeps may overlap, and one stopped
 * anywhere (the invocation's time, a failure) leaves consistent state that the next run finishes.
 *
 * A tenant is swept group by group in key order (`audits/<name>/`, `detectors/<id>/`, `jobs/<jobId>/`,
 * `uploads/<id>/`: the policy judges each alone, and a detector's version rules need its whole listing, so a group is
 * never split), listed a page at a time. A pass that stops for the invocation's time leaves a cursor
 * (`retention/cursor.json`, RETENTION_CURSOR_KEY) naming the last group it finished, and the next run lists only what
 * sorts after it, so a tenant whose listing alone outlasts one invocation is still swept, over several.
 */

export interface SweepOptions {
  readonly policy?: RetentionPolicy;
  /** The time ages are measured from (tests pass a later one instead of waiting). */
  readonly now: Date;
  /** Plan and report, delete nothing (and never move the cursor). */
  readonly dryRun?: boolean;
  /** Whether the queue still has a job, in any state. Without it no job's claim or result is deleted. */
  readonly jobInQueue?: (jobId: string) => Promise<boolean>;
  /**
   * The invocation's time left (ms): the sweep stops before a delete or a listing page once less than
   * RETENTION_FINISH_RESERVE_MS is.
   */
  readonly remainingMs?: () => number;
  /** Milliseconds, for spacing the cursor's writes (default performance.now). */
  readonly clock?: () => number;
  readonly logger?: Logger;
}

/** Time kept for the summary line and the SDK's own retries once the sweep stops deleting for the time limit. */
const RETENTION_FINISH_RESERVE_MS = 30_000;

/**
 * The cursor is written after a finished group once this long has passed since its last write, and always when a
 * pass stops early: a run killed outright (not stopped) redoes at most this much work, all of it idempotent. Not after
 * every group: a job is a group of two keys, and a PUT per group would be 500 requests per listing page.
 */
const CURSOR_WRITE_INTERVAL_MS = 10_000;

/** Keys per listing request (S3's maximum). */
const LIST_PAGE = 1000;

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

/** What `sweepTenant` adds: where the run started and ended in the tenant's pass. */
export interface TenantSweepReport extends SweepReport {
  /** When the pass this run belongs to started (the `now` of its first run). */
  readonly passStartedAt: string;
  /** The group the run went on after (a pass begun earlier); absent when it started at the beginning. */
  readonly resumedAfter?: string;
  /** The last group of the pass finished; with `complete: false`, the next run goes on after it. */
  readonly finishedThrough?: string;
  /** Groups judged to the end, and keys listed. */
  readonly groups: number;
  readonly listed: number;
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

const auditCursorSchema = z.object({ summaryKey: z.string() }).loose();

/** The areas of a tenant's view the policy judges, in key order (the order a pass takes them in). */
const AREAS = ['audits/', 'detectors/', 'jobs/', 'uploads/'] as const;
type Area = (typeof AREAS)[number];

/** The group (`<area><name>/`) of a key listed under `area`; undefined for a key directly under it. */
function groupOf(area: Area, key: string): string | undefined {
  const slash = key.indexOf('/', area.length);
  return slash === -1 ? undefined : key.slice(0, slash + 1);
}

/**
 * The key to list after to pass a whole group: its folder with the final "/" as "0", the character after it. Every
 * key inside the folder sorts before it, every later group after it (as S3Store.listFolders' `after`).
 */
const pastGroup = (group: string): string => `${group.slice(0, -1)}0`;

/** What the policy needs to judge one group: its objects, and the reads that go with them. */
async function groupInventory(view: ObjectStore, area: Area, objects: StoredObject[], policy: RetentionPolicy, opts: Pick<SweepOptions, 'now' | 'jobInQueue' | 'logger'>): Promise<Inventory> {
  switch (area) {
    case 'uploads/':
      return { uploads: objects };
    case 'jobs/': {
      // Without the queue to ask, no job can be told gone: the area is left out, so none is judged.
      if (!opts.jobInQueue) return {};
      const inQueue = new Set<string>();
      for (const id of expiredJobIds(objects, policy, opts.now)) if (await opts.jobInQueue(id)) inQueue.add(id);
      return { jobs: { objects, inQueue } };
    }
    case 'detectors/': {
      const id = detectorIdOfKey(objects[0]!.key);
      if (id === undefined) return {}; // a folder no detector id can name: never read, never judged
      const prefix = detectorPrefix(id);
      const ptr = await unlessDamaged(() => new DetectorRepository(view).readPointer(prefix), (e) => opts.logger?.warn({ err: e, detector: id }, 'retention: the detector pointer cannot be read; its versions are kept'));
      return { detectors: [{ prefix, current: ptr?.version, objects }] };
    }
    case 'audits/': {
      const cursors = new Map<string, string>();
      // Only an audit with summaries has anything to sweep, and only its cursor tells which summaries may go.
      const name = objects.map((o) => parseAuditSummaryKey(o.key)?.audit).find((n) => n !== undefined);
      if (name !== undefined) {
        const c = await unlessDamaged(() => readStoredJson(view, auditKeys(name).cursor, 'audit cursor', auditCursorSchema), (e) => opts.logger?.warn({ err: e, audit: name }, 'retention: the audit cursor cannot be read; its summaries are kept'));
        if (c) cursors.set(name, c.summaryKey);
      }
      return { audits: { objects, cursors } };
    }
  }
}

/**
 * Where a pass stands: the last group finished (`after`; null: none yet), when the pass started, and the policy it runs
 * under (a run under another policy starts a new pass: the groups before the cursor were judged by the old one).
 */
const retentionCursorSchema = z.object({
  after: z.string().nullable(),
  passStartedAt: z.string(),
  policy: z.record(z.string(), z.number()),
  updatedAt: z.string(),
});
type RetentionCursor = z.infer<typeof retentionCursorSchema>;

const samePolicy = (stored: Readonly<Record<string, number>>, policy: RetentionPolicy): boolean =>
  (Object.keys(policy) as (keyof RetentionPolicy)[]).every((k) => stored[k] === policy[k]) && Object.keys(stored).length === Object.keys(policy).length;

/** The pass to go on with, or undefined to start one: a cursor that cannot be read, or of another policy, is passed over (logged). */
async function readRetentionCursor(view: ObjectStore, policy: RetentionPolicy, logger?: Logger): Promise<RetentionCursor | undefined> {
  const c = await unlessDamaged(
    () => readStoredJson(view, RETENTION_CURSOR_KEY, 'retention cursor', retentionCursorSchema),
    (e) => logger?.warn({ err: e }, 'retention: the cursor cannot be read; the pass starts over'),
  );
  if (c && !samePolicy(c.policy, policy)) {
    logger?.info({ cursorPolicy: c.policy, policy, passStartedAt: c.passStartedAt }, 'retention: the cursor was written under another policy; the pass starts over');
    return undefined;
  }
  return c;
}

/** Counts and carries out deletions, group after group, until time runs short or a delete fails. */
class Deletions {
  readonly rules = emptyCounts();
  readonly deleted: Deletion[] = [];
  planned = 0;
  stopped = false;
  error: unknown;

  constructor(
    private readonly store: ObjectStore,
    private readonly opts: Pick<SweepOptions, 'dryRun' | 'remainingMs'>,
  ) {}

  /** Less than the reserve left: stop (before a delete or a listing). */
  outOfTime(): boolean {
    const left = this.opts.remainingMs?.();
    if (left !== undefined && left < RETENTION_FINISH_RESERVE_MS) this.stopped = true;
    return this.stopped;
  }

  /** Deletes `plan` in order (a dry run only counts it); false when it stopped before the end. */
  async carryOut(plan: readonly Deletion[]): Promise<boolean> {
    this.planned += plan.length;
    for (const d of plan) {
      if (!this.opts.dryRun) {
        if (this.outOfTime()) return false;
        try {
          await this.store.delete(d.key);
        } catch (e) {
          this.stopped = true;
          this.error = e;
          return false;
        }
      }
      this.deleted.push(d);
      this.rules[d.rule].count++;
      this.rules[d.rule].bytes += d.size;
    }
    return true;
  }

  report(): SweepReport {
    const dryRun = this.opts.dryRun ?? false;
    return { dryRun, complete: !this.stopped, rules: this.rules, deleted: this.deleted, planned: this.planned, ...(this.error !== undefined ? { error: this.error } : {}) };
  }
}

/** Deletes `plan` in order (or only counts it, in a dry run), stopping before a delete when time runs short. */
async function carryOut(store: ObjectStore, plan: readonly Deletion[], opts: SweepOptions): Promise<SweepReport> {
  const run = new Deletions(store, opts);
  await run.carryOut(plan);
  return run.report();
}

/**
 * One tenant's view (or any store laid out the same way): every rule, group by group from where the last run of the
 * pass stopped (the cursor, unless it cannot be read or was written under another policy). The cursor names only
 * groups whose deletes are all done, so a run killed anywhere redoes idempotent work and passes no group by; it is
 * written when the run stops early (and every CURSOR_WRITE_INTERVAL_MS on the way), and deleted once the pass is
 * complete, so the next run starts a new one. A dry run reads it but never writes it.
 */
export async function sweepTenant(view: ObjectStore, opts: SweepOptions): Promise<TenantSweepReport> {
  const policy = retentionPolicy(opts.policy);
  const { now, logger } = opts;
  const dryRun = opts.dryRun ?? false;
  const clock = opts.clock ?? (() => performance.now());
  const cursor = await readRetentionCursor(view, policy, logger);
  const passStartedAt = cursor?.passStartedAt ?? now.toISOString();
  const resumedAfter = cursor?.after ?? undefined;
  const run = new Deletions(view, opts);
  /** The last group whose deletions are all done (null: none yet in this pass), and the one the stored cursor names. */
  let finished = cursor?.after ?? null;
  let written = cursor ? cursor.after : undefined;
  let writtenAt = clock();
  let groups = 0;
  let listed = 0;

  const writeCursor = async (): Promise<void> => {
    const c: RetentionCursor = { after: finished, passStartedAt, policy: { ...policy }, updatedAt: new Date().toISOString() };
    await view.put(RETENTION_CURSOR_KEY, new TextEncoder().encode(JSON.stringify(c)), { contentType: 'application/json' });
    written = c.after;
    writtenAt = clock();
  };
  /** Judges one whole group and carries out its deletions; false when the run stopped in it. */
  const sweepGroup = async (area: Area, group: string, objects: ObjectInfo[]): Promise<boolean> => {
    const inventory = await groupInventory(view, area, stored(objects, now), policy, opts);
    if (!(await run.carryOut(planRetention(inventory, policy, now)))) return false;
    finished = group;
    groups++;
    if (!dryRun && clock() - writtenAt >= CURSOR_WRITE_INTERVAL_MS) {
      // On the way, a failed write loses only how far a killed run gets to skip: the sweep goes on, and tries again later.
      await writeCursor().catch((e: unknown) => {
        logger?.warn({ err: e }, 'retention: the cursor could not be written; the next run goes on from the last one written');
        writtenAt = clock();
      });
    }
    return true;
  };

  let failure: { error: unknown } | undefined;
  try {
    sweep: for (const area of AREAS) {
      // A cursor in a later area: this one is done. In this area: list after its group. Before it: from the start.
      if (resumedAfter !== undefined && !resumedAfter.startsWith(area) && compareKeys(resumedAfter, area) > 0) continue;
      let after = resumedAfter?.startsWith(area) ? pastGroup(resumedAfter) : undefined;
      let pending: { group: string; objects: ObjectInfo[] } | undefined;
      for (;;) {
        if (run.outOfTime()) break sweep;
        const page = await view.list(area, { limit: LIST_PAGE, ...(after !== undefined ? { after } : {}) });
        listed += page.length;
        for (const o of page) {
          const group = groupOf(area, o.key);
          if (group === undefined) continue;
          if (pending?.group === group) {
            pending.objects.push(o);
            continue;
          }
          // A group is whole once a key of the next one is listed.
          if (pending && !(await sweepGroup(area, pending.group, pending.objects))) break sweep;
          pending = { group, objects: [o] };
        }
        if (page.length < LIST_PAGE) break;
        after = page[page.length - 1]!.key;
      }
      if (pending && !(await sweepGroup(area, pending.group, pending.objects))) break sweep;
    }
  } catch (e) {
    // A listing or read that failed (a delete's failure is the run's `error`): the groups finished so far are kept.
    run.stopped = true;
    failure = { error: e };
  }
  if (!dryRun) {
    try {
      if (!run.stopped) await view.delete(RETENTION_CURSOR_KEY); // the pass is done: the next run starts a new one
      else if (finished !== written) await writeCursor();
    } catch (e) {
      // The deletions stand; the next run goes on from the last cursor written (or starts over), redoing idempotent
      // work. A stopped pass whose position cannot be kept may never get further, so that is the sweep's error.
      logger?.warn({ err: e }, 'retention: the cursor could not be written; the next run goes on from the last one written');
      if (!failure && run.error === undefined) {
        run.stopped = true;
        run.error = e;
      }
    }
  }
  if (failure) throw failure.error;
  return { ...run.report(), passStartedAt, ...(resumedAfter !== undefined ? { resumedAfter } : {}), ...(finished !== null ? { finishedThrough: finished } : {}), groups, listed };
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
 * day (so a run that cannot reach them all in one invocation still sweeps each in turn; a tenant stopped within its
 * pass goes on from its cursor when it next comes up). One summary line per tenant at info ("retention sweep done":
 * dry run, complete, count and bytes per rule, where the pass stands, ms), a failure at error; the run throws (the
 * scheduler retries, then keeps the event in the failed-events queue) only when every tenant it started failed.
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
      // What was deleted before the failure is in `rules`; the next run goes on from the tenant's cursor.
      logger.error({ err, dryRun, ...(rules ? { rules } : {}), ms: Math.round(performance.now() - t0) }, 'retention sweep failed');
      out.push({ tenant: t, error: err instanceof Error ? err.message : String(err) });
    };
    let r: TenantSweepReport;
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
    const pass = { passStartedAt: r.passStartedAt, ...(r.resumedAfter !== undefined ? { resumedAfter: r.resumedAfter } : {}), ...(r.finishedThrough !== undefined ? { finishedThrough: r.finishedThrough } : {}), groups: r.groups, listed: r.listed };
    logger.info({ dryRun, complete: r.complete, rules: r.rules, planned: r.planned, ...pass, ms: Math.round(performance.now() - t0) }, 'retention sweep done');
    out.push({ tenant: t, dryRun, complete: r.complete, rules: r.rules });
  }
  const skipped = out.filter((o) => o.skipped !== undefined);
  const stopped = out.filter((o) => o.complete === false);
  if (skipped.length + stopped.length > 0) deps.logger.warn({ skipped: skipped.map((o) => o.tenant), stopped: stopped.map((o) => o.tenant) }, 'retention run stopped for the invocation\'s time limit; the rest is swept next run');
  const started = out.filter((o) => o.skipped === undefined);
  if (started.length > 0 && started.every((o) => o.error !== undefined)) throw new Error(`every tenant's retention sweep failed: ${started.map((o) => `${o.tenant}: ${o.error}`).join('; ')}`);
  return { tenants: out };
}
