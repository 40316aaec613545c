import type { ChildProcess } from 'node:child_process';
import { GroundTruth } from '../producers/demo/ground-truth';
import { DemoShop } from '../producers/demo/shop';
import { killAndWait, spawnStart } from './pipeline';
import { waitFor, sorted } from './helpers';

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
    const started = await spawnStart([], 'e2e-key');
    start = started.child;
    const { ingest, dashboard } = started;

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
