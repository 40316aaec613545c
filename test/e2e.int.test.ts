import type { ChildProcess } from 'node:child_process';
import { GroundTruth } from '../producers/demo/ground-truth';
import { DemoShop } from '../producers/demo/shop';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { commandLineOf, LOCK_FILE } from '../platform/local/run-lock';
import { metricValue } from '../platform/metrics';
import { spawn } from 'node:child_process';
import { killAndWait, runTributary, sourceEntry, spawnStart, startEnvFor } from './pipeline';
import { waitFor, sorted } from './helpers';

/**
 * End to end through the CLI: `tributary start` on the run's broker (KAFKA_BROKERS) with its
 * embedded registry and chDB, events posted over HTTP, and /api/totals equal to the ground truth.
 */
describe('tributary start, end to end', () => {
  const starts: ChildProcess[] = [];
  afterAll(async () => {
    for (const start of starts) await killAndWait(start, 'SIGTERM');
  });

  async function post(ingest: string, key: string, shop: DemoShop, truth: GroundTruth, batches: number): Promise<void> {
    for (let i = 0; i < batches; i++) {
      const events = shop.next(100);
      const res = await fetch(`${ingest}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ events: events.map(({ kind: _k, ...e }) => e) }),
      });
      expect(res.status).toBe(202);
      for (const e of events) truth.add(e);
    }
  }

  async function expectTotals(dashboard: string, truth: GroundTruth): Promise<void> {
    const from = Date.now() - 4 * 3600_000;
    const to = Date.now() + 120_000;
    const expected = truth.totals(from, to);
    const url = `${dashboard}/api/totals?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`;
    const got = await waitFor(
      async () => {
        const body = (await (await fetch(url)).json()) as { orders: unknown; userEvents: unknown; activeUsers: number };
        const view = { orders: body.orders, userEvents: body.userEvents, activeUsers: body.activeUsers };
        return JSON.stringify(sorted(view)) ===
          JSON.stringify(
            sorted({ orders: expected.orders, userEvents: expected.userEvents, activeUsers: expected.activeUsers }),
          )
          ? view
          : undefined;
      },
      '/api/totals to equal the ground truth',
      90_000,
      500,
    ).catch(async () => (await (await fetch(url)).json()) as Record<string, unknown>);
    expect(sorted(got)).toEqual(
      sorted({ orders: expected.orders, userEvents: expected.userEvents, activeUsers: expected.activeUsers }),
    );
  }

  it('serves totals equal to the ground truth of events posted over HTTP', async () => {
    const started = await spawnStart([], 'e2e-key');
    starts.push(started.child);
    const { ingest, dashboard } = started;
    const truth = new GroundTruth();
    await post(ingest, 'e2e-key', new DemoShop(21, { lateShare: 0.05, retryShare: 0.03, retryWindow: 20 }), truth, 10);
    await expectTotals(dashboard, truth);
    // Freshness is the received → queryable latency of the events just inserted, not an age.
    const { freshness } = (await (await fetch(`${dashboard}/api/pipeline`)).json()) as {
      freshness: { p50Ms: number; p99Ms: number; rows: number } | null;
    };
    expect(freshness).not.toBeNull();
    expect(freshness!.rows).toBeGreaterThan(0);
    expect(freshness!.p50Ms).toBeLessThanOrEqual(freshness!.p99Ms);
    expect(freshness!.p99Ms).toBeLessThan(60_000);
    // The sink runs inside start: its metrics are on the dashboard's /metrics, counting the rows it inserted.
    const metrics = await (await fetch(`${dashboard}/metrics`)).text();
    const inserted = metricValue(metrics, 'tributary_sink_rows_total') ?? NaN;
    expect(inserted).toBeGreaterThan(0);
    // One registry for the process: its runtime metrics once, labelled with its stage (the sink's process serves the dashboard).
    expect(metrics.match(/^tributary_process_cpu_user_seconds_total\{[^}]*\}/gm)).toEqual([
      'tributary_process_cpu_user_seconds_total{stage="sink"}',
    ]);
    // Every stage is a supervised process of its own, none restarted.
    const { supervisor } = (await (await fetch(`${dashboard}/api/pipeline`)).json()) as {
      supervisor: Array<{ stage: string; pid: number; restarts: number }>;
    };
    expect(supervisor.map((s) => [s.stage, s.restarts]).sort()).toEqual([
      ['ingest', 0],
      ['process', 0],
      ['registry', 0],
      ['sink+dashboard', 0],
    ]);
    expect(new Set(supervisor.map((s) => s.pid)).size).toBe(4);
    // And the page is served with its charting library, offline.
    expect((await fetch(`${dashboard}/`)).status).toBe(200);
    expect((await fetch(`${dashboard}/vendor/chart.js/chart.umd.js`)).status).toBe(200);
  });

  it('operability: with stdout not a terminal, every log line of `tributary start` and its stages is a JSON object; stdout holds the banner alone', async () => {
    const env = await startEnvFor('json-key');
    const [node, ...rest] = sourceEntry('cli/main.ts');
    const child = spawn(node!, [...rest, 'start'], {
      env: { ...process.env, PROCESS_PORT: '0', ...env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    starts.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    await waitFor(
      () => (stdout.includes('Ctrl-C stops every stage in order.') ? true : undefined),
      'the banner',
      120_000,
      250,
    );
    await post(`http://localhost:${env.INGEST_PORT}`, 'json-key', new DemoShop(44), new GroundTruth(), 1);
    // With PROCESS_PORT=0 the banner does not wait for the processor: wait for its first line.
    await waitFor(
      () => (stderr.includes('"name":"process"') ? true : undefined),
      'a log line of the processor',
      120_000,
      250,
    );
    await killAndWait(child, 'SIGTERM');
    const lines = stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines.length).toBeGreaterThan(5);
    const notJson = lines.filter((l) => {
      try {
        return typeof (JSON.parse(l) as { level?: unknown }).level !== 'number';
      } catch {
        return true;
      }
    });
    expect(notJson).toEqual([]);
    // Stages' logs are there too (the children inherit stderr), each naming its stage.
    const names = new Set(lines.map((l) => (JSON.parse(l) as { name?: string }).name));
    expect([...names]).toEqual(expect.arrayContaining(['start', 'process', 'ingest']));
    expect(stdout).toMatch(/^Tributary is running:\n {2}dashboard {3}http:\/\/localhost:\d+\n/);
    expect(stdout).not.toMatch(/"level":/);
    // What it exposes, said at start.
    expect(stdout).toContain(
      'Listening on 127.0.0.1 only (BIND_HOST, INGEST_HOST, DASHBOARD_HOST open them to a network).',
    );
  });

  it('operability: SIGKILL of `tributary start` leaves no process of it; a second start on the same DATA_DIR is refused while one runs; the next start has exact totals', async () => {
    const first = await spawnStart([], 'kill-key');
    starts.push(first.child);
    const truth = new GroundTruth();
    const shop = new DemoShop(33, { lateShare: 0, retryShare: 0.03, retryWindow: 20 });
    await post(first.ingest, 'kill-key', shop, truth, 3);
    await expectTotals(first.dashboard, truth);

    // Two supervisors on one DATA_DIR: the second says so in one line, before binding anything.
    const second = await runTributary(['start'], first.env);
    expect(second.code).toBe(1);
    expect(
      second.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('tributary:')),
    ).toEqual([expect.stringMatching(/^tributary: DATA_DIR .* is in use by `tributary start` \(pid \d+/)]);

    const lock = JSON.parse(readFileSync(path.join(first.env.DATA_DIR!, LOCK_FILE), 'utf8')) as {
      pid: number;
      children: Array<{ pid: number }>;
    };
    const pids = [lock.pid, ...lock.children.map((c) => c.pid)];
    expect(pids.length).toBeGreaterThanOrEqual(3); // the supervisor, ingest, the processor
    first.child.kill('SIGKILL');
    await waitFor(
      () => (pids.every((pid) => commandLineOf(pid) === undefined) ? true : undefined),
      'every process of the killed start to be gone',
      20_000,
      200,
    );

    const again = await spawnStart([], 'kill-key', first);
    starts.push(again.child);
    await post(again.ingest, 'kill-key', shop, truth, 3);
    await expectTotals(again.dashboard, truth);
  });

  it("a valid request over a record batch's worth of one user (1,000 events, 256-character userId, 500-character page) is answered 202 with 30 small requests beside it, and every event counts once", async () => {
    const started = await spawnStart([], 'big-key');
    starts.push(started.child);
    const truth = new GroundTruth();
    const now = Date.now();
    const userId = `u-${'x'.repeat(254)}`;
    const big = Array.from({ length: 1000 }, (_, i) => ({
      eventId: `big-${i}`,
      type: 'page_view',
      userId,
      occurredAt: new Date(now - (i % 120) * 1000).toISOString(),
      page: `/p/${i}/`.padEnd(500, 'p'),
    }));
    const bigBody = JSON.stringify({ events: big });
    // ~822 KB of JSON: within the 1 MB body limit, its records over Kafka's 1 MB batch for one partition.
    expect(Buffer.byteLength(bigBody)).toBeGreaterThan(800_000);
    const shop = new DemoShop(55, { lateShare: 0, retryShare: 0 });
    const smalls = Array.from({ length: 30 }, () => shop.next(5));
    const send = (body: string) =>
      fetch(`${started.ingest}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer big-key' },
        body,
      }).then(async (res) => ({ status: res.status, body: await res.text() }));
    const answers = await Promise.all([
      send(bigBody),
      ...smalls.map((events) => send(JSON.stringify({ events: events.map(({ kind: _k, ...e }) => e) }))),
    ]);
    expect(answers.filter((a) => a.status !== 202)).toEqual([]);
    for (const e of big) truth.add({ ...e, kind: 'user', occurredAt: Date.parse(e.occurredAt) });
    for (const e of smalls.flat()) truth.add(e);
    await expectTotals(started.dashboard, truth);
  });
});
