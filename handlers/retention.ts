/**
 * retention: on a schedule (daily; `schedule.input: {tenant?, dryRun?, uploadRetention?, jobRetention?, keepVersions?,
 * versionMinAge?, auditSummaryRetention?}`). Sweeps every tenant of the keyring, or the one named; the policy is
 * src/storage/retention.ts, the run `runScheduledRetention` in src/service/retention.ts.
 */
import { loadKeyring } from '../src/http/auth.js';
import { getDeps } from '../src/http/deps.js';
import type { LambdaContext } from '../src/http/events.js';
import { getJobClient } from '../src/http/queue-deps.js';
import { bindMissing } from '../src/log.js';
import { runScheduledRetention, type TenantOutcome } from '../src/service/retention.js';

export async function handler(event: unknown = {}, context?: LambdaContext): Promise<{ tenants: TenantOutcome[] }> {
  const { store, config, logger: base } = getDeps();
  const logger = bindMissing(base, { awsRequestId: context?.awsRequestId });
  const remaining = context?.getRemainingTimeInMillis?.bind(context);
  return runScheduledRetention({ store, logger, tenants: async () => (await loadKeyring(config, store)).tenants(), jobInQueue: (id) => getJobClient().knows(id), ...(remaining ? { remainingMs: remaining } : {}) }, event);
}
