import { createServer, type Server } from 'node:http';
import type { HttpLimits } from '../config';
import { PortInUseError } from '../local/ports';

/** Node's defaults hold a trickling client for minutes; these are what every Tributary server uses. */
export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  requestTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1024,
  allowedHosts: [],
};

/**
 * Listens with the limits every server of Tributary keeps: the whole request (headers and body)
 * within requestTimeoutMs, headers within headersTimeoutMs, idle keep-alive connections closed
 * after keepAliveTimeoutMs, at most maxConnections open sockets (more are closed at once), and,
 * bound to loopback, only requests for a loopback Host (hostRefusal) — for every server alike:
 * ingest, the dashboard, the registry and the ops ports. Rejects with a PortInUseError naming
 * `purpose` when the port is taken.
 */
export async function listenHardened(
  app: (req: never, res: never) => void,
  port: number,
  host: string,
  purpose: string,
  limits: HttpLimits = DEFAULT_HTTP_LIMITS,
): Promise<Server> {
  const refuse = hostRefusal(host, limits.allowedHosts);
  // Node checks both timeouts only every connectionsCheckingInterval (30 s by default): every second here.
  const server = createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
    },
    (req, res) => {
      const refusal = refuse(req.headers.host);
      if (refusal === undefined) return app(req as never, res as never);
      res
        .writeHead(403, { 'content-type': 'application/json' })
        .end(JSON.stringify({ error: 'forbidden_host', message: refusal }));
    },
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // An idle socket (no request yet, or between requests) is dropped on the same clock as headers.
  server.setTimeout(limits.requestTimeoutMs + limits.headersTimeoutMs);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new PortInUseError(
              `port ${port} (${purpose}) is already in use: stop what listens there or choose another port`,
            )
          : err,
      ),
    );
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
 * to 127.0.0.1 can neither read it nor write to it. On other binds, `allowed` (when set) is the
 * list. Returns why a Host is refused, or undefined.
 */
export function hostRefusal(
  bindHost: string,
  allowed: string[],
): (hostHeader: string | undefined) => string | undefined {
  const extra = new Set(allowed.map((h) => h.toLowerCase()));
  const loopback = isLoopback(bindHost);
  if (!loopback && extra.size === 0) return () => undefined;
  return (header) => {
    const name = hostName(header);
    if (name !== undefined && ((loopback && LOOPBACK_NAMES.has(name)) || extra.has(name))) return undefined;
    return `Host ${JSON.stringify(header ?? '')} is not served here: use localhost, or add it to ALLOWED_HOSTS`;
  };
}

/** The host name of a Host header, without its port, lower case. */
function hostName(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  return h.replace(/:\d+$/, '');
}
