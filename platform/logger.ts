import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** `json`: one JSON object per line; `pretty`: one readable line each; `auto`: pretty on a terminal. */
export type LogFormat = 'json' | 'pretty' | 'auto';

/** What `auto` means for this process: pretty when a person watches stdout, JSON when a program reads it. */
export function resolveLogFormat(format: LogFormat): 'json' | 'pretty' {
  return format === 'auto' ? (process.stdout.isTTY ? 'pretty' : 'json') : format;
}

/**
 * Structured logs on stderr (stdout stays free for command output such as tables). Event names
 * are short (`kafka.ready`), details go in fields. JSON unless a person watches
 * (LOG_FORMAT=auto on a TTY, or LOG_FORMAT=pretty): then pino-pretty, one line per entry.
 */
export function createLogger(level: string, name = 'tributary', format: LogFormat = 'auto'): Logger {
  if (resolveLogFormat(format) === 'json')
    return pino(
      { name, level, base: { pid: process.pid }, ...LOG_REDACTION },
      pino.destination({ fd: 2, sync: false }),
    );
  const stream = pretty({
    destination: 2,
    sync: true,
    colorize: Boolean(process.stderr.isTTY),
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,name',
    messageFormat: '{name}: {msg}',
  });
  return pino({ name, level, ...LOG_REDACTION }, stream);
}

/** `scheme://user:password@` → `scheme://user:***@` anywhere in a text (an error's message or stack). */
export function redactUrls(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@/\s]*@/gi, '$1:***@');
}

/**
 * What never reaches a log: credentials under any of these names (an object logged with its
 * headers, a config, SASL options) are written as ***, and a URL's password inside an error.
 */
const SECRET_KEYS = [
  'password',
  'authorization',
  'cookie',
  'writeKey',
  'readKey',
  'writeKeys',
  'readKeys',
  'secret',
  'token',
  'apiKey',
  'set-cookie',
];
export const LOG_REDACTION = {
  redact: {
    paths: [
      ...SECRET_KEYS,
      ...SECRET_KEYS.map((k) => `*.${k}`),
      ...SECRET_KEYS.map((k) => `*.*.${k}`),
      'req.headers.authorization',
      'req.headers.cookie',
    ],
    censor: '***',
  },
  serializers: {
    err: (err: unknown) => {
      const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>;
      for (const field of ['message', 'stack'])
        if (typeof out[field] === 'string') out[field] = redactUrls(out[field] as string);
      return out;
    },
  },
};

/**
 * Node's own warnings (a deprecation, an SDK's notice) go through the logger instead of raw text
 * on stderr, so that stderr stays JSON lines when logs are JSON.
 */
export function routeProcessWarnings(logger: Logger): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (!isHarmlessWarning(warning)) logger.warn({ warning: warning.name }, warning.message.split('\n')[0]!);
  });
}

/**
 * Warnings that say nothing anyone can act on. kafkajs 2.2.4's request queue schedules its next
 * check `throttledUntil - now` ms ahead, and throttledUntil is -1 until a broker throttles: a
 * negative timeout, which Node runs after 1 ms, as it always did; Node 24 also prints a
 * TimeoutNegativeWarning for it, on every connection.
 */
export function isHarmlessWarning(warning: Error): boolean {
  return warning.name === 'TimeoutNegativeWarning';
}

/** Node's own printing of warnings, minus the harmless ones (for commands, whose stderr is for people). */
export function quietHarmlessWarnings(): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (!isHarmlessWarning(warning)) for (const print of printers) print(warning);
  });
}

/** A logger that drops everything, for tests and library callers that pass none. */
export const silentLogger: Logger = pino({ level: 'silent' });
