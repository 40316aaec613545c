/**
 * Errors carry whether retrying can help, and the error that caused them.
 * @see https://github.com/tulios/kafkajs/blob/master/src/errors.js (the same idea: `retriable`)
 */
export class TributaryError extends Error {
  readonly retriable: boolean;

  constructor(message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = 'TributaryError';
    this.retriable = options.retriable;
  }
}

/** Programmer errors are never retried: retrying a TypeError only hides the bug. */
export function isProgrammerError(err: unknown): boolean {
  return (
    err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError || err instanceof ReferenceError
  );
}

/**
 * True when an operation that failed with `err` may succeed if tried again: a TributaryError or a
 * kafkajs error that says so, or a network failure. Unknown errors are not retriable.
 */
export function isRetriable(err: unknown): boolean {
  if (isProgrammerError(err)) return false;
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { retriable?: unknown; code?: unknown; name?: unknown; cause?: unknown };
  if (typeof e.retriable === 'boolean') {
    // kafkajs wraps the last retriable error when it gives up; that outage may still end.
    if (e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSNonRetriableError')
      return isRetriable(e.cause);
    return e.retriable;
  }
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (e.name === 'KafkaJSConnectionError' || e.name === 'KafkaJSRequestTimeoutError') return true;
  return false;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
]);

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
