import { z } from 'zod';
import { tenantIdSchema } from '../auth/api-keys.js';
import { InputError, issueField } from '../core/errors.js';
import { calibrateMessageSchema, fitMessageSchema, predictMessageSchema, type JobResult, type JobResultSummary } from '../schemas.js';
import { isJobName, type JobName } from './names.js';
import { jobKeys } from '../storage/keys.js';

/**
 * Job payloads: the same zod messages the HTTP handlers validate (src/schemas.ts). A predict job always names a
 * stored dataset; the handler stores inline images as a dataset before enqueueing, so payloads stay small in Redis.
 */
const predictJobSchema = predictMessageSchema.refine((m) => m.dataset !== undefined && m.images === undefined, {
  path: ['dataset'],
  message: 'a predict job takes a stored dataset id (inline images are answered synchronously or stored first)',
});

const jobPayloadSchemas = {
  fit: fitMessageSchema,
  calibrate: calibrateMessageSchema,
  predict: predictJobSchema,
} as const satisfies Record<JobName, z.ZodTypeAny>;

export type JobPayload<N extends JobName> = z.infer<(typeof jobPayloadSchemas)[N]>;

/**
 * The job data's tenant field. It is added next to the payload by JobClient.enqueue and removed by the processor
 * before the payload is validated, so the message schemas (which also validate HTTP bodies) never accept it: a caller
 * cannot choose its tenant in a body.
 *
 * Every job has one. The processor works in `tenants/<tenant>/` of the bucket and nowhere else; a job without a tenant
 * (or with an invalid one) is refused as an input error before it touches the bucket, because there is no safe place
 * for it to work in (the bucket root holds every tenant's data and the keyring).
 */
export const TENANT_FIELD = 'tenant';

/** The tenant in job data, if it names one as a string (unvalidated: for comparisons and log fields only). */
export function jobTenant(data: unknown): string | undefined {
  const t = (data as Record<string, unknown> | null | undefined)?.[TENANT_FIELD];
  return typeof t === 'string' ? t : undefined;
}

/** A job's tenant, validated with the keyring's tenantIdSchema; missing or invalid → an InputError naming `tenant`. */
export function parseJobTenant(tenant: unknown): string {
  if (tenant === undefined || tenant === null) {
    throw new InputError(TENANT_FIELD, 'a job must name its tenant (the tenant of the API key that started it); a job without one is refused, never run against the bucket root');
  }
  const r = tenantIdSchema.safeParse(tenant);
  if (!r.success) throw new InputError(TENANT_FIELD, r.error.issues[0]!.message);
  return r.data;
}

/**
 * Splits job data into its tenant (required and validated: an InputError naming `tenant` otherwise) and the payload.
 * Nothing is read or written before this succeeds.
 */
export function splitJobData(data: unknown): { tenant: string; payload: unknown } {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new InputError(TENANT_FIELD, 'job data must be an object naming its tenant');
  const { [TENANT_FIELD]: tenant, ...payload } = data as Record<string, unknown>;
  return { tenant: parseJobTenant(tenant), payload };
}

/**
 * What a worker says of a job only a newer imagedrift could have enqueued (the functions validate every payload with
 * these schemas before it is enqueued, so a field or job name this worker does not know comes from another version).
 */
const NEWER_ENQUEUER = 'the job was enqueued by a newer imagedrift than this worker: upgrade every worker before the functions that enqueue (README "Rolling deploys")';

/**
 * Validates a payload for `name`; the InputError names the first failing field. Fields this worker does not know are
 * refused (it cannot do what they ask) as a newer enqueuer's, before any other issue: the client's request was valid.
 */
export function parseJobPayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  const r = jobPayloadSchemas[name].safeParse(data);
  if (!r.success) {
    const unknown = r.error.issues.find((i) => i.code === 'unrecognized_keys' && i.path.length === 0);
    if (unknown && 'keys' in unknown) throw new InputError('payload', `holds ${unknown.keys.map((k) => JSON.stringify(k)).join(', ')}, which this worker does not know; ${NEWER_ENQUEUER}`);
    const issue = r.error.issues[0]!;
    throw new InputError(issueField(issue, '', 'payload'), issue.message);
  }
  return r.data as JobPayload<N>;
}

export function checkJobName(name: string): JobName {
  if (!isJobName(name)) throw new InputError('job.name', `unknown job '${name}'; this worker runs fit, calibrate and predict (${NEWER_ENQUEUER})`);
  return name;
}

/** What a finished job leaves at `jobs/<jobId>/result.json` (and, except for predict's arrays, returns to BullMQ): the schemas of GET /jobs/{id}'s result. */
export type { CalibrateJobResult, FitJobResult, JobResult, PredictJobResult } from '../schemas.js';

/** The small summary returned to BullMQ (Redis): the full result, minus predict's per-sample arrays. */
export function summarise(r: JobResult): JobResultSummary {
  if (r.kind !== 'predict') return { ...r, resultKey: jobKeys(r.jobId).result };
  const { result: _r, scores: _s, pValues: _p, ...rest } = r;
  return { ...rest, resultKey: jobKeys(r.jobId).result };
}
