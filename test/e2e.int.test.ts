import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../platform/ports';
import { GroundTruth } from '../producers/demo/ground-truth';
import { DemoShop } from '../producers/demo/shop';
import { killAndWait, spawnTributary } from './pipeline';
import { unique, waitFor, sorted } from './helpers';

/**
 * End to end through the CLI: `tributary start` on the run's broker (KAFKA_BROKERS) with its
 * embedded registry and chDB, events posted over HTTP, and /api/totals equal to the ground truth.
 */
describe('tributary start, end to end', () => {
  let start: ChildProcess | undefined;
  afterAll(async () => {
    if (start) await killAndWait(start, 'SIGTERM');
  });

  it('serves totals equal to the ground truth of events posted over HTTP', async () => {
    const [ingestPort, dashboardPort, registryPort] = [await freePort(), await freePort(), await freePort()];
    const id = unique('e2e').replace(/-/g, '_');
    start = spawnTributary(['start'], {
      DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'tributary-e2e-')),
      KAFKA_BROKERS: process.env.KAFKA_BROKERS!,
      INGEST_PORT: String(ingestPort), DASHBOARD_PORT: String(dashboardPort), REGISTRY_PORT: String(registryPort),
      WRITE_KEYS: 'e2e-key',
      TOPIC_USERS: `${id}.users`, TOPIC_ORDERS: `${id}.orders`, TOPIC_ROLLUPS: `${id}.rollups`, TOPIC_DLQ: `${id}.dlq`,
      PROCESS_GROUP_ID: `${id}-rollups`, SINK_GROUP_ID: `${id}-sink`, CLICKHOUSE_DATABASE: id,
      FLUSH_INTERVAL_MS: '200', SINK_BATCH_DELAY_MS: '100',
    });
    const ingest = `http://localhost:${ingestPort}`;
    const dashboard = `http://localhost:${dashboardPort}`;
    await waitFor(async () => ((await fetch(`${ingest}/readyz`)).status === 200 ? true : undefined), 'ingest ready', 120_000, 250);
    await waitFor(async () => ((await fetch(`${dashboard}/readyz`)).status === 200 ? true : undefined), 'dashboard ready', 60_000, 250);

    const truth = new GroundTruth();
    const shop = new DemoShop(21, { lateShare: 0.05, retryShare: 0.03, retryWindow: 20 });
    for (let i = 0; i < 10; i++) {
      const events = shop.next(100);
      const res = await fetch(`${ingest}/v1/events`, {
        method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer e2e-key' },
        body: JSON.stringify({ events: events.map(({ kind: _k, ...e }) => e) }),
      });
      expect(res.status).toBe(202);
      for (const e of events) truth.add(e);
    }
    const from = Date.now() - 4 * 3600_000;
    const to = Date.now() + 120_000;
    const expected = truth.totals(from, to);
    const url = `${dashboard}/api/totals?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
    const got = await waitFor(async () => {
      const body = (await (await fetch(url)).json()) as { orders: unknown; userEvents: unknown; activeUsers: number };
      const view = { orders: body.orders, userEvents: body.userEvents, activeUsers: body.activeUsers };
      return JSON.stringify(sorted(view)) === JSON.stringify(sorted({ orders: expected.orders, userEvents: expected.userEvents, activeUsers: expected.activeUsers })) ? view : undefined;
    }, '/api/totals to equal the ground truth', 90_000, 500).catch(async () => (await (await fetch(url)).json()) as Record<string, unknown>);
    expect(sorted(got)).toEqual(sorted({ orders: expected.orders, userEvents: expected.userEvents, activeUsers: expected.activeUsers }));
    // And the page is served with its charting library, offline.
    expect((await fetch(`${dashboard}/`)).status).toBe(200);
    expect((await fetch(`${dashboard}/vendor/chart.js/chart.umd.js`)).status).toBe(200);
  });
});
