import { Router, type Request, type Response } from 'express';
import type { Registry } from 'prom-client';

/** A named check of something the stage needs (Kafka connected, ClickHouse reachable…). */
export type ReadinessCheck = { name: string; check: () => Promise<void> | void };

/**
 * `/healthz` (the process is alive), `/readyz` (every dependency answers: 200, else 503 with the
 * failing checks) and `/metrics` (Prometheus text format). Every HTTP stage mounts this router.
 */
export function opsRouter(registry: Registry, checks: ReadinessCheck[] = []): Router {
  const router = Router();
  router.get('/healthz', (_req: Request, res: Response) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req: Request, res: Response) => {
    const results = await Promise.all(checks.map(async ({ name, check }) => {
      try {
        await check();
        return { name, ok: true as const };
      } catch (err) {
        return { name, ok: false as const, error: err instanceof Error ? err.message : String(err) };
      }
    }));
    const ready = results.every((r) => r.ok);
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', checks: results });
  });
  router.get('/metrics', async (_req: Request, res: Response) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  return router;
}
