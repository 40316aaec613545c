import { createHash, timingSafeEqual } from 'node:crypto';
import type { Response } from 'express';

/** API keys as HTTP clients present them: ingest's write keys and the dashboard's read keys. */

/** The key of `Authorization: Bearer <key>` or of HTTP Basic with the key as user name. */
export function presentedKey(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.split(/\s+/, 2);
  if (!value) return undefined;
  if (/^bearer$/i.test(scheme!)) return value;
  if (/^basic$/i.test(scheme!)) return Buffer.from(value, 'base64').toString('utf8').split(':')[0];
  return undefined;
}

/**
 * Whether `presented` is one of `keys`. Compares SHA-256 digests in constant time, and every key
 * each time: how long it takes says nothing of a key's length, its bytes, or which key matched.
 */
export function keyMatches(presented: string, keys: string[]): boolean {
  const p = digest(presented);
  let match = false;
  for (const k of keys) match = timingSafeEqual(digest(k), p) || match;
  return match;
}

const digest = (key: string) => createHash('sha256').update(key).digest();

/**
 * A key's public id, `key:` + the first 16 hex digits of its SHA-256: what events record as
 * their origin (eventIds are unique per origin), never the key itself.
 */
export function keyId(key: string): string {
  return `key:${createHash('sha256').update(key).digest('hex').slice(0, 16)}`;
}

/** 401 for a missing or wrong read key, the same on every server that asks for one; `hint` ends the message. */
export function refuseReadKey(res: Response, hint: string): void {
  res
    .status(401)
    .set('WWW-Authenticate', 'Bearer realm="tributary"')
    .json({ error: 'unauthorized', message: `a read key is required${hint}` });
}
