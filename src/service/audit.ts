import { z } from 'zod';
import { getWithinLimit, SERVICE_DECODE_LIMITS } from './limits.js';
import { InputError, isImagedriftError, issueField, isTransientError, NotFittedError, NotFoundError, StorageError } from '../core/errors.js';
import { binomialCountDrift, bonferroniRejects, ksDrift, type DriftResult, type DriftTestName } from '../core/drift.js';
import { RowReservoir, seedFrom } from '../core/random.js';
import { decodeBytes } from '../io/load.js';
import type { Logger } from '../log.js';
import { auditConfigSchema, idSchema, parseScheduleInput, type AuditConfig } from '../schemas.js';
import { compareKeys, isSafeKey, readStoredJson, type ObjectStore } from '../storage/object-store.js';
import { tenantStore } from '../storage/tenant-store.js';
import { tenantIdSchema } from '../auth/api-keys.js';
import { loadForScoring } from './detector-cache.js';
import { featureDrift, predictWithFeatures, type RuntimeOptions } from './detector-service.js';
import { AUDIT_SUMMARY_NAME, auditKeys } from '../storage/keys.js';
import { metricRecord, type MetricSink } from '../cloudwatch-metrics.js';

/**
 * Scheduled audits. `audits/<name>/config.json` = {detector, prefix, alpha, baseline?, maxObjects?, mmdWindow?,
 * mmdPermutations?, alertOn?} (`auditConfigSchema`). Each run:
 *
 * 1. lists the objects under `prefix` after the cursor (`audits/<name>/cursor.json` = the last key processed; S3
 *    ListObjectsV2 StartAfter), at most maxObjects, in key order;
 * 2. scores every sample of every object with the detector's current version (an object is one image or an array
 *    file of samples; an undecodable object is counted as invalid, not retried);
 * 3. writes `audits/<name>/<timestamp>.json` with counts, the OOD rate, the baseline rate from calibration and three
 *    drift tests of the run's samples: an exact one-sided binomial test of the flag rate (H0: rate <= baseline),
 *    Kolmogorov–Smirnov on the scores against the calibration's in-distribution scores (`scoreShift`), and MMD on the
 *    features against the reference rows stored at calibration (`featureShift`, on a seeded sample of at most
 *    `mmdWindow` rows). `alert` is raised when a test in `alertOn` has p < alpha / alertOn.length (Bonferroni);
 *    each test's own `isDrift` is p < alpha;
 * 4. moves the cursor to the last key listed (null while nothing has been; written after every run, so it always names
 *    the latest summary).
 *
 * Objects are scored once: the cursor only moves forward, and a run that died after its summary but before the
 * cursor write is recovered from that summary (summaries newer than the cursor's are read on start). A run that dies
 * before its summary scored nothing durable, so its objects are scored by the next run. Runs of one audit must not
 * overlap (serverless.yml gives the audit function a reserved concurrency of 1).
 */
export interface AuditDeps {
  readonly store: ObjectStore;
  readonly logger: Logger;
  readonly runtime: Pick<RuntimeOptions, 'executionProviders' | 'intraOpNumThreads'>;
  /**
   * The invocation's time left (ms). Once it falls below AUDIT_FINISH_RESERVE_MS, the run stops before its next
   * object and summarises what it scored, the rest left pending: a batch longer than one invocation would otherwise
   * be killed before its summary, every time, and the audit would never move on.
   */
  readonly remainingMs?: () => number;
}

/** Time kept for a run's drift tests and writes once it stops scoring for the invocation's time limit. */
export const AUDIT_FINISH_RESERVE_MS = 30_000;

/**
 * Keys under `prefix` that sort at or before `through` were scored while the audit read another prefix: a prefix
 * widened from it starts at its own beginning and passes these by (rather than scoring them twice).
 */
const scoredRangeSchema = z.object({ prefix: z.string(), through: z.string() });
type ScoredRange = z.infer<typeof scoredRangeSchema>;
/** A prefix change pushes one range; past this many, the oldest is dropped (its keys could then be scored again). */
const MAX_SCORED_RANGES = 20;
/**
 * lastKey null: nothing scored yet (the cursor still names the latest summary, so a run reads only the ones after it).
 * `prefix`: the config's prefix when it was written (cursors written before it had none); `scored`: see ScoredRange.
 */
