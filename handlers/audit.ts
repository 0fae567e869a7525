/**
 * audit: on a schedule. For each tenant in the keyring (or the one the event names), runs the audit named in the event
 * (`schedule.input: {tenant?, audit?}`), or every audit that has an `audits/<name>/config.json` in the tenant's view.
 * One failing audit does not stop the others; the function fails (and is retried by the scheduler) only when every
 * audit failed.
 */
import { tenantIdSchema } from '../src/auth/api-keys.js';
import { loadKeyring } from '../src/http/auth.js';
import { getDeps, runtimeOptions } from '../src/http/deps.js';
import type { ScheduleEvent } from '../src/http/events.js';
import { parseWith } from '../src/http/respond.js';
import { listAudits, runAudit, type AuditSummary } from '../src/service/audit.js';
import { tenantStore } from '../src/storage/tenant-store.js';

type AuditOutcome = { tenant: string; name: string; summaryKey?: string; counts?: AuditSummary['counts']; alert?: boolean; error?: string };

export async function handler(event: ScheduleEvent = {}): Promise<{ audits: AuditOutcome[] }> {
  const { store, logger, config } = getDeps();
  const tenants = event.tenant !== undefined ? [parseWith(tenantIdSchema, event.tenant)] : (await loadKeyring(config, store)).tenants();
  const out: AuditOutcome[] = [];
  for (const tenant of tenants) {
    const view = tenantStore(store, tenant);
    const names = event.audit ? [event.audit] : await listAudits(view);
    for (const name of names) {
      try {
        const { summaryKey, summary } = await runAudit({ store: view, logger: logger.child({ tenant }), runtime: runtimeOptions(config) }, name);
        out.push({ tenant, name, summaryKey, counts: summary.counts, alert: summary.alert });
      } catch (e) {
        logger.error({ err: e, tenant, audit: name }, 'audit failed');
        out.push({ tenant, name, error: (e as Error).message });
      }
    }
  }
  if (out.length > 0 && out.every((a) => a.error !== undefined)) throw new Error(`every audit failed: ${out.map((a) => `${a.tenant}/${a.name}: ${a.error}`).join('; ')}`);
  return { audits: out };
}
