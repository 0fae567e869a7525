import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * One JSON-lines logger per process (stderr), at the configured level. Handlers, the worker and audits share it.
 * Credentials never reach a log line: nothing logs request headers, and as a second guard any `authorization`,
 * `x-api-key` or `apiKey` field at the top level or one level down is replaced by "[redacted]".
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
];

export function createLogger(level: string, bindings: Record<string, unknown> = {}, destination?: DestinationStream): Logger {
  return pino({ level, base: { service: 'imagedrift', ...bindings }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, destination ?? pino.destination({ dest: 2, sync: true }));
}

export type { Logger };