const cursorSchema = z.object({
  lastKey: z.string().nullable(),
  summaryKey: z.string(),
  updatedAt: z.string(),
  prefix: z.string().optional(),
  scored: z.array(scoredRangeSchema).optional(),
});
/** When the scheduler last started an audit (written before the run, so a run killed at the timeout counts too). */
const attemptSchema = z.object({ startedAt: z.string() });
type Cursor = z.infer<typeof cursorSchema>;

export interface AuditSummary {
  readonly audit: string;
  readonly detector: string;
  readonly detectorVersion: number;
  readonly prefix: string;
  /** Objects after this key were considered (undefined = from the start of the prefix). */
  readonly after: string | null;
  /** The last key processed (the new cursor); null when nothing was new. */
  readonly lastKey: string | null;
  readonly counts: { readonly objects: number; readonly samples: number; readonly flagged: number; readonly invalid: number };
  readonly invalid: readonly { key: string; error: string }[];
  readonly oodRate: number | null;
  readonly baselineRate: number;
  readonly baselineSource: string;
  readonly test: 'exact binomial (one-sided)';
  readonly alternative: 'flag rate > baselineRate';
  readonly pValue: number;
  /** The binomial test's own decision, pValue < alpha (as `scoreShift.isDrift` and `featureShift.isDrift`). */
  readonly isDrift: boolean;
  readonly alpha: number;
  readonly alert: boolean;
  /** Tests whose p-value raises `alert`, each against alpha / alertOn.length. */
  readonly alertOn: readonly DriftTestName[];
  /** KS test of this run's scores against the calibration's in-distribution scores (null without them). */
  readonly scoreShift: ShiftTest | null;
  /** MMD of this run's features against the stored reference rows (null: off, no reference stored, or < 2 samples). */
  readonly featureShift: (ShiftTest & { readonly nReference: number; readonly nWindow: number; readonly permutations: number; readonly bandwidthSq: number }) | null;
  readonly moreObjectsPending: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
}

export interface ShiftTest {
  readonly test: string;
  readonly statistic: number;
  readonly pValue: number;
  readonly isDrift: boolean;
}

const MAX_INVALID_LISTED = 20;

async function readAuditConfig(store: ObjectStore, name: string): Promise<AuditConfig> {
  // The config is the tenant's own writing: a bad one is their input error (naming the field), not damaged state.
  const key = auditKeys(name).config;
  const json = await readStoredJson(store, key, 'audit config').catch((e: unknown) => {
    throw e instanceof StorageError ? new InputError(e.field, e.detail, { cause: e }) : e;
  });
  if (json === undefined) throw new NotFoundError('audit', `no audit ${name} (${key} is missing)`);
  const r = auditConfigSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new InputError(`${key}: ${issueField(issue)}`, issue.message);
  }
  return r.data;
}

/** Names of every audit with a config. */
export async function listAudits(store: ObjectStore): Promise<string[]> {
  const keys = await store.list('audits/');
  return keys.map((o) => /^audits\/([^/]+)\/config\.json$/.exec(o.key)?.[1]).filter((n): n is string => n !== undefined);
}

/** Where a run starts: list after `after` (undefined: the prefix's beginning), passing by the keys in `scored`. */
interface StartingPoint {
  readonly after: string | undefined;
  readonly scored: readonly ScoredRange[];
}

const isScored = (key: string, ranges: readonly ScoredRange[]): boolean =>
  ranges.some((r) => key.startsWith(r.prefix) && compareKeys(key, r.through) <= 0);

/**
 * Where a cursor written for `cursor.prefix` leaves a run of `prefix`. Every key of the old prefix up to the cursor
 * was scored. The same prefix, or a narrower one inside it, goes on after the cursor (S3's StartAfter; a narrower
 * prefix that sorts wholly before or after the cursor gets all or none of its keys, as it should). Any other prefix
 * (wider, or elsewhere) starts at its beginning, with the old prefix's scored keys recorded as a range to pass by, so
 * widening `cam/1/` to `cam/` scores `cam/0/…` instead of listing after `cam/1/<cursor>` and never seeing it. A
 * narrower prefix records that range too: the cursor then names a key of the narrower prefix only, and widening back
 * (`cam/` → `cam/1/` → `cam/`) would otherwise score `cam/0/…` a second time.
 * A cursor with no prefix (written before cursors named one) keeps the rule of that time: its position if it lies in
 * `prefix`, else the beginning.
 */
