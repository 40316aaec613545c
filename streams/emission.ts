import { isProgrammerError } from '../platform/errors';
import type { OutgoingRecord } from '../platform/kafka/client';
import type { DeadLetterInput } from '../schemas/dead-letter';

/**
 * A record the processor sends (a rollup row or a dead letter) with what to say about it if the
 * broker refuses it: the coordinates and reason of the small dead letter that then takes its place.
 */
export interface Emission {
  record: OutgoingRecord;
  describe: () => DeadLetterInput;
  /** Rows the record holds (a block's), 1 when unset. */
  rows?: number;
  /** A block's rows alone: what is sent instead when the broker refuses the block. */
  split?: () => Emission[];
  /** Set on that small dead letter itself: if even it is refused, it is dropped (counted and logged), never retried forever. */
  isolated?: { source: string; partition: number | null; offset: number | null; reason: string };
}

/**
 * Errors that come from a record, not from the infrastructure: retrying cannot help, and the
 * same record will fail the same way on every broker. Anything else (a broker down, no leader,
 * an ACL not yet granted) is waited out with backoff.
 * @see https://kafka.apache.org/protocol#protocol_error_codes
 */
const RECORD_ERRORS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_RECORD_STATE',
]);

export function isRecordAtFault(err: unknown): boolean {
  if (isProgrammerError(err)) return true;
  for (
    let e = err as { type?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    e = e.cause as typeof e, depth++
  ) {
    if (typeof e.type === 'string' && RECORD_ERRORS.has(e.type)) return true;
  }
  return false;
}

/**
 * Groups records into sends, lazily (the processor encodes its rows as it goes): a send ends
 * before the record that would take it past `maxRecords` records or `maxBytes` bytes; a record
 * larger than `maxBytes` goes alone (the broker then says whether it takes it).
 */
export function* inSends<T>(
  records: Iterable<T>,
  bytesOf: (record: T) => number,
  limits: { maxRecords: number; maxBytes: number },
): Generator<T[]> {
  let send: T[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = bytesOf(record);
    if (send.length > 0 && (send.length >= limits.maxRecords || bytes + size > limits.maxBytes)) {
      yield send;
      send = [];
      bytes = 0;
    }
    send.push(record);
    bytes += size;
  }
  if (send.length > 0) yield send;
}
