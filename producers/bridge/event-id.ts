import { createHash } from 'node:crypto';

/** Tributary's namespace for name-based event ids (a fixed random UUID). */
const NAMESPACE = Buffer.from('6f1c2b9e4d7a4e0f9b3c5a8d2e1f7c40', 'hex');

/**
 * A name-based UUID (RFC 9562 version 5: SHA-1 of namespace and name): the same name always gives
 * the same id. The bridges name an event by its queue message and place in it, so a redelivered
 * message gets the eventIds it got the first time and the processor drops the copies.
 */
export function nameBasedUuid(name: string): string {
  const hash = createHash('sha1').update(NAMESPACE).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A stable identity for a message its publisher gave no id: the SHA-256 of its bytes. */
export function contentId(body: Buffer): string {
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}