function resumeFrom(cursor: { lastKey: string | null; prefix?: string | undefined; scored?: readonly ScoredRange[] | undefined } | undefined, prefix: string): StartingPoint {
  if (!cursor) return { after: undefined, scored: [] };
  const last = cursor.lastKey ?? undefined;
  const scored = cursor.scored ?? [];
  if (cursor.prefix === undefined) return { after: last?.startsWith(prefix) ? last : undefined, scored };
  if (cursor.prefix === prefix) return { after: last, scored };
  const withOld = last === undefined ? scored : [...scored, { prefix: cursor.prefix, through: last }].slice(-MAX_SCORED_RANGES);
  return { after: prefix.startsWith(cursor.prefix) ? last : undefined, scored: withOld };
}

/** The ranges still worth keeping once the run's cursor is `last` under `prefix`: those it has not yet passed. */
function rangesAhead(ranges: readonly ScoredRange[], prefix: string, last: string | null): ScoredRange[] {
  return ranges.filter((r) => !(last !== null && r.prefix.startsWith(prefix) && compareKeys(last, r.through) >= 0));
}

/**
 * The cursor's starting point (`resumeFrom`), moved forward to any summary of this prefix written after the cursor
 * (a run that died before its cursor write).
 */
async function startingPoint(store: ObjectStore, name: string, prefix: string): Promise<StartingPoint> {
  const keys = auditKeys(name);
  const cursor: Cursor | undefined = await readStoredJson(store, keys.cursor, 'audit cursor', cursorSchema);
  const start = resumeFrom(cursor, prefix);
  let after = start.after;
  const newer = await store.list(keys.dir, cursor ? { after: cursor.summaryKey } : {});
  for (const o of newer) {
    if (!AUDIT_SUMMARY_NAME.test(o.key.slice(keys.dir.length))) continue;
    const s = await readStoredJson(store, o.key, 'audit summary', z.object({ lastKey: z.string().nullable(), prefix: z.string().optional() }).loose());
    if (!s?.lastKey || !(s.prefix === undefined ? s.lastKey.startsWith(prefix) : s.prefix === prefix)) continue;
    if (after === undefined || compareKeys(s.lastKey, after) > 0) after = s.lastKey;
  }
  return { after, scored: start.scored };
}

