/**
 * audit: on a schedule (`schedule.input: {tenant?, audit?}`). Runs the named audit, or every audit of every tenant in
 * the keyring; the policy (which audits, when the run counts as failed) is `runScheduledAudits` in src/service/audit.ts.
 */
import { loadKeyring } from '../src/http/auth.js';
import { getDeps, runtimeOptions } from '../src/http/deps.js';
import { bindMissing } from '../src/log.js';
import type { LambdaContext, ScheduleEvent } from '../src/http/events.js';
import { stdoutMetrics } from '../src/cloudwatch-metrics.js';
import { runScheduledAudits, type AuditOutcome } from '../src/service/audit.js';

export async function handler(event: ScheduleEvent = {}, context?: LambdaContext): Promise<{ audits: AuditOutcome[] }> {
  const { store, config, logger: base } = getDeps();
  // Lambda's invocation id on every line of the run, to tie them to its START/REPORT (and timeout) lines.
  const logger = bindMissing(base, { awsRequestId: context?.awsRequestId });
  const remaining = context?.getRemainingTimeInMillis?.bind(context);
  return runScheduledAudits({ store, logger, runtime: runtimeOptions(config), tenants: async () => (await loadKeyring(config, store)).tenants(), ...(config.metrics === 'emf' ? { metrics: stdoutMetrics } : {}), ...(remaining ? { remainingMs: remaining } : {}) }, event);
}
