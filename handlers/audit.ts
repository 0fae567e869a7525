/**
 * audit: on a schedule. Runs the audit named in the event (`schedule.input: {audit: name}`), or every audit that has
 * an `audits/<name>/config.json`. One failing audit does not stop the others; the function fails (and is retried by
 * the scheduler) only when every audit failed.
 */
import { getDeps, runtimeOptions } from '../src/http/deps.js';
import type { ScheduleEvent } from '../src/http/events.js';
import { listAudits, runAudit, type AuditSummary } from '../src/service/audit.js';

export async function handler(event: ScheduleEvent = {}): Promise<{ audits: { name: string; summaryKey?: string; counts?: AuditSummary['counts']; alert?: boolean; error?: string }[] }> {
  const { store, logger, config } = getDeps();
  const names = event.audit ? [event.audit] : await listAudits(store);
  const out = [];
  for (const name of names) {
    try {
      const { summaryKey, summary } = await runAudit({ store, logger, runtime: runtimeOptions(config) }, name);
      out.push({ name, summaryKey, counts: summary.counts, alert: summary.alert });
    } catch (e) {
      logger.error({ err: e, audit: name }, 'audit failed');
      out.push({ name, error: (e as Error).message });
    }
  }
  if (out.length > 0 && out.every((a) => a.error !== undefined)) throw new Error(`every audit failed: ${out.map((a) => `${a.name}: ${a.error}`).join('; ')}`);
  return { audits: out };
}
