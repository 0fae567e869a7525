/**
 * retention: on a schedule (daily; `schedule.input: {tenant?, dryRun?, uploadRetention?, jobRetention?, keepVersions?,
 * versionMinAge?, auditSummaryRetention?}`). Sweeps every tenant of the keyring, or the one named; the policy is
 * src/storage/retention.ts, the run `runScheduledRetention` in src/service/retention.ts.
 */
import { scheduledRunDeps } from '../src/http/deps.js';
import type { LambdaContext } from '../src/http/events.js';
import { getJobClient } from '../src/http/queue-deps.js';
import { runScheduledRetention, type TenantOutcome } from '../src/service/retention.js';

export async function handler(event: unknown = {}, context?: LambdaContext): Promise<{ tenants: TenantOutcome[] }> {
  return runScheduledRetention({ ...scheduledRunDeps(context), jobInQueue: (id) => getJobClient().knows(id) }, event);
}
