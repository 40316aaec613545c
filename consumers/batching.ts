/**
 * When the sink inserts what it buffered. The processor sends each flush's rows in one burst every
 * FLUSH_INTERVAL_MS, so once rows stop arriving for QUIET_MS the burst has been read whole and
 * waiting longer only adds latency, not rows to the part. Bounds: a row waits at most
 * `batchDelayMs`, and inserts are at least `batchDelayMs / 2` apart, so a table gets at most two
 * parts per `batchDelayMs`. (Half, not all of it: with a processor flushing every `batchDelayMs`,
 * a full spacing finds every burst a little early, and the wait ratchets up to the whole delay.)
 */
export const QUIET_MS = 40;

export interface BufferTimes {
  /** Rows buffered. */
  rows: number;
  /** When the first and the latest of them arrived (ms). */
  since: number;
  latest: number;
  /** When the previous insert began (ms; 0: none yet). */
  lastInsertAt: number;
}

export function batchDue(
  { rows, since, latest, lastInsertAt }: BufferTimes,
  now: number,
  batchDelayMs: number,
): boolean {
  if (rows === 0 || now - lastInsertAt < batchDelayMs / 2) return false;
  return now - latest >= QUIET_MS || now - since >= batchDelayMs;
}
