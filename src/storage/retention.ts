import { InputError, issueField } from '../core/errors.js';
import { retentionPolicySchema, type RetentionPolicyInput } from '../schemas.js';
import { parseAuditSummaryKey, parseJobKey, parseUploadKey, parseVersionKey } from './keys.js';

/**
 * The retention policy: which stored keys may go, and why. Pure (no I/O, no clock): it is handed an inventory (keys
 * with their last-modified times, each detector's pointer, which jobs the queue still has) and `now`, and returns the
 * deletions in the order they must be made. The sweep that lists, asks Redis and deletes is src/service/retention.ts.
 *
 * Nothing in the bucket expires by itself: every calibration and fit adds an immutable version, every job leaves its
 * claim and result behind long after BullMQ forgot it, an abandoned presigned upload stays. S3 lifecycle rules cannot
 * say "all but the newest N versions" nor match the tenant segment, hence this. An age is `now − lastModified` of the
 * newest object of the group (an upload, a job, a version), and a group goes only once it is strictly older than its
 * limit: exactly at the limit it stays.
 *
 * - **uploads** `uploads/<id>/data` then `upload.json`: pending presigned uploads older than `uploadRetention`. The data
 *   first: a half-swept upload is a record without data, which `complete` answers as "nothing uploaded yet".
 * - **jobs** `jobs/<jobId>/result.json` then `claim`: older than `jobRetention` and no longer in the queue. A job the
 *   queue still has may run again (a retry, a stalled rerun: its claim keeps it from saving a second version) or be
 *   polled (GET /jobs/{id} reads the result from the bucket). Once BullMQ has removed it, GET /jobs/{id} answers from
 *   `result.json` alone (completed) or 404 without it; deleting the result first makes the job go from one to the other
 *   in one step, and a sweep stopped between the two deletes leaves a claim no one reads.
 * - **versions** `<detector>v<n>/manifest.json` then the version's arrays. Never the current version, never a version
 *   numbered above it (a save in flight, or one whose pointer move was lost; also, version numbers are seeded from the
 *   highest `v<n>` in the store when Redis's counter is gone, so removing the top would let a number be handed out
 *   again), never the `keepVersions` newest versions below it, never one younger than `versionMinAge`. The manifest
 *   first: a version exists iff its manifest does (src/storage/detector-repository.ts), so a reader sees it whole or
 *   not at all. A detector whose pointer cannot be read is left alone.
 * - **crashedSaves** arrays of a version below the current one that has no manifest (a save that died before its
 *   manifest; or a sweep stopped between a manifest and its arrays), once older than `versionMinAge`.
 * - **auditSummaries** `audits/<name>/<timestamp>.json` older than `auditSummaryRetention`, except the summary the
 *   audit's cursor names and any after it (a run that died before its cursor write is recovered from those); an audit
 *   without a readable cursor keeps them all. Never `config.json`, `cursor.json`, `attempt.json`.
 *
 * Anything else (datasets, models, results/incoming, the keyring, `current.json`, a key of another shape) is never
 * returned. Deleting an old version cannot change which save becomes current: the fit order a save is judged by
 * (`fitVersion`) is a number recorded in every version's own manifest, and a calibration carries its base version's
 * (test/storage/retention.test.ts forces both races).
 */

/** Ages in days (decimals allowed); `keepVersions` a count. */
export interface RetentionPolicy {
  readonly uploadRetention: number;
  readonly jobRetention: number;
  readonly keepVersions: number;
  readonly versionMinAge: number;
  readonly auditSummaryRetention: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = {
  /** A presigned URL lives at most an hour; a week leaves the client time to call complete after its PUT. */
  uploadRetention: 7,
  /** Longer than BullMQ keeps a failed job (30 days, src/queue/client.ts); the queue is asked anyway. */
  jobRetention: 35,
  keepVersions: 10,
  versionMinAge: 7,
  auditSummaryRetention: 90,
};

const DAY_MS = 86_400_000;

/** The policy with defaults filled in; a bad field is an InputError naming it. */
export function retentionPolicy(input: RetentionPolicyInput | RetentionPolicy = {}): RetentionPolicy {
  const r = retentionPolicySchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InputError(issueField(issue, '', 'policy'), issue.message);
  }
  const given = Object.fromEntries(Object.entries(r.data).filter(([, v]) => v !== undefined));
  return { ...DEFAULT_RETENTION, ...given };
}

