import { GroundTruth } from '../producers/demo/ground-truth';
import { DemoShop } from '../producers/demo/shop';
import { killAndWait, spawnStart, type StartedPipeline } from './pipeline';
import { sorted, waitFor } from './helpers';

interface Supervised {
  stage: string;
  pid: number | null;
  restarts: number;
}

/**
 * Every stage of `tributary start` is a process of its own that the supervisor starts again when
 * it dies: SIGKILL of the process holding the sink and the dashboard, then of the registry, while
 * events keep coming over HTTP; each is restarted, /api/pipeline says so, and the totals are exact.
 */
describe('tributary start keeps its stages up', () => {
  let started: StartedPipeline | undefined;
  afterAll(async () => {
    if (started) await killAndWait(started.child, 'SIGTERM');
  });

  it('kill -9 of the sink+dashboard and of the registry under load: both restarted, totals equal to the ground truth', async () => {
    started = await spawnStart([], 'sup-key');
    const { ingest, dashboard } = started;
    const truth = new GroundTruth();
    const shop = new DemoShop(77, { lateShare: 0.05, retryShare: 0.03, retryWindow: 20 });
    const stages = async () =>
      ((await (await fetch(`${dashboard}/api/pipeline`)).json()) as { supervisor: Supervised[] }).supervisor;
    let posting = true;
    let posted = 0;
    const load = (async () => {
      while (posting) {
        const events = shop.next(50);
        const res = await fetch(`${ingest}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer sup-key' },
          body: JSON.stringify({ events: events.map(({ kind: _k, ...e }) => e) }),
        });
        expect(res.status).toBe(202); // ingest is its own process: it never stops answering
        for (const e of events) truth.add(e);
        posted++;
      }
    })();
    try {
      await waitFor(() => (posted >= 10 ? true : undefined), 'load to flow', 30_000, 50);
      for (const name of ['sink+dashboard', 'registry']) {
        const before = (await stages()).find((s) => s.stage === name)!;
        expect(before.pid).toBeGreaterThan(0);
        process.kill(before.pid!, 'SIGKILL');
        const after = await waitFor(
          async () => {
            const s = (await stages().catch(() => undefined))?.find((x) => x.stage === name);
            return s && s.restarts === before.restarts + 1 && s.pid !== null && s.pid !== before.pid ? s : undefined;
          },
          `${name} to be started again`,
          90_000,
          250,
        );
        expect(after.restarts).toBe(before.restarts + 1);
        const mark = posted;
        await waitFor(() => (posted >= mark + 5 ? true : undefined), 'load to go on', 30_000, 50);
      }
    } finally {
      posting = false;
      await load;
    }
    const from = Date.now() - 4 * 3600_000;
    const to = Date.now() + 120_000;
    const expected = truth.totals(from, to);
    const want = JSON.stringify(
      sorted({ orders: expected.orders, userEvents: expected.userEvents, activeUsers: expected.activeUsers }),
    );
    const url = `${dashboard}/api/totals?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
    const read = async () => {
      const body = (await (await fetch(url)).json()) as { orders: unknown; userEvents: unknown; activeUsers: number };
      return JSON.stringify(
        sorted({ orders: body.orders, userEvents: body.userEvents, activeUsers: body.activeUsers }),
      );
    };
    await waitFor(
      async () => ((await read()) === want ? true : undefined),
      '/api/totals to equal the ground truth',
      120_000,
      500,
    ).catch(() => undefined);
    expect(await read()).toBe(want);
    expect(
      (await stages())
        .filter((s) => s.restarts > 0)
        .map((s) => s.stage)
        .sort(),
    ).toEqual(['registry', 'sink+dashboard']);
  }, 300_000);
});
