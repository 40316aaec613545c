import type { AddressInfo } from 'node:net';
import express, { Router, type Request, type Response } from 'express';
import { listenHardened } from './server';
import { keyMatches, presentedKey, refuseReadKey } from './keys';
import { urlFor, type HttpLimits } from '../config';
import type { Registry } from 'prom-client';

/** A named check of something the stage needs (Kafka connected, ClickHouse reachable…). */
export type ReadinessCheck = { name: string; check: () => Promise<void> | void };

/**
 * A check that has not answered within this fails (/readyz answers 503 naming it): a probe gets
 * its answer in time even while a broker host is unreachable and a client call hangs.
 */
export const READINESS_CHECK_TIMEOUT_MS = 2000;

/**
 * `/healthz` (the process is alive), `/readyz` (every dependency answers: 200, else 503 with the
 * failing checks) and `/metrics` (Prometheus text format). Every HTTP stage mounts this router.
 */
export function opsRouter(
  registry: Registry,
  checks: ReadinessCheck[] = [],
  metricsKeys: string[] = [],
  checkTimeoutMs = READINESS_CHECK_TIMEOUT_MS,
): Router {
  const router = Router();
  router.get('/healthz', (_req: Request, res: Response) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req: Request, res: Response) => {
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            check(),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`no answer within ${checkTimeoutMs} ms`)), checkTimeoutMs);
            }),
          ]);
          return { name, ok: true as const };
        } catch (err) {
          return { name, ok: false as const, error: err instanceof Error ? err.message : String(err) };
        } finally {
          clearTimeout(timer);
        }
      }),
    );
    const ready = results.every((r) => r.ok);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: results });
  });
  router.get('/metrics', async (req: Request, res: Response) => {
    // With READ_KEYS set, what the pipeline carries (rates, topics, errors) is for key holders too.
    if (metricsKeys.length > 0) {
      const key = presentedKey(req.headers.authorization);
      if (!key || !keyMatches(key, metricsKeys)) {
        refuseReadKey(res, ' for /metrics: Authorization: Bearer <key>');
        return;
      }
    }
    res.type(registry.contentType).send(await registry.metrics());
  });
  return router;
}

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * A server of the ops router alone, for the stages that serve nothing else (processor, sink,
 * bridges). Rejects when the port is taken.
 */
export async function serveOps(
  port: number,
  registry: Registry,
  checks: ReadinessCheck[],
  purpose: string,
  options: { host?: string; metricsKeys?: string[]; http?: HttpLimits } = {},
): Promise<OpsServer> {
  const host = options.host ?? '127.0.0.1';
  const app = express();
  app.disable('x-powered-by');
  app.use(opsRouter(registry, checks, options.metricsKeys ?? []));
  const server = await listenHardened(app, port, host, purpose, options.http);
  return {
    url: urlFor(host, (server.address() as AddressInfo).port),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