export async function runAudit(deps: AuditDeps, name: string, now: () => Date = () => new Date()): Promise<{ summaryKey: string; summary: AuditSummary }> {
  const nameCheck = idSchema.safeParse(name);
  if (!nameCheck.success) throw new InputError('audit', `${JSON.stringify(name)} ${nameCheck.error.issues[0]!.message}`);
  const { store } = deps;
  const startedAt = now().toISOString();
  const keys = auditKeys(name);
  const cfg = await readAuditConfig(store, name);
  const det = await loadForScoring(store, cfg.detector, deps.logger);
  const cal = det.bundle.calibration;
  if (!cal) throw new NotFittedError('detector', `detector ${cfg.detector} v${det.version} is not calibrated; an audit needs its baseline flag rate`);
  const { after, scored } = await startingPoint(store, name, cfg.prefix);
  const listed = await store.list(cfg.prefix, { ...(after !== undefined ? { after } : {}), limit: cfg.maxObjects + 1 });
  let batch = listed.slice(0, cfg.maxObjects);
  const reference = cfg.mmdWindow > 0 ? det.bundle.referenceFeatures : undefined;
  if (cfg.alertOn.includes('mmd') && !reference) {
    throw new NotFittedError('detector', `detector ${cfg.detector} v${det.version} stores no reference features (calibrated before they were kept, or with referenceRows 0); calibrate it again, or drop mmd from alertOn`);
  }
  // Seeded by the run's position, so a re-run over the same objects draws the same sample and permutations.
  const seed = seedFrom(name, after ?? '', batch[0]?.key ?? '');
  const window = reference ? new RowReservoir(cfg.mmdWindow, reference.cols, seed) : undefined;
  const counts = { objects: 0, samples: 0, flagged: 0, invalid: 0 };
  const scores: number[] = [];
  const invalid: { key: string; error: string }[] = [];
  const skipInvalid = (key: string, error: string): void => {
    counts.invalid++;
    if (invalid.length < MAX_INVALID_LISTED) invalid.push({ key, error });
  };
  for (const [i, obj] of batch.entries()) {
    const left = deps.remainingMs?.();
    if (i > 0 && left !== undefined && left < AUDIT_FINISH_RESERVE_MS) {
      deps.logger.warn({ audit: name, scored: i, listed: batch.length, leftMs: left }, 'audit run stopped for the invocation\'s time limit; the rest of the batch is left for the next run');
      batch = batch.slice(0, i); // the cursor moves past what was scored only; moreObjectsPending says the rest waits
      break;
    }
    if (obj.key.endsWith('/')) continue; // folder placeholder
    if (isScored(obj.key, scored)) continue; // scored under an earlier prefix (resumeFrom)
    if (!isSafeKey(obj.key)) {
      // Legal in S3 (a Windows client's "a\\b.npy", a "..", an empty segment) but not a key this service reads: counted
      // as invalid so the cursor moves past it. Reading it would throw, and every later run would stop at the same key.
      counts.objects++;
      skipInvalid(obj.key, 'key: not a safe relative key (contains "\\", "..", "." or an empty segment); skipped');
      continue;
    }
    counts.objects++;
    try {
      const bytes = await getWithinLimit(store, obj.key, obj.size);
      if (!bytes) {
        counts.objects--; // deleted since the listing
        continue;
      }
      const data = await decodeBytes(bytes, obj.key, { limits: SERVICE_DECODE_LIMITS });
      const { prediction: r, features } = await predictWithFeatures(det.bundle, det.model, data, { ...deps.runtime, logger: deps.logger });
      counts.samples += r.result.length;
      counts.flagged += r.result.reduce((a, b) => a + b, 0);
      for (const v of r.scores) scores.push(v);
      window?.add(features);
    } catch (e) {
      // Bad objects are counted and skipped; storage/model failures abort the run (the cursor stays, nothing is lost).
      if (!isImagedriftError(e) || isTransientError(e) || !(e.code === 'INVALID_INPUT')) throw e;
      skipInvalid(obj.key, e.message);
    }
  }
  const baselineRate = cfg.baseline === 'id' ? cal.idFlaggedRate : cal.flaggedRate;
  const binomial = counts.samples > 0 ? binomialCountDrift(counts.flagged, counts.samples, baselineRate, cfg.alpha) : undefined;
  const pValue = binomial?.pValue ?? 1;
  // Second view: has the score distribution moved away from the in-distribution scores seen at calibration?
  const ref = det.bundle.calibrationScores;
  const shift = ref && ref.length && scores.length ? ksDrift(ref, scores, cfg.alpha) : undefined;
  // Third view: have the features moved (also shifts that leave the scores alone, e.g. a class-imbalanced stream)?
  const sample = window && window.seen >= 2 ? window.sample() : undefined;
  const mmd = reference && sample ? featureDrift(reference, sample, { alpha: cfg.alpha, permutations: cfg.mmdPermutations, seed }) : undefined;
  const pOf: Record<AuditConfig['alertOn'][number], number> = { binomial: pValue, ks: shift?.pValue ?? 1, mmd: mmd?.pValue ?? 1 };
  const alert = counts.samples > 0 && bonferroniRejects(cfg.alertOn.map((t) => pOf[t]), cfg.alpha);
  const lastKey = batch.length ? batch[batch.length - 1]!.key : null;
  const finishedAt = now();
  const summary: AuditSummary = {
    audit: name,
    detector: cfg.detector,
    detectorVersion: det.version,
    prefix: cfg.prefix,
    after: after ?? null,
    lastKey: lastKey ?? after ?? null,
    counts,
    invalid,
    oodRate: counts.samples > 0 ? counts.flagged / counts.samples : null,
    baselineRate,
    baselineSource: cfg.baseline === 'id' ? 'calibration.idFlaggedRate' : 'calibration.flaggedRate',
    test: 'exact binomial (one-sided)',
    alternative: 'flag rate > baselineRate',
    pValue,
    isDrift: binomial?.isDrift ?? false,
    alpha: cfg.alpha,
    alert,
    alertOn: cfg.alertOn,
    scoreShift: shift ? shiftTest('two-sample Kolmogorov–Smirnov (scores vs calibration ID scores)', shift) : null,
    featureShift: mmd
      ? { ...shiftTest('MMD², RBF kernel, median-heuristic bandwidth, permutation p-value (features vs calibration reference rows)', mmd), nReference: mmd.meta.nReference!, nWindow: mmd.meta.n!, permutations: mmd.meta.permutations!, bandwidthSq: mmd.meta.bandwidthSq! }
      : null,
    moreObjectsPending: listed.length > batch.length,
    startedAt,
    finishedAt: finishedAt.toISOString(),
  };
  const summaryKey = await writeSummary(store, keys.dir, finishedAt, summary);
  // Also after a run that found nothing: without a cursor naming its summary, every run of an audit whose prefix has
  // stayed empty read every summary the audit ever wrote.
  const ahead = rangesAhead(scored, cfg.prefix, summary.lastKey);
  const cursor: Cursor = { lastKey: summary.lastKey, summaryKey, updatedAt: finishedAt.toISOString(), prefix: cfg.prefix, ...(ahead.length ? { scored: ahead } : {}) };
  await store.put(keys.cursor, new TextEncoder().encode(JSON.stringify(cursor)), { contentType: 'application/json' });
  deps.logger.info({ audit: name, detector: cfg.detector, detectorVersion: det.version, ms: Math.round(finishedAt.getTime() - Date.parse(startedAt)), summaryKey, counts, oodRate: summary.oodRate, baselineRate, pValue, ksPValue: shift?.pValue, mmdPValue: mmd?.pValue, alert: summary.alert }, 'audit run done');
  return { summaryKey, summary };
}

