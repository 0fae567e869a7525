import { InputError } from '../core/errors.js';
import { isSafeKey } from './object-store.js';

/**
 * The bucket layout: every key the service writes, in one place (README "S3 state layout"). Keys are in a tenant's
 * view; in the bucket each tenant's live under `tenants/<tenant>/` (src/storage/tenant-store.ts).
 */

/** Ids of datasets, models and detectors (`idSchema` in src/schemas.ts): one key segment, never `.` or `..`. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Job ids become key segments (`jobs/<jobId>/…`), so they are restricted like other ids. */
export const JOB_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Where every detector's folder lives (listed for GET /detectors). */
export const DETECTORS_PREFIX = 'detectors/';

/** A detector: `current.json` and immutable versions `v<n>/manifest.json` + arrays (src/storage/detector-repository.ts). */
export const detectorPrefix = (id: string): string => `${DETECTORS_PREFIX}${id}/`;

/** The detector id of a folder `detectors/<id>/` (as listed), or undefined for a folder no detector id can name. */
export function detectorIdOfPrefix(folder: string): string | undefined {
  if (!folder.startsWith(DETECTORS_PREFIX) || !folder.endsWith('/')) return undefined;
  const id = folder.slice(DETECTORS_PREFIX.length, -1);
  return ID_PATTERN.test(id) ? id : undefined;
}

/**
 * The keys inside a detector's prefix (`detectorPrefix(id)` in the bucket, '' in a CLI detector directory): the
 * pointer to the current version, and each version's directory (arrays `<name>.bin`) and manifest (written last).
 */
export const detectorKeys = (prefix: string) => {
  // 'det' would write `detcurrent.json` and `detv1/…` beside the detector's folder instead of in it.
  if (prefix !== '' && !prefix.endsWith('/')) throw new InputError('prefix', `${JSON.stringify(prefix)} must be '' or end with '/' (a detector's folder)`);
  return { current: `${prefix}current.json`, versionDir: (v: number) => `${prefix}v${v}/`, manifest: (v: number) => `${prefix}v${v}/manifest.json` } as const;
};

/** A validated dataset: its data (named by content hash, so concurrent uploads never overwrite) and manifest. */
export const datasetKeys = (id: string) => ({ manifest: `datasets/${id}/manifest.json`, data: (ext: string, sha: string) => `datasets/${id}/data-${sha.slice(0, 16)}.${ext}` }) as const;

/** A model: the ONNX bytes (named by content hash) and its manifest. */
export const modelKeys = (id: string) => ({ model: (sha: string) => `models/${id}.${sha.slice(0, 16)}.onnx`, manifest: `models/${id}.json` }) as const;

/**
 * The model id in a model key a detector manifest records (`models/<id>.<sha16>.onnx`, or the first release's
 * `models/<id>.onnx`), or undefined for any other key (a CLI detector directory's `model.onnx`).
 */
export function modelIdOfKey(key: string): string | undefined {
  const m = /^models\/([^/.]+)(?:\.[0-9a-f]{16})?\.onnx$/.exec(key);
  return m && ID_PATTERN.test(m[1]!) ? m[1] : undefined;
}

/** A pending presigned upload: never read as a dataset until `complete` validates and promotes it. */
export const uploadKeys = (id: string) => ({ record: `uploads/${id}/upload.json`, data: `uploads/${id}/data` }) as const;

/** A job's version claim (idempotent reruns) and its result marker, written last. */
export const jobKeys = (jobId: string) => ({ result: `jobs/${jobId}/result.json`, claim: `jobs/${jobId}/claim` }) as const;

/** An audit's config (the tenant's), cursor and run summaries. */
export const auditKeys = (name: string) =>
  ({ dir: `audits/${name}/`, config: `audits/${name}/config.json`, cursor: `audits/${name}/cursor.json`, attempt: `audits/${name}/attempt.json` }) as const;

/**
 * The retention sweep's position in a tenant's view (src/service/retention.ts): where a pass stopped for the
 * invocation's time goes on. Under a prefix of its own, which no retention rule lists and no audit may read.
 */
export const RETENTION_CURSOR_KEY = 'retention/cursor.json';

/** The name of one audit run's summary in its audit's folder: `<UTC timestamp, ':' as '-'>[-<n>].json` (src/service/audit.ts). */
export const AUDIT_SUMMARY_NAME = /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z(-\d+)?\.json$/;

/**
 * Reading keys back (the retention sweep, src/storage/retention.ts): what a key of the layout above is, or undefined
 * for any key the service does not write in that shape (left alone by whoever asks). Ids are checked as the service
 * checks them when it writes: a key S3 allows but the service never writes (`uploads/a\\b/data`, a `..` segment) is
 * not one of them, and could not be read or deleted through a tenant's view anyway.
 */
export const parseUploadKey = (key: string): { id: string; file: 'record' | 'data' } | undefined => {
  const m = /^uploads\/([^/]+)\/(upload\.json|data)$/.exec(key);
  return m && ID_PATTERN.test(m[1]!) ? { id: m[1]!, file: m[2] === 'data' ? 'data' : 'record' } : undefined;
};

export const parseJobKey = (key: string): { jobId: string; file: 'claim' | 'result' } | undefined => {
  const m = /^jobs\/([^/]+)\/(claim|result\.json)$/.exec(key);
  return m && JOB_ID_PATTERN.test(m[1]!) ? { jobId: m[1]!, file: m[2] === 'claim' ? 'claim' : 'result' } : undefined;
};

/** The detector id of a key under `detectors/<id>/`. */
export const detectorIdOfKey = (key: string): string | undefined => {
  const id = /^detectors\/([^/]+)\//.exec(key)?.[1];
  return id !== undefined && ID_PATTERN.test(id) ? id : undefined;
};

/**
 * A file of a detector version, `<prefix>v<n>/<file>` (n written as `detectorKeys(prefix).versionDir` writes it: no
 * leading zero). `manifest` when it is the version's manifest.
 */
export const parseVersionKey = (prefix: string, key: string): { version: number; file: string; manifest: boolean } | undefined => {
  if (!key.startsWith(prefix) || !isSafeKey(key)) return undefined;
  const m = /^v([1-9]\d{0,14})\/([^/]+)$/.exec(key.slice(prefix.length));
  return m ? { version: Number(m[1]), file: m[2]!, manifest: m[2] === 'manifest.json' } : undefined;
};

/** An audit run's summary, `audits/<name>/<timestamp>.json` (never the audit's config, cursor or attempt marker). */
export const parseAuditSummaryKey = (key: string): { audit: string } | undefined => {
  const m = /^audits\/([^/]+)\/([^/]+)$/.exec(key);
  return m && ID_PATTERN.test(m[1]!) && AUDIT_SUMMARY_NAME.test(m[2]!) ? { audit: m[1]! } : undefined;
};

/** Where checkObject writes the result for an incoming object key. */
export const checkResultKey = (incomingKey: string): string => `results/${incomingKey}.json`;

/** Where each tenant's view of the bucket lives: `tenants/<tenant>/` (src/storage/tenant-store.ts). */
export const TENANTS_PREFIX = 'tenants/';

/** Every prefix the service writes to: an audit may not read any of them as its input. */
export const SERVICE_PREFIXES = ['audits/', 'datasets/', 'detectors/', 'jobs/', 'models/', 'results/', 'retention/', 'uploads/'] as const;
