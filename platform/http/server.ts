import { createServer, type Server } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { HttpLimits } from '../config';
import { PortInUseError } from '../local/ports';

/** Node's defaults hold a trickling client for minutes; these are what every Tributary server uses. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = { requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 5_000, maxConnections: 1024 };

/**
 * Listens with the limits every server of Tributary keeps: the whole request (headers and body)
 * within requestTimeoutMs, headers within headersTimeoutMs, idle keep-alive connections closed
 * after keepAliveTimeoutMs, at most maxConnections open sockets (more are closed at once).
 * Rejects with a PortInUseError naming `purpose` when the port is taken.
 */
export async function listenHardened(app: (req: never, res: never) => void, port: number, host: string, purpose: string, limits: HttpLimits = DEFAULT_HTTP_LIMITS): Promise<Server> {
  // Node checks both timeouts only every connectionsCheckingInterval (30 s by default): every second here.
  const server = createServer({
    requestTimeout: limits.requestTimeoutMs, headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  }, app as never);
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // An idle socket (no request yet, or between requests) is dropped on the same clock as headers.
  server.setTimeout(limits.requestTimeoutMs + limits.headersTimeoutMs);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE'
      ? new PortInUseError(`port ${port} (${purpose}) is already in use: stop what listens there or choose another port`)
      : err));
    server.listen(port, host, () => resolve());
  });
  return server;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True for the loopback addresses Tributary binds by default. */
export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === '::1' || host === 'localhost';
}

/**
 * DNS rebinding guard: a server bound to loopback answers only requests whose Host is a
 * loopback name (or one of `allowed`), so a web page on another origin whose name now resolves
 * to 127.0.0.1 cannot read it. On other binds, `allowed` (when set) is the list.
 */
export function hostGuard(bindHost: string, allowed: string[]): RequestHandler {
  const extra = new Set(allowed.map((h) => h.toLowerCase()));
  const enforce = isLoopback(bindHost) || extra.size > 0;
  return (req: Request, res: Response, next: NextFunction) => {
    if (!enforce) return next();
    const name = hostName(req.headers.host);
    if (name !== undefined && ((isLoopback(bindHost) && LOOPBACK_NAMES.has(name)) || extra.has(name))) return next();
    res.status(403).json({ error: 'forbidden_host', message: `Host ${JSON.stringify(req.headers.host ?? '')} is not served here: use localhost, or add it to ALLOWED_HOSTS` });
  };
}

/** The host name of a Host header, without its port, lower case. */
function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.replace(/:\d+$/, '');
}
