import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DemoShop, type DemoEvent } from '../producers/demo/shop';
import { killAndWait, runTributary, spawnStart, type StartedPipeline } from './pipeline';
import { sorted, waitFor } from './helpers';
import { fetchChecked } from './openapi';

interface Supervised {
  stage: string;
  pid: number | null;
  restarts: number;
}
interface Answer {
  version: number | null;
  coverage: { from: string; complete: boolean; progress: number; state: string };
  points: Array<{ t: string; group: string; value: number }>;
}

const revenue = (extra = '') => `name: revenue_by_country_category
source: order_lines
types: [order_placed]
dimensions: [country, category]
measures:
  - count
  - sum(revenueCents) as revenue${extra}
window: 1h
`;
const plans = `name: signups_by_plan
source: users
types: [signup]
dimensions: [properties.plan]
measures: [distinct(userId), count]
window: 1d
`;

const DAY = 86_400_000;

/** What the declared rollups must say, from the events ingest acknowledged (the first of each eventId). */
function truth(events: Map<string, DemoEvent>) {
  // By country and by category apart: each under the API's 20 groups (their pairs would fold into __other__).
  const revenueBy = new Map<string, { count: number; revenue: number }>();
  const planUsers = new Map<string, Set<string>>();
  for (const e of events.values()) {
    if (e.kind === 'order' && e.type === 'order_placed') {
      for (const item of e.items ?? []) {
        for (const key of [`country=${e.country ?? ''}`, `category=${item.category ?? ''}`]) {
          const o = revenueBy.get(key) ?? { count: 0, revenue: 0 };
          o.count += 1;
          o.revenue += item.quantity * item.unitPriceCents;
          revenueBy.set(key, o);
        }
      }
    }
    if (e.kind === 'user' && e.type === 'signup') {
      const key = `${new Date(e.occurredAt - (e.occurredAt % DAY)).toISOString()}|${e.properties?.plan ?? ''}`;
      planUsers.set(key, (planUsers.get(key) ?? new Set()).add(e.userId));
    }
  }
  return {
    revenue: Object.fromEntries([...revenueBy].sort()),
    plans: Object.fromEntries([...planUsers].sort().map(([k, s]) => [k, s.size])),
  };
}

/**
 * Declared rollups applied to a running `tributary start` under steady load (late events and
 * client retries in the mix): backfilled over what came before the apply, computed live after,
 * the processor killed during the backfill; once complete, each equals the ledger exactly.
 * A changed declaration is served as v1 until v2 is complete, then as v2, never mixed.
 */
