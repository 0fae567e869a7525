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

export type { Logger };
