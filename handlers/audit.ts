/**
 * audit: on a schedule (`schedule.input: {tenant?, audit?}`). Runs the named audit, or every audit of every tenant in
 * the keyring; the policy (which audits, when the run counts as failed) is `runScheduledAudits` in src/service/audit.ts.
 */
import { runtimeOptions, scheduledRunDeps } from '../src/http/deps.js';
import type { LambdaContext, ScheduleEvent } from '../src/http/events.js';
import { stdoutMetrics } from '../src/cloudwatch-metrics.js';
import { runScheduledAudits, type AuditOutcome } from '../src/service/audit.js';

export async function handler(event: ScheduleEvent = {}, context?: LambdaContext): Promise<{ audits: AuditOutcome[] }> {
  const deps = scheduledRunDeps(context);
  return runScheduledAudits({ ...deps, runtime: runtimeOptions(deps.config), ...(deps.config.metrics === 'emf' ? { metrics: stdoutMetrics } : {}) }, event);
}