function shiftTest(test: string, r: DriftResult): ShiftTest {
  return { test, statistic: r.statistic, pValue: r.pValue, isDrift: r.isDrift };
}

async function writeSummary(store: ObjectStore, dir: string, at: Date, summary: AuditSummary): Promise<string> {
  const stamp = at.toISOString().replace(/:/g, '-');
  const bytes = new TextEncoder().encode(JSON.stringify(summary, null, 2));
  for (let i = 0; i < 100; i++) {
    const key = `${dir}${stamp}${i ? `-${i}` : ''}.json`;
    if (await store.head(key)) continue;
    await store.put(key, bytes, { contentType: 'application/json', ifNoneMatch: true });
    return key;
  }
  throw new StorageError(dir, 'could not find a free summary key');
}

/**
 * The scheduled event's input (`schedule.input`, `parseScheduleInput`): one tenant and/or one audit, or every one. A
 * misspelt field (`tenants`, `auditName`) is refused by name, where ignoring it would run every audit of every tenant.
 */
const scheduleInputSchema = z.object({ tenant: tenantIdSchema.optional(), audit: idSchema.optional() });

export type AuditOutcome = { tenant: string; name: string; summaryKey?: string; counts?: AuditSummary['counts']; alert?: boolean; error?: string; skipped?: string };

/**
 * An audit is started only while at least this much of the invocation is left, or 1.5 × the longest audit of the run
 * so far if that is more: one started too late would be killed at the function's timeout and retried whole.
 */
const AUDIT_START_RESERVE_MS = 60_000;

/** When the scheduler last started an audit; never-started audits (no marker, or one that cannot be read) sort first. */
async function lastStarted(view: ObjectStore, name: string): Promise<string> {
  try {
    return (await readStoredJson(view, auditKeys(name).attempt, 'audit attempt', attemptSchema))?.startedAt ?? '';
  } catch (e) {
    if (isTransientError(e)) throw e;
    return '';
  }
}

/**
 * One scheduled run: for each tenant (the one the event names, or every tenant `tenants()` lists) the audit the event
 * names, or every audit with a config in that tenant's view, least recently started first (a marker written before
 * each run, so one that keeps failing or timing out does not keep the others waiting). With `remainingMs` (the
 * invocation's time left), audits that could not finish in time are not started but reported `skipped`; being the
 * least recently run, they go first in the next run, so a schedule with more audits than one invocation can hold
 * still runs each of them in turn. One failing audit does not stop the others; the run throws (so the scheduler
 * retries and alarms) only when every audit it started failed.
 */
