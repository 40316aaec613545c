import { isProgrammerError } from './errors';

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions {
  /** The first wait; each further failure doubles it, up to `maxMs`. */
  initialMs: number;
  maxMs: number;
  /** Give up after this many attempts; unset: keep trying. */
  attempts?: number;
  /** True when a failure must not be retried (the stage is stopping, an error retrying cannot fix). */
  giveUp?: (err: unknown) => boolean;
  /** Cuts a wait short; the next attempt (or `giveUp`) decides what stopping means. */
  signal?: AbortSignal;
  /** Called before each wait: log it, count it. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** The wait after failed attempt number `attempt` (0-based): initialMs · 2^attempt, capped at maxMs. */
export function backoffDelay(attempt: number, { initialMs, maxMs }: Pick<RetryOptions, 'initialMs' | 'maxMs'>): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
}

/**
 * Runs `work` until it resolves, waiting with exponential backoff between failed attempts. The
 * one retry loop of the codebase. A programmer error (TypeError, RangeError…) is never retried:
 * retrying only hides the bug. Rethrows the failure when `giveUp` says so or `attempts` ran out.
 * @see https://github.com/tulios/kafkajs/tree/master/src/retry (the same shape)
 */
export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work(attempt);
    } catch (err) {
      const exhausted = options.attempts !== undefined && attempt + 1 >= options.attempts;
      if (isProgrammerError(err) || exhausted || options.giveUp?.(err)) throw err;
      const delay = backoffDelay(attempt, options);
      options.onRetry?.(err, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}
