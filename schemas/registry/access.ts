import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { RegistryRole, RegistryUser } from '../config';
import { RegistryError } from './errors';

/**
 * Who may do what on the embedded registry: HTTP Basic users with a role. `read` reads, `write`
 * also registers schemas (what the stages need), `admin` also changes configs and modes and
 * deletes. Without users the registry is open (it listens on loopback by default).
 */
const RANK: Record<RegistryRole, number> = { read: 0, write: 1, admin: 2 };

/**
 * The role a request needs: `read` for reads, lookups and compatibility checks; `write` to
 * register, and to set the compatibility of a subject that has none yet (what
 * @kafkajs/confluent-schema-registry does after a first registration); `admin` for the rest.
 */
export function roleNeeded(
  method: string,
  path: string,
  subjectHasConfig: (subject: string) => boolean = () => true,
): RegistryRole | 'none' {
  if (path === '/healthz' || path === '/readyz') return 'none';
  if (method === 'GET' || method === 'HEAD') return 'read';
  // POST /subjects/{s} (lookup) and /compatibility/… change nothing: a reader may ask.
  if (method === 'POST' && (/^\/compatibility\//.test(path) || /^\/subjects\/[^/]+\/?$/.test(path))) return 'read';
  if (method === 'POST' && /^\/subjects\/[^/]+\/versions\/?$/.test(path)) return 'write';
  const config = method === 'PUT' ? /^\/config\/([^/]+)\/?$/.exec(path) : null;
  if (config && !subjectHasConfig(decodeURIComponent(config[1]!))) return 'write';
  return 'admin';
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function registryAccess(
  users: RegistryUser[],
  anonymousReads: boolean,
  subjectHasConfig?: (subject: string) => boolean,
) {
  const known = new Map(users.map((u) => [u.name, { role: u.role, hash: digest(u.password) }]));
  return (req: Request, res: Response, next: NextFunction) => {
    if (known.size === 0) return next();
    const needed = roleNeeded(req.method, req.path, subjectHasConfig);
    if (needed === 'none') return next();
    const user = basicUser(req.headers.authorization);
    if (!user) {
      if (needed === 'read' && anonymousReads) return next();
      res.set('WWW-Authenticate', 'Basic realm="tributary-registry"');
      return next(new RegistryError(401, 401, 'Unauthorized'));
    }
    const entry = known.get(user.name);
    // Compared in constant time on digests, so neither a name nor a password length leaks.
    if (!entry || !timingSafeEqual(entry.hash, digest(user.password))) {
      res.set('WWW-Authenticate', 'Basic realm="tributary-registry"');
      return next(new RegistryError(401, 401, 'Unauthorized'));
    }
    if (RANK[entry.role] < RANK[needed]) {
      return next(
        new RegistryError(
          403,
          40301,
          `User ${user.name} (role ${entry.role}) is denied operation ${req.method} ${req.path}: it needs role ${needed}`,
        ),
      );
    }
    next();
  };
}

function basicUser(header: string | undefined): { name: string; password: string } | undefined {
  const m = header ? /^basic\s+(\S+)$/i.exec(header) : null;
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i < 0 ? undefined : { name: text.slice(0, i), password: text.slice(i + 1) };
}