export async function runScheduledAudits(
  deps: {
    store: ObjectStore;
    logger: Logger;
    runtime: AuditDeps['runtime'];
    tenants: () => Promise<string[]>;
    remainingMs?: () => number;
    metrics?: MetricSink;
    /** Milliseconds, for measuring audit durations (default performance.now). */
    clock?: () => number;
  },
  event: unknown,
): Promise<{ audits: AuditOutcome[] }> {
  const { tenant, audit } = parseScheduleInput(scheduleInputSchema, event, 'schedule input (it takes tenant and audit)');
  const tenants = tenant !== undefined ? [tenant] : await deps.tenants();
  const planned: { tenant: string; name: string; lastRun: string }[] = [];
  for (const t of tenants) {
    const view = tenantStore(deps.store, t);
    // An audit named without a tenant runs in the tenants that have it, not in every tenant (one named with its tenant
    // is run, and fails below, if it has no config: the rule is then wrong).
    const names = audit === undefined ? await listAudits(view) : tenant !== undefined || (await view.head(auditKeys(audit).config)) ? [audit] : [];
    for (const name of names) planned.push({ tenant: t, name, lastRun: await lastStarted(view, name) });
  }
  if (audit !== undefined && planned.length === 0) throw new NotFoundError('audit', `no tenant has an audit named ${audit}`);
  // A rule naming its tenant means that tenant's audits: none is a wrong rule (a misspelt tenant), not a quiet no-op.
  if (tenant !== undefined && planned.length === 0) throw new NotFoundError('tenant', `tenant ${tenant} has no audits (no audits/<name>/config.json)`);
  // Stable: equal times keep the tenant/name listing order.
  planned.sort((a, b) => (a.lastRun < b.lastRun ? -1 : a.lastRun > b.lastRun ? 1 : 0));
  const out: AuditOutcome[] = [];
  const clock = deps.clock ?? (() => performance.now());
  let longestMs = 0;
  for (const { tenant: t, name } of planned) {
    const reserve = Math.max(AUDIT_START_RESERVE_MS, 1.5 * longestMs);
    const left = deps.remainingMs?.();
    if (left !== undefined && left < reserve) {
      out.push({ tenant: t, name, skipped: `not started with ${Math.round(left / 1000)} s of the invocation left (needs ${Math.round(reserve / 1000)} s); it runs first next time` });
      continue;
    }
    const t0 = clock();
    const view = tenantStore(deps.store, t);
    let run: Awaited<ReturnType<typeof runAudit>> | undefined;
    try {
      // The marker only for an audit that exists: a rule naming a missing one must leave nothing in the tenant's space.
      if (!(await view.head(auditKeys(name).config))) throw new NotFoundError('audit', `no audit ${name} (${auditKeys(name).config} is missing)`);
      await view.put(auditKeys(name).attempt, new TextEncoder().encode(JSON.stringify({ startedAt: new Date().toISOString() })), { contentType: 'application/json' });
      run = await runAudit({ store: view, logger: deps.logger.child({ tenant: t }), runtime: deps.runtime, ...(deps.remainingMs ? { remainingMs: deps.remainingMs } : {}) }, name);
    } catch (e) {
      deps.logger.error({ err: e, tenant: t, audit: name }, 'audit failed');
      out.push({ tenant: t, name, error: (e as Error).message });
    }
    longestMs = Math.max(longestMs, clock() - t0);
    if (run) {
      const { summaryKey, summary } = run;
      out.push({ tenant: t, name, summaryKey, counts: summary.counts, alert: summary.alert });
      if (summary.alert) deps.logger.warn({ tenant: t, audit: name, summaryKey, oodRate: summary.oodRate, pValue: summary.pValue }, 'drift alert');
    }
    deps.metrics?.(
      metricRecord(
        { tenant: t, audit: name },
        run
          ? {
              AuditAlert: { value: run.summary.alert ? 1 : 0, unit: 'Count' },
              AuditFailed: { value: 0, unit: 'Count' },
              AuditSamples: { value: run.summary.counts.samples, unit: 'Count' },
              AuditFlagged: { value: run.summary.counts.flagged, unit: 'Count' },
              ...(run.summary.oodRate !== null ? { AuditOodRate: { value: run.summary.oodRate, unit: 'None' as const } } : {}),
            }
          : { AuditFailed: { value: 1, unit: 'Count' } },
      ),
    );
  }
  const skipped = out.filter((o) => o.skipped !== undefined);
  if (skipped.length > 0) deps.logger.warn({ skipped: skipped.map((o) => `${o.tenant}/${o.name}`) }, `${skipped.length} audit(s) not started: the invocation's time ran out`);
  const started = out.filter((o) => o.skipped === undefined);
  if (started.length > 0 && started.every((o) => o.error !== undefined)) throw new Error(`every audit failed: ${started.map((o) => `${o.tenant}/${o.name}: ${o.error}`).join('; ')}`);
  return { audits: out };
}
