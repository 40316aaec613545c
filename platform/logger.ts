import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr (stdout stays free for command output such as tables).
 * Event names are short (`kafka.ready`), details go in fields.
 */
export function createLogger(level: string, name = 'tributary'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything, for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
