import type { OrderEvent, PipelineEvent, UserEvent } from './catalog';
import type { CustomEvent } from './events/avro';

/**
 * When two events are the same event. An eventId is unique per origin (the write key or bridge
 * that accepted it; docs/limits.md): one key's client cannot pre-empt another's events by
 * reusing their ids. Within an origin, a repeated id with the same content is a client retry
 * (counted once); with other content it is a conflict (dead-lettered, never silently dropped).
 */

/** The id duplicates are recognised by: origin and eventId (neither may contain NUL). */
export function dedupKey(record: Pick<UserEvent, 'eventId' | 'origin'>): string {
  return record.origin === null ? record.eventId : `${record.origin}\u0000${record.eventId}`;
}

/**
 * A 32-bit FNV-1a hash of everything a retry repeats: every field but eventId, origin and
 * receivedAt (stamped anew on each attempt). Equal content → equal fingerprint, always; a
 * different fingerprint → different content. (Two different contents may share one, 1 in 2^32:
 * that conflict goes unnoticed and the first copy counts, as before this check existed.)
 */
export function contentFingerprint(record: UserEvent | OrderEvent): number {
  // Hot path (every event the processor counts): numbers are mixed as numbers, not as strings.
  let h = mixNumber(0x811c9dc5, record.occurredAt);
  h = mix(h, record.type);
  h = mix(h, record.userId);
  h = mix(h, record.country);
  if ('orderId' in record) {
    h = mix(h, record.orderId);
    h = mix(h, record.currency);
    h = record.amountCents === null ? mix(h, null) : mixNumber(h, record.amountCents);
    for (const item of record.items) {
      h = mix(mix(h, item.sku), item.category);
      h = mixNumber(mixNumber(h, item.quantity), item.unitPriceCents);
    }
  } else {
    h = mix(mix(mix(h, record.sessionId), record.device), record.page);
    const keys = Object.keys(record.properties);
    if (keys.length > 1) keys.sort();
    for (const key of keys) h = mix(mix(h, key), record.properties[key]!);
  }
  return h >>> 0;
}

/** The fingerprint of any event: contentFingerprint, or customFingerprint for a declared type. */
export function fingerprintOf(event: PipelineEvent): number {
  return event.kind === 'custom' ? customFingerprint(event.type, event.record) : contentFingerprint(event.record);
}

/**
 * contentFingerprint of a declared event: its type, time, user and the properties that hold a
 * value, by name (a version that added an optional property, absent here, fingerprints alike).
 */
export function customFingerprint(type: string, record: CustomEvent): number {
  let h = mixNumber(0x811c9dc5, record.occurredAt);
  h = mix(mix(h, type), record.userId);
  const keys = Object.keys(record.properties).filter((k) => record.properties[k] !== null);
  if (keys.length > 1) keys.sort();
  for (const key of keys) {
    const v = record.properties[key]!;
    h = mix(h, key);
    h = typeof v === 'number' ? mixNumber(h, v) : mix(h, Buffer.isBuffer(v) ? v.toString('hex') : String(v));
  }
  return h >>> 0;
}

/** FNV-1a over a string's UTF-16 code units, then a separator no field holds; null differs from ''. */
function mix(h: number, s: string | null | undefined): number {
  if (s === null || s === undefined) return Math.imul(h ^ 0x1e, 0x01000193);
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return Math.imul(h ^ 0x1f, 0x01000193);
}

/** A safe integer as its low and high 32 bits. */
function mixNumber(h: number, n: number): number {
  h = Math.imul(h ^ (n | 0), 0x01000193);
  return Math.imul(h ^ Math.floor(n / 4294967296), 0x01000193);
}
