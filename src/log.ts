import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * One JSON-lines logger per process (stderr), at the configured level. Handlers, the worker and audits share it.
 * Credentials never reach a log line: nothing logs request headers, and as a second guard any `authorization`,
 * `x-api-key` or `apiKey` field at the top level or one level down is replaced by "[redacted]".
 *
 * ioredis attaches the failed command to its errors (`err.command = {name, args}`), and pino's error serializer writes
 * it out: for a connection whose password is wrong that is `HELLO 3 AUTH default <password>` (logged by the worker on
 * every reconnect), for a failed enqueue the whole job payload. The arguments are redacted, the command's name kept.
 */
const REDACTED_PATHS = [
  'authorization',
  'apiKey',
  '["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.authorization',
  '*.apiKey',
  '*["x-api-key"]',
  '*.headers.authorization',
  '*.headers["x-api-key"]',
  '*.command.args',
  '*.aggregateErrors[*].command.args',
];

export function createLogger(level: string, bindings: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'imagedrift', ...bindings }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination ?? pino.destination({ dest: 2, sync: true }));
}

/**
 * A child logger with `fields` bound, leaving out those the logger already binds: pino writes a key bound twice twice
 * (`{"jobId":…,"jobId":…}`), a duplicate-key JSON line that strict log stores (Elasticsearch/OpenSearch) reject.
 */
export function bindMissing(logger: Logger, fields: Record<string, unknown>): Logger {
  const bound = logger.bindings();
  const missing = Object.fromEntries(Object.entries(fields).filter(([k, v]) => v !== undefined && !(k in bound)));
  return Object.keys(missing).length > 0 ? logger.child(missing) : logger;
}

/**
 * Says whether a repeated event should be logged: the first with a given key at once, then at most one per
 * `intervalMs`, returning how many were held back since the last one logged (undefined: hold this one back). For
 * event sources that repeat without limit, such as BullMQ's 'error' on every failed reconnect through a Redis outage
 * (one every 2 s, about ten a second with a wrong password), so that an hour's outage is 60 error lines, not 1,800.
 */
export function repeatLimiter(intervalMs = 60_000, now: () => number = Date.now): (key: string) => number | undefined {
  const last = new Map<string, { at: number; held: number }>();
  return (key) => {
    const t = now();
    const e = last.get(key);
    if (e && t - e.at < intervalMs) {
      e.held += 1;
      return undefined;
    }
    if (!e && last.size >= 64) last.clear(); // keys are error messages: a few per outage; never grows without bound
    last.set(key, { at: t, held: 0 });
    return e?.held ?? 0;
  };
}

export type { Logger };
