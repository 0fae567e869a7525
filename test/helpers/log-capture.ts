/**
 * A real pino logger whose JSON lines are kept in memory, so a test can count what an in-process worker logged
 * ('job started' per attempt, 'job attempt failed', 'job done', 'worker error'…). Set IMAGEDRIFT_TEST_LOG=1 to also
 * echo the lines to stderr.
 */
import { pino, type Logger } from 'pino';

export interface LogLine {
  readonly level: number;
  readonly time: number;
  readonly msg: string;
  readonly [k: string]: unknown;
}

export interface CapturedLog {
  readonly logger: Logger;
  readonly lines: LogLine[];
  /** Lines whose `msg` equals `msg` (and, if given, whose `jobId` equals `jobId`). */
  find(msg: string, jobId?: string): LogLine[];
  /** The last `n` lines as text, for assertion messages. */
  tail(n?: number): string;
}

export function captureLogger(level = 'info'): CapturedLog {
  const lines: LogLine[] = [];
  const echo = process.env.IMAGEDRIFT_TEST_LOG === '1';
  const logger = pino(
    { level, base: { service: 'imagedrift-test' } },
    {
      write(s: string) {
        lines.push(JSON.parse(s) as LogLine);
        if (echo) process.stderr.write(s);
      },
    },
  );
  return {
    logger,
    lines,
    find: (msg, jobId) => lines.filter((l) => l.msg === msg && (jobId === undefined || l.jobId === jobId)),
    tail: (n = 40) =>
      lines
        .slice(-n)
        .map((l) => JSON.stringify(l))
        .join('\n'),
  };
}
