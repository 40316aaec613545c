import type { OrderEvent, UserEvent } from './catalog';

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
  let h = 0x811c9dc5;
  const mix = (s: string) => {
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0x1f, 0x01000193); // a separator no string field holds
  };
  mix(record.type);
  mix(record.userId);
  mix(String(record.occurredAt));
  mix(record.country ?? '\u0000');
  if ('orderId' in record) {
    mix(record.orderId);
    mix(record.currency ?? '\u0000');
    mix(record.amountCents === null ? '\u0000' : String(record.amountCents));
    for (const item of record.items) {
      mix(item.sku);
      mix(item.category ?? '\u0000');
      mix(String(item.quantity));
      mix(String(item.unitPriceCents));
    }
  } else {
    mix(record.sessionId ?? '\u0000');
    mix(record.device ?? '\u0000');
    mix(record.page ?? '\u0000');
    for (const key of Object.keys(record.properties).sort()) {
      mix(key);
      mix(record.properties[key]!);
    }
  }
  return h >>> 0;
}
