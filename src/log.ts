import { pino, type Logger } from 'pino';

/** One JSON-lines logger per process (stderr), at the configured level. Handlers, the worker and audits share it. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: 'imagedrift', ...bindings } }, pino.destination({ dest: 2, sync: true }));
}

export type { Logger };