export const RETENTION_RULES = ['uploads', 'jobs', 'versions', 'crashedSaves', 'auditSummaries'] as const;
export type RetentionRule = (typeof RETENTION_RULES)[number];

export interface StoredObject {
  readonly key: string;
  readonly size: number;
  readonly lastModified: Date;
}

/** One detector: its folder (`detectors/<id>/`, or '' for a CLI detector directory), its pointer, its objects. */
export interface DetectorInventory {
  readonly prefix: string;
  /** The version current.json names; undefined when there is none or it cannot be read (nothing of it is deleted). */
  readonly current: number | undefined;
  /** Objects under `prefix` (others are ignored). */
  readonly objects: readonly StoredObject[];
}

/** What was listed. An area left out is not swept. */
export interface Inventory {
  /** Objects under `uploads/`. */
  readonly uploads?: readonly StoredObject[];
  /** Objects under `jobs/`, and the job ids the queue still has (of those old enough to ask about: see expiredJobIds). */
  readonly jobs?: { readonly objects: readonly StoredObject[]; readonly inQueue: ReadonlySet<string> };
  readonly detectors?: readonly DetectorInventory[];
  /** Objects under `audits/`, and each audit's cursor (the summary key it names); an audit missing here keeps all. */
  readonly audits?: { readonly objects: readonly StoredObject[]; readonly cursors: ReadonlyMap<string, string> };
}

export interface Deletion {
  readonly key: string;
  readonly size: number;
  readonly rule: RetentionRule;
  readonly reason: string;
}

interface Group {
  readonly objects: StoredObject[];
  newest: number;
}

function groupBy<K>(objects: readonly StoredObject[], keyOf: (o: StoredObject) => K | undefined): Map<K, Group> {
  const groups = new Map<K, Group>();
  for (const o of objects) {
    const k = keyOf(o);
    if (k === undefined) continue;
    const t = o.lastModified.getTime();
    const g = groups.get(k);
    if (g) {
      g.objects.push(o);
      g.newest = Math.max(g.newest, t);
    } else groups.set(k, { objects: [o], newest: t });
  }
  return groups;
}

const ageDays = (now: Date, newest: number): number => (now.getTime() - newest) / DAY_MS;
/** Strictly older than `days` (an unreadable time, NaN, is never old). */
const olderThan = (now: Date, newest: number, days: number): boolean => now.getTime() - newest > days * DAY_MS;
const fmtDays = (d: number): string => `${Number(d.toFixed(2))} days`;

function checkNow(now: Date): void {
  if (!(now instanceof Date) || !Number.isFinite(now.getTime())) throw new InputError('now', 'must be a valid Date');
}

/**
 * Job ids under `jobs/` whose newest object is older than `jobRetention`: the only ones whose state in the queue matters
 * (the sweep asks the queue about these, and puts those it still has in `inventory.jobs.inQueue`).
 */
export function expiredJobIds(objects: readonly StoredObject[], policy: RetentionPolicy, now: Date): string[] {
  checkNow(now);
  const p = retentionPolicy(policy);
  const groups = groupBy(objects, (o) => parseJobKey(o.key)?.jobId);
  return [...groups].filter(([, g]) => olderThan(now, g.newest, p.jobRetention)).map(([id]) => id);
}