describe('declared rollups on a running pipeline', () => {
  let started: StartedPipeline | undefined;
  afterAll(async () => {
    if (started) await killAndWait(started.child, 'SIGTERM');
  });

  it('apply mid-stream, SIGKILL of the processor during the backfill: totals equal the ledger; v2 replaces v1 whole', async () => {
    // Small segments: the handover falls mid-stream and the live path recomputes from it. The
    // smallest backfill fetches: a backfill of this backlog alone takes about a second at the default.
    started = await spawnStart([], 'roll-key', undefined, {
      SEGMENT_SIZE: '300',
      ROLLUPS_DROP_GRACE_MS: '0',
      PROCESS_BACKFILL_FETCH_BYTES: '1024',
    });
    const { ingest, dashboard, env } = started;
    const ledger = new Map<string, DemoEvent>();
    const shop = new DemoShop(91, { lateShare: 0.05, retryShare: 0.03, retryWindow: 20 });
    /** Posts events; those acknowledged join the ledger (a retried eventId counts once). */
    const post = async (events: DemoEvent[]) => {
      const res = await fetch(`${ingest}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer roll-key' },
        body: JSON.stringify({ events: events.map(({ kind: _k, ...e }) => e) }),
      });
      expect(res.status).toBe(202);
      for (const e of events) if (!ledger.has(e.eventId)) ledger.set(e.eventId, e);
    };
    let posting = true;
    let posted = 0;
    const load = (async () => {
      while (posting) {
        await post(shop.next(40));
        posted++;
      }
    })();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'rollups-'));
    // Every answer is checked against the OpenAPI document the dashboard serves.
    const answer = async (name: string, query: string) =>
      (
        await fetchChecked(
          `${dashboard}/api/rollups/${name}?from=${new Date(Date.now() - 2 * DAY).toISOString()}&to=${new Date(Date.now() + DAY).toISOString()}&${query}`,
          '/api/rollups/{name}',
        )
      ).body as Answer;
    try {
      await waitFor(() => (posted >= 40 ? true : undefined), 'load before the apply', 60_000, 50);
      // A backlog for the backfill to take a while over: 40,000 events more, as fast as ingest takes them.
      const burst = new DemoShop(92, { lateShare: 0.05, retryShare: 0.03, retryWindow: 20 });
      for (let i = 0; i < 80; i++) await post(burst.next(500));
      // A bad declaration: refused with its file and line, nothing applied.
      writeFileSync(path.join(dir, 'bad.yaml'), revenue().replace('[country, category]', '[country, colour]'));
      const bad = await runTributary(['rollups', 'apply', path.join(dir, 'bad.yaml')], env);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toContain(`${path.join(dir, 'bad.yaml')}:4: dimensions.1: unknown field "colour"`);
      // A built-in rollup's name is reserved.
      writeFileSync(path.join(dir, 'bad.yaml'), revenue().replace('name: revenue_by_country_category', 'name: orders'));
      const reserved = await runTributary(['rollups', 'apply', path.join(dir, 'bad.yaml')], env);
      expect(reserved.code).toBe(1);
      expect(reserved.stderr).toContain(
        `${path.join(dir, 'bad.yaml')}:1: name: orders is a built-in rollup (rollups/builtin.yaml); give yours another name`,
      );
      writeFileSync(path.join(dir, 'bad.yaml'), '');
      writeFileSync(path.join(dir, 'revenue.yaml'), revenue());
      writeFileSync(path.join(dir, 'plans.yml'), plans);
      const applied = await runTributary(['rollups', 'apply', dir], env);
      expect(applied.stderr).toBe('');
      expect(applied.code).toBe(0);
      expect(applied.stdout).toMatch(/revenue_by_country_category\s+1\s+new/);
      // Kill the processor stage (it runs the backfill too) three times at random points while
      // the backfill runs: each restart resumes it from its last commit.
      const stages = async () =>
        ((await (await fetch(`${dashboard}/api/pipeline`)).json()) as { supervisor: Supervised[] }).supervisor;
      const states: string[] = [];
      const coverageNow = async () => {
        const listed = (await fetchChecked(`${dashboard}/api/rollups`, '/api/rollups')).body as {
          rollups: Array<{ name: string; versions: Array<{ coverage: { state: string; progress: number } }> }>;
        };
        return listed.rollups.find((r) => r.name === 'revenue_by_country_category')!.versions[0]!.coverage;
      };
      let progress = 0;
      for (let kill = 0; kill < 3; kill++) {
        // The first at a random point of its start, or as soon as it committed anything (a backlog
        // this size can be backfilled within the random wait); the others once it committed more than before.
        if (kill === 0) {
          const until = Date.now() + Math.floor(Math.random() * 2500);
          while (Date.now() < until && (await coverageNow()).progress === 0)
            await new Promise((resolve) => setTimeout(resolve, 50));
        } else
          await waitFor(
            async () =>
              ((c) => (c.progress > progress || c.state !== 'backfilling' ? true : undefined))(await coverageNow()),
            'the backfill to go on',
            90_000,
            100,
          );
        const coverage = await coverageNow();
        progress = coverage.progress;
        states.push(`${coverage.state} ${coverage.progress}`);
        const processor = (await stages()).find((s) => s.stage === 'process')!;
        process.kill(processor.pid!, 'SIGKILL');
        await waitFor(
          async () => {
            const now = (await stages().catch(() => []))?.find((s) => s.stage === 'process');
            return now && now.restarts === processor.restarts + 1 && now.pid !== null && now.pid !== processor.pid
              ? true
              : undefined;
          },
          'the processor to be started again',
          90_000,
          250,
        );
      }
      // (Where the backfill was at each kill, for the record: a kill after it completed still tests a restart.)
      console.log(`declared rollups test: backfill at the kills: ${states.join('; ')}`);
      expect(states[0]).toMatch(/^backfilling /);
      expect(states.some((x) => /^backfilling 0\.\d+$/.test(x))).toBe(true); // at least one kill with part of it committed
      const mark = posted;
      await waitFor(() => (posted >= mark + 30 ? true : undefined), 'load after the apply', 60_000, 50);
      const again = await runTributary(['rollups', 'apply', dir], env);
      expect(again.stdout).toMatch(/revenue_by_country_category\s+1\s+unchanged/);
    } finally {
      posting = false;
      await load;
    }
    const want = truth(ledger);
    const revenueNow = async () => {
      const got: Record<string, { count: number; revenue: number }> = {};
      const versions = new Set<number | null>();
      for (const dim of ['country', 'category']) {
        for (const measure of ['revenue', 'count'] as const) {
          const a = await answer('revenue_by_country_category', `groupBy=${dim}&interval=1d&measure=${measure}`);
          versions.add(a.version);
          for (const p of a.points) (got[`${dim}=${p.group}`] ??= { count: 0, revenue: 0 })[measure] += p.value;
        }
      }
      if (versions.size !== 1) return { version: -1, got: {} }; // a version changed between the queries: ask again
      return { version: [...versions][0]!, got: Object.fromEntries(Object.entries(got).sort()) };
    };
    const plansNow = async () => {
      const a = await answer('signups_by_plan', 'groupBy=properties.plan&interval=1d&measure=distinct_user_id');
      return Object.fromEntries(a.points.map((p) => [`${p.t}|${p.group}`, p.value]).sort());
    };
    await waitFor(
      async () => (JSON.stringify((await revenueNow()).got) === JSON.stringify(want.revenue) ? true : undefined),
      'revenue to equal the ledger',
      180_000,
      500,
    ).catch(() => undefined);
    expect((await revenueNow()).got).toEqual(want.revenue);
    await waitFor(
      async () => (JSON.stringify(await plansNow()) === JSON.stringify(want.plans) ? true : undefined),
      'plans to equal the ledger',
      60_000,
      500,
    ).catch(() => undefined);
    expect(await plansNow()).toEqual(want.plans);
    expect(Object.keys(want.revenue).length).toBeGreaterThan(5);

    // v2 (one more measure): v1 answers until v2 is complete, then v2 — each time exact.
    writeFileSync(path.join(dir, 'revenue.yaml'), revenue('\n  - max(revenueCents) as largest_line'));
    const v2 = await runTributary(['rollups', 'apply', dir], env);
    expect(v2.stdout).toMatch(/revenue_by_country_category\s+2\s+new version/);
    const seen = new Set<number | null>();
    const wrong: unknown[] = [];
    await waitFor(
      async () => {
        const now = await revenueNow();
        if (now.version === -1) return undefined;
        seen.add(now.version);
        if (JSON.stringify(now.got) !== JSON.stringify(want.revenue))
          wrong.push({ version: now.version, got: now.got });
        return now.version === 2 ? true : undefined;
      },
      'v2 to be served',
      120_000,
      200,
    );
    // Every answer, from v1 or from v2, was the whole truth.
    expect(wrong).toEqual([]);
    expect([...seen].every((v) => v === 1 || v === 2)).toBe(true);
    // The rest of the API against its OpenAPI document too, a 400 and a 404 among them.
    const served = (await fetch(`${dashboard}/api/openapi.json`).then((r) => r.json())) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(served.openapi).toBe('3.1.0');
    for (const [url, template] of [
      ['/api/totals', '/api/totals'],
      ['/api/timeseries?metric=revenue&groupBy=country', '/api/timeseries'],
      ['/api/top-products?limit=5', '/api/top-products'],
      ['/api/pipeline', '/api/pipeline'],
      ['/api/rollups', '/api/rollups'],
      ['/api/rollups/signups_by_plan?measure=count&groupBy=properties.plan', '/api/rollups/{name}'],
    ] as const)
      expect((await fetchChecked(`${dashboard}${url}`, template)).status).toBe(200);
    const badGroup = await fetchChecked(
      `${dashboard}/api/rollups/revenue_by_country_category?groupBy=device`,
      '/api/rollups/{name}',
    );
    expect([badGroup.status, (badGroup.body as { parameter: string }).parameter]).toEqual([400, 'groupBy']);
    const fine = await fetchChecked(
      `${dashboard}/api/rollups/revenue_by_country_category?interval=1m`,
      '/api/rollups/{name}',
    );
    expect([fine.status, (fine.body as { parameter: string }).parameter]).toEqual([400, 'interval']); // 1h windows cannot answer per minute
    expect((await fetchChecked(`${dashboard}/api/rollups/nope`, '/api/rollups/{name}')).status).toBe(404);
    const listed = (await fetchChecked(`${dashboard}/api/rollups`, '/api/rollups')).body as {
      rollups: Array<{ name: string; served: number; builtin: boolean }>;
      upgrade: unknown;
    };
    expect(listed.rollups.map((r) => [r.name, r.served, r.builtin])).toEqual([
      ['active_users', 1, true],
      ['orders', 1, true],
      ['products', 1, true],
      ['revenue_by_country_category', 2, false],
      ['signups_by_plan', 1, false],
      ['users', 1, true],
    ]);
    expect(listed.upgrade).toBeNull(); // a pipeline that never ran the per-kind rollups
    const status = await runTributary(['rollups', 'status', 'revenue_by_country_category', '--json'], env);
    const versions = JSON.parse(status.stdout) as Array<{
      version: number;
      served: boolean;
      coverage: { state: string };
    }>;
    expect(versions.map((v) => [v.version, v.served, v.coverage.state])).toEqual([
      [1, false, 'superseded'],
      [2, true, 'complete'],
    ]);

    // Drop: no version served any more, and (ROLLUPS_DROP_GRACE_MS=0 here) its tables go.
    const dropped = await runTributary(['rollups', 'drop', 'signups_by_plan'], env);
    expect(dropped.stdout).toContain('dropped signups_by_plan@1');
    const tables = async () =>
      (
        (await fetchChecked(`${dashboard}/api/pipeline`, '/api/pipeline')).body as {
          clickhouse: { tables: Array<{ table: string }> };
        }
      ).clickhouse.tables.map((t) => t.table);
    await waitFor(
      async () => ((await tables()).some((t) => t.startsWith('rollup_signups_by_plan_v1')) ? undefined : true),
      "the dropped rollup's tables to go",
      60_000,
      500,
    );
    expect((await tables()).filter((t) => t.startsWith('rollup_revenue_by_country_category_v'))).toEqual([
      'rollup_revenue_by_country_category_v2',
    ]);
    const after = await answer('signups_by_plan', 'measure=count');
    expect([after.version, after.coverage.state]).toEqual([null, 'dropped']);

    // --from <time>: the history starts at the first event Kafka received at or after it. Every
    // event above was acknowledged, so written with a timestamp up to now: a millisecond later
    // leaves them all out, and what is posted once the clock passed it is counted exactly.
    const from = new Date(Date.now() + 1);
    await waitFor(() => (Date.now() > from.getTime() ? true : undefined), 'the clock to pass --from', 1000, 1);
    const later = new Map<string, DemoEvent>();
    const lateShop = new DemoShop(93, { lateShare: 0.05, retryShare: 0.03, retryWindow: 20 });
    for (let i = 0; i < 20; i++) {
      const events = lateShop.next(100);
      await post(events);
      for (const e of events) if (!later.has(e.eventId)) later.set(e.eventId, e);
    }
    writeFileSync(
      path.join(dir, 'late.yaml'),
      'name: late_orders\nsource: orders\ndimensions: [type]\nmeasures: [count]\nwindow: 1d\n',
    );
    const late = await runTributary(
      ['rollups', 'apply', path.join(dir, 'late.yaml'), '--from', from.toISOString()],
      env,
    );
    expect(late.stdout).toMatch(new RegExp(`late_orders\\s+1\\s+new\\s+orders\\s+${from.toISOString()}`));
    const wantLate: Record<string, number> = {};
    for (const e of later.values()) if (e.kind === 'order') wantLate[e.type] = (wantLate[e.type] ?? 0) + 1;
    const lateNow = async () => {
      const a = await answer('late_orders', 'groupBy=type&interval=1d&measure=count');
      const got: Record<string, number> = {};
      for (const p of a.points) got[p.group] = (got[p.group] ?? 0) + p.value;
      return { version: a.version, coverage: a.coverage, got };
    };
    await waitFor(
      async () => ((await lateNow()).version === 1 ? true : undefined),
      'late_orders to be served',
      120_000,
      250,
    );
    const lateAnswer = await lateNow();
    expect(lateAnswer.coverage.from).toBe(from.toISOString());
    expect(sorted(lateAnswer.got)).toEqual(sorted(wantLate));
  }, 600_000);
});