/** The keys to delete, in the order to delete them, each with its rule and reason. */
export function planRetention(inventory: Inventory, policy: RetentionPolicy, now: Date): Deletion[] {
  checkNow(now);
  const p = retentionPolicy(policy);
  const out: Deletion[] = [];
  const add = (o: StoredObject, rule: RetentionRule, reason: string) => out.push({ key: o.key, size: o.size, rule, reason });

  if (inventory.uploads) {
    for (const [id, g] of groupBy(inventory.uploads, (o) => parseUploadKey(o.key)?.id)) {
      if (!olderThan(now, g.newest, p.uploadRetention)) continue;
      const reason = `pending upload ${id}, last written ${fmtDays(ageDays(now, g.newest))} ago (uploadRetention ${p.uploadRetention} days)`;
      // The data before the record.
      const order = (o: StoredObject) => (parseUploadKey(o.key)!.file === 'data' ? 0 : 1);
      for (const o of [...g.objects].sort((a, b) => order(a) - order(b))) add(o, 'uploads', reason);
    }
  }

  if (inventory.jobs) {
    const { inQueue } = inventory.jobs;
    for (const [id, g] of groupBy(inventory.jobs.objects, (o) => parseJobKey(o.key)?.jobId)) {
      if (!olderThan(now, g.newest, p.jobRetention) || inQueue.has(id)) continue;
      const reason = `job ${id}, last written ${fmtDays(ageDays(now, g.newest))} ago (jobRetention ${p.jobRetention} days) and no longer in the queue`;
      // The result before the claim: GET /jobs/{id} goes from "completed" to 404 in one step.
      const order = (o: StoredObject) => (parseJobKey(o.key)!.file === 'result' ? 0 : 1);
      for (const o of [...g.objects].sort((a, b) => order(a) - order(b))) add(o, 'jobs', reason);
    }
  }

  for (const d of inventory.detectors ?? []) {
    if (d.current === undefined) continue; // no pointer, or an unreadable one: nothing can be told apart
    const versions = groupBy(d.objects, (o) => parseVersionKey(d.prefix, o.key)?.version);
    const withManifest = new Set([...versions].filter(([, g]) => g.objects.some((o) => parseVersionKey(d.prefix, o.key)!.manifest)).map(([v]) => v));
    // The keepVersions newest versions below the current one (versions, i.e. with a manifest).
    const kept = new Set([...withManifest].filter((v) => v < d.current!).sort((a, b) => b - a).slice(0, p.keepVersions));
    for (const [v, g] of [...versions].sort(([a], [b]) => a - b)) {
      if (v >= d.current || kept.has(v) || !olderThan(now, g.newest, p.versionMinAge)) continue;
      const age = fmtDays(ageDays(now, g.newest));
      if (withManifest.has(v)) {
        const reason = `${d.prefix}v${v}: below the current v${d.current} and its ${p.keepVersions} newest predecessors, last written ${age} ago (versionMinAge ${p.versionMinAge} days)`;
        // The manifest first: the version stops existing before any of its arrays goes.
        const order = (o: StoredObject) => (parseVersionKey(d.prefix, o.key)!.manifest ? 0 : 1);
        for (const o of [...g.objects].sort((a, b) => order(a) - order(b) || (a.key < b.key ? -1 : 1))) add(o, 'versions', reason);
      } else {
        const reason = `${d.prefix}v${v}: arrays without a manifest (a save that never finished) below the current v${d.current}, last written ${age} ago (versionMinAge ${p.versionMinAge} days)`;
        for (const o of [...g.objects].sort((a, b) => (a.key < b.key ? -1 : 1))) add(o, 'crashedSaves', reason);
      }
    }
  }

  if (inventory.audits) {
    const { cursors } = inventory.audits;
    for (const o of inventory.audits.objects) {
      const s = parseAuditSummaryKey(o.key);
      if (!s) continue;
      const cursorSummary = cursors.get(s.audit);
      // The cursor's summary and those after it are the audit's recovery state; without a cursor, nothing can be told.
      if (cursorSummary === undefined || o.key >= cursorSummary) continue;
      if (!olderThan(now, o.lastModified.getTime(), p.auditSummaryRetention)) continue;
      add(o, 'auditSummaries', `summary of audit ${s.audit}, written ${fmtDays(ageDays(now, o.lastModified.getTime()))} ago (auditSummaryRetention ${p.auditSummaryRetention} days)`);
    }
  }
  return out;
}
