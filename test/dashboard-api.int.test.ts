import http from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ClickHouseClient } from '@clickhouse/client';
import { type Admin, type Kafka, connectAdmin, createKafka } from '../platform/kafka/client';
import { silentLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { runMigrations } from '../platform/clickhouse/migrations';
import { TributaryProducer, type OrderEventInput, type UserEventInput } from '../producers/tributary-producer';
import { GroundTruth } from '../producers/demo/ground-truth';
import { SchemaClient } from '../schemas/client';
import { startProcessor } from '../streams/service';
import type { ProcessorService } from '../streams/service';
import { ClickHouseSink } from '../consumers/sink';
import { sinkMetrics } from '../consumers/metrics';
import { rollupMigrations } from '../consumers/tables';
import { declaredTableRow } from '../consumers/declared-tables';
import { builtin } from '../schemas/declarations/builtin';
import { tableOf } from '../schemas/declarations/row';
import { startTestRegistry } from './registry';
import { createPipelineTopics, type PipelineTopics } from './pipeline';
import { clickhouseTarget, testClickHouse } from './clickhouse';
import { testConfig, unique, waitFor } from './helpers';
import { listenHardened } from '../platform/http/server';
import { dashboardApp } from '../dashboards/api';
import { DashboardQueries } from '../dashboards/queries';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 27, 18, 0); // windows 18:00, 18:01, 18:02 … of a fixed day

describe(`dashboard API over ${clickhouseTarget}`, () => {
  const config = testConfig({ CLICKHOUSE_DATABASE: `dash_${Date.now()}_${process.pid}` });
  const db = config.clickhouse.database;
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;
  let kafka: Kafka;
  let admin: Admin;
  let clickhouse: ClickHouseClient;
  let topics: PipelineTopics;
  let processor: ProcessorService;
  let sink: ClickHouseSink;
  let server: Server;
  let base: string;
  const truth = new GroundTruth();

  const users: UserEventInput[] = [
    { type: 'signup', eventId: 'u1', userId: 'alice', occurredAt: T0 + 5_000, country: 'DE', device: 'mobile' },
    { type: 'signup', eventId: 'u2', userId: 'bob', occurredAt: T0 + MIN + 1_000, country: 'US', device: 'desktop' },
    {
      type: 'page_view',
      eventId: 'u3',
      userId: 'alice',
      occurredAt: T0 + MIN + 2_000,
      country: 'DE',
      device: 'mobile',
      page: '/',
    },
    { type: 'signup', eventId: 'u4', userId: 'carol', occurredAt: T0 + 2 * MIN, country: 'FR', device: 'tablet' },
    { type: 'signup', eventId: 'u1', userId: 'alice', occurredAt: T0 + 5_000, country: 'DE', device: 'mobile' }, // client retry
  ];
  const orders: OrderEventInput[] = [
    {
      type: 'order_placed',
      eventId: 'o1',
      userId: 'alice',
      orderId: 'A',
      occurredAt: T0 + 10_000,
      currency: 'EUR',
      amountCents: 3000,
      country: 'DE',
      items: [
        { sku: 'BOOK', category: 'books', quantity: 2, unitPriceCents: 1000 },
        { sku: 'PEN', category: 'office', quantity: 1, unitPriceCents: 1000 },
      ],
    },
    {
      type: 'order_placed',
      eventId: 'o2',
      userId: 'bob',
      orderId: 'B',
      occurredAt: T0 + MIN + 3_000,
      currency: 'USD',
      amountCents: 500,
      country: 'US',
      items: [{ sku: 'PEN', category: 'office', quantity: 5, unitPriceCents: 100 }],
    },
    {
      type: 'order_paid',
      eventId: 'o3',
      userId: 'alice',
      orderId: 'A',
      occurredAt: T0 + MIN + 4_000,
      currency: 'EUR',
      amountCents: 3000,
      country: 'DE',
    },
    {
      type: 'order_refunded',
      eventId: 'o4',
      userId: 'alice',
      orderId: 'A',
      occurredAt: T0 + 2 * MIN + 1,
      currency: 'EUR',
      amountCents: 1000,
      country: 'DE',
    },
  ];

  beforeAll(async () => {
    registry = await startTestRegistry();
    kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'dash-test' });
    admin = await connectAdmin(kafka);
    clickhouse = testClickHouse(config);
    await runMigrations(clickhouse, db, rollupMigrations, silentLogger);
    topics = await createPipelineTopics(admin);
    const cfg = {
      ...config,
      topics,
      processor: { ...config.processor, groupId: unique('rollups'), segmentSize: 50, flushIntervalMs: 150 },
      sink: { ...config.sink, groupId: unique('sink'), batchRows: 1000, batchDelayMs: 100 },
    };
    processor = await startProcessor({
      config: cfg,
      kafka,
      schemas: new SchemaClient(registry.url, silentLogger),
      logger: silentLogger,
      metrics: createMetrics('p'),
    });
    sink = new ClickHouseSink({
      kafka,
      clickhouse,
      schemas: new SchemaClient(registry.url, silentLogger),
      logger: silentLogger,
      metrics: sinkMetrics(createMetrics('s')),
      options: {
        groupId: cfg.sink.groupId,
        topics: { rollups: topics.rollups, dlq: topics.dlq },
        database: db,
        batchRows: 1000,
        batchDelayMs: 100,
      },
    });
    await sink.start();
    const producer = await TributaryProducer.connect({
      kafka: config.kafka,
      registryUrl: registry.url,
      topics: { user: topics.users, order: topics.orders },
    });
    await producer.sendUserEvents(users);
    await producer.sendOrderEvents(orders);
    await producer.disconnect();
    for (const e of users) truth.add({ kind: 'user', ...e, eventId: e.eventId!, occurredAt: Number(e.occurredAt) });
    for (const e of orders) truth.add({ kind: 'order', ...e, eventId: e.eventId!, occurredAt: Number(e.occurredAt) });
    const app = dashboardApp({
      queries: new DashboardQueries(clickhouse, db),
      admin,
      config: { ...cfg, readKeys: [] },
      logger: silentLogger,
      metrics: createMetrics('d'),
      streamIntervalMs: 100,
    });
    server = app.listen(0);
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const all = truth.totals();
    await waitFor(
      async () => {
        const t = await get(`/api/totals?from=${iso(T0)}&to=${iso(T0 + 3 * MIN)}`);
        return t.body.activeUsers === all.activeUsers &&
          JSON.stringify(t.body.orders) !== '{}' &&
          t.body.orders.order_refunded
          ? true
          : undefined;
      },
      'the events in ClickHouse',
      60_000,
      200,
    );
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await sink?.stop();
    await processor?.stop();
    await clickhouse?.command({ query: `DROP DATABASE IF EXISTS ${db}` }).catch(() => undefined);
    await clickhouse?.close();
    await admin?.disconnect();
    await registry?.close();
  });

  const iso = (ms: number) => new Date(ms).toISOString();
  /** Rows of the built-in users rollup written straight to its table, as the sink writes them. */
  async function insertUserRows(
    rows: Array<{ windowStart: number; type: string; device: string; count: number }>,
  ): Promise<void> {
    const d = builtin('users');
    const lines = rows.map((r) =>
      declaredTableRow(
        {
          rollup: 'users',
          version: 1,
          topic: 'events.users',
          partition: 0,
          segment: 0,
          chunk: 0,
          windowStart: r.windowStart,
          dims: d.dimensions.map((x) => ({ country: 'DE', device: r.device, type: r.type })[x.column]!),
          values: [r.count],
          sets: [],
          rowVersion: 1,
          maxReceivedAt: null,
        },
        d,
      ),
    );
    await clickhouse.insert({
      table: `${db}.${lines[0]!.table}`,
      values: lines.map((l) => l.values),
      format: 'JSONCompactEachRow',
      columns: lines[0]!.columns,
    });
  }
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  async function get(path: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${base}${path}`);
    return { status: res.status, body: await res.json() };
  }

  it.each([
    ['all three windows', T0, T0 + 3 * MIN],
    ['the first window', T0, T0 + MIN],
    ['the second and third', T0 + MIN, T0 + 3 * MIN],
    ['epoch-millis bounds', T0 + MIN, T0 + 2 * MIN],
  ])('/api/totals over %s equals the ground truth', async (_what, from, to) => {
    const query = _what === 'epoch-millis bounds' ? `from=${from}&to=${to}` : `from=${iso(from)}&to=${iso(to)}`;
    const { status, body } = await get(`/api/totals?${query}`);
    const expected = truth.totals(from, to);
    expect(status).toBe(200);
    expect({ orders: body.orders, userEvents: body.userEvents, activeUsers: body.activeUsers }).toEqual({
      orders: expected.orders,
      userEvents: expected.userEvents,
      activeUsers: expected.activeUsers,
    });
    expect([body.from, body.to]).toEqual([iso(from), iso(to)]);
  });

  it('/api/timeseries buckets per minute and by group', async () => {
    const { body } = await get(
      `/api/timeseries?metric=orders&from=${iso(T0)}&to=${iso(T0 + 3 * MIN)}&interval=1m&groupBy=type`,
    );
    expect(body.points).toEqual([
      { t: iso(T0), group: 'order_placed', value: 1 },
      { t: iso(T0 + MIN), group: 'order_paid', value: 1 },
      { t: iso(T0 + MIN), group: 'order_placed', value: 1 },
      { t: iso(T0 + 2 * MIN), group: 'order_refunded', value: 1 },
    ]);
    const revenue = await get(`/api/timeseries?metric=revenue&from=${iso(T0)}&to=${iso(T0 + 3 * MIN)}&interval=1h`);
    expect(revenue.body.points).toEqual([
      { t: iso(T0), group: 'EUR', value: 7000 },
      { t: iso(T0), group: 'USD', value: 500 },
    ]);
    const active = await get(`/api/timeseries?metric=active_users&from=${iso(T0)}&to=${iso(T0 + 3 * MIN)}&interval=1m`);
    expect(active.body.points.map((p: { value: number }) => p.value)).toEqual([1, 2, 2]);
  });

  it('/api/timeseries keeps the 20 largest groups and folds the rest into __other__, totals unchanged, and says so; a query over its memory cap is a 422', async () => {
    // 30 devices in a day of their own, written straight to the table: device i has i + 1 events.
    const day = T0 + 86_400_000;
    await insertUserRows(
      Array.from({ length: 30 }, (_, i) => ({
        windowStart: day,
        type: 'page_view',
        device: `device-${i}`,
        count: i + 1,
      })),
    );
    const { status, body } = await get(
      `/api/timeseries?metric=user_events&from=${iso(day)}&to=${iso(day + MIN)}&interval=1m&groupBy=device`,
    );
    expect(status).toBe(200);
    expect(body.truncated).toBe(true);
    const groups = new Map<string, number>(
      body.points.map((p: { group: string; value: number }) => [p.group, p.value]),
    );
    expect(groups.size).toBe(21);
    expect(groups.get('__other__')).toBe(Array.from({ length: 10 }, (_, i) => i + 1).reduce((a, b) => a + b, 0));
    for (let i = 10; i < 30; i++) expect(groups.get(`device-${i}`)).toBe(i + 1);
    expect([...groups.values()].reduce((a, b) => a + b, 0)).toBe((30 * 31) / 2);
    // What the processor folded into __other__ in the last hour is on /api/pipeline, per kind.dimension.
    await insertUserRows([
      { windowStart: Math.floor(Date.now() / MIN) * MIN, type: 'login', device: '__other__', count: 7 },
    ]);
    expect((await get('/api/pipeline')).body.folded).toEqual({ 'users.device': 7 });
    // Under the cap nothing is folded.
    const few = await get(
      `/api/timeseries?metric=orders&from=${iso(T0)}&to=${iso(T0 + 3 * MIN)}&interval=1m&groupBy=type`,
    );
    expect(few.body.truncated).toBe(false);

    const starved = dashboardApp({
      queries: new DashboardQueries(clickhouse, db, 5000, undefined, 1024),
      admin,
      logger: silentLogger,
      metrics: createMetrics('d3'),
      streamIntervalMs: 100,
      config: {
        ...testConfig(),
        readKeys: [],
        dashboard: { maxStreams: 6, maxStreamsPerClient: 5, queryTimeoutMs: 5000, queryMaxMemoryBytes: 1024 },
      },
    });
    const s3 = starved.listen(0, '127.0.0.1');
    await new Promise((r) => s3.once('listening', r));
    try {
      const res = await fetch(
        `http://127.0.0.1:${(s3.address() as AddressInfo).port}/api/timeseries?metric=user_events&from=${iso(day)}&to=${iso(day + MIN)}&groupBy=device`,
      );
      expect(res.status).toBe(422);
      expect(await res.json()).toMatchObject({
        error: 'query_too_large',
        message: expect.stringMatching(/DASHBOARD_QUERY_MAX_MEMORY_BYTES/),
      });
    } finally {
      await new Promise((r) => s3.close(r));
    }
  });

  it('/api/top-products ranks by units with revenue per currency', async () => {
    const { body } = await get(`/api/top-products?from=${iso(T0)}&to=${iso(T0 + 3 * MIN)}&limit=5`);
    expect(body.products).toEqual([
      { sku: 'PEN', category: 'office', quantity: 6, revenueCents: { EUR: 1000, USD: 500 } },
      { sku: 'BOOK', category: 'books', quantity: 2, revenueCents: { EUR: 2000 } },
    ]);
  });

  it('/api/stream pushes the current figures as Server-Sent Events', async () => {
    const res = await fetch(`${base}/api/stream`);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    while ((text.match(/event: figures/g) ?? []).length < 2)
      text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    const data = JSON.parse(
      text
        .split('\n')
        .find((l) => l.startsWith('data: '))!
        .slice(6),
    );
    expect(Object.keys(data).sort()).toEqual(['current', 'freshness', 'lastHour', 'window']);
  });

  it('security: read keys by header or session cookie only, /metrics behind them, Host checked, streams capped and computed once per tick for all', async () => {
    const readKey = `rk-${unique('k')}`;
    const secured = dashboardApp({
      queries: new DashboardQueries(clickhouse, db, 5000),
      admin,
      logger: silentLogger,
      metrics: createMetrics('d2'),
      streamIntervalMs: 100,
      config: {
        ...testConfig(),
        readKeys: [readKey],
        dashboard: { maxStreams: 6, maxStreamsPerClient: 5, queryTimeoutMs: 5000, queryMaxMemoryBytes: 256 * 2 ** 20 },
      },
    });
    // Listening as the dashboard service does: with the Host check every server keeps on loopback.
    const s2 = await listenHardened(secured, 0, '127.0.0.1', 'test dashboard');
    const url = `http://127.0.0.1:${(s2.address() as AddressInfo).port}`;
    const streams: Array<ReadableStreamDefaultReader<Uint8Array>> = [];
    try {
      const totals = `/api/totals?from=${iso(T0)}&to=${iso(T0 + 3 * MIN)}`;
      expect((await fetch(`${url}${totals}`)).status).toBe(401);
      // A key in the URL is no key: it would end up in logs and histories.
      expect((await fetch(`${url}${totals}&key=${readKey}`)).status).toBe(401);
      expect((await fetch(`${url}${totals}`, { headers: { authorization: `Bearer ${readKey}` } })).status).toBe(200);
      expect((await fetch(`${url}/metrics`)).status).toBe(401);
      expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${readKey}` } })).status).toBe(200);
      // DNS rebinding: a page of another origin resolved to 127.0.0.1 sends its own Host.
      // (fetch sets Host itself: node:http sends the forged one.)
      const forged = await new Promise<number>((resolve, reject) => {
        http
          .get(`${url}${totals}`, { headers: { authorization: `Bearer ${readKey}`, host: 'evil.example' } }, (r) => {
            r.resume();
            resolve(r.statusCode!);
          })
          .on('error', reject);
      });
      expect(forged).toBe(403);
      // The page's way: the key once in a header, then an HttpOnly cookie.
      expect(
        (await fetch(`${url}/api/session`, { method: 'POST', headers: { authorization: 'Bearer nope' } })).status,
      ).toBe(401);
      const session = await fetch(`${url}/api/session`, {
        method: 'POST',
        headers: { authorization: `Bearer ${readKey}` },
      });
      expect(session.status).toBe(204);
      const cookie = session.headers.get('set-cookie')!;
      expect(cookie).toMatch(/^tributary_session=[\w-]+; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+$/);
      const jar = { cookie: cookie.split(';')[0]! };
      const body = (await (await fetch(`${url}${totals}`, { headers: jar })).json()) as { activeUsers: number };
      expect(body.activeUsers).toBe(truth.totals().activeUsers);
      expect((await fetch(`${url}${totals}`, { headers: { cookie: 'tributary_session=forged' } })).status).toBe(401);

      // Five streams of one client: the sixth is refused; all five get figures from one computation per tick.
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${url}/api/stream`, { headers: jar });
        expect(res.status).toBe(200);
        streams.push(res.body!.getReader());
      }
      const refused = await fetch(`${url}/api/stream`, { headers: jar });
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { message: string }).message).toContain('DASHBOARD_MAX_STREAMS_PER_CLIENT');
      const hub = secured.locals.hub as { computations: number };
      const before = hub.computations;
      const texts = await Promise.all(
        streams.map(async (reader) => {
          let text = '';
          while ((text.match(/event: figures/g) ?? []).length < 4)
            text += new TextDecoder().decode((await reader.read()).value);
          return text;
        }),
      );
      const ran = hub.computations - before;
      // 5 streams × 4 figures each = 20 deliveries; per-connection queries would have run 20 times at least.
      expect(texts).toHaveLength(5);
      expect(ran).toBeGreaterThanOrEqual(3);
      expect(ran).toBeLessThanOrEqual(8);
    } finally {
      for (const reader of streams) await reader.cancel().catch(() => undefined);
      (secured.locals.hub as { close(): void }).close();
      await new Promise((r) => s2.close(r));
    }
  });

  it('/api/pipeline reports lag per stage and partition and the dead letters', async () => {
    const { status, body } = await get('/api/pipeline');
    expect(status).toBe(200);
    expect(body.stages.map((s: { stage: string }) => s.stage)).toEqual(['ingest', 'process', 'sink']);
    expect(body.stages[0].records).toBe(users.length + orders.length);
    expect(body.stages[1].partitions).toHaveLength(12);
    expect(body.deadLetters).toBe(0);
    // Events produced straight to Kafka carry no receivedAt: nothing to measure freshness on.
    expect(body.freshness).toBeNull();
  });

  it('/api/pipeline reports ClickHouse parts per table: active parts, inserts so far, rows', async () => {
    const { body } = await get('/api/pipeline');
    type Table = { table: string; activeParts: number; inserts: number; rows: number };
    const tables = body.clickhouse.tables as Table[];
    const orders = tables.find((t) => t.table === tableOf('orders', 1))!;
    const [stored] = await (
      await clickhouse.query({ query: `SELECT count() AS n FROM ${db}.${tableOf('orders', 1)}`, format: 'JSONEachRow' })
    ).json<{ n: string }>();
    expect(orders.rows).toBe(Number(stored!.n));
    expect(orders.activeParts).toBeGreaterThanOrEqual(1);
    // Each insert writes one part: never more active parts than inserts.
    expect(orders.inserts).toBeGreaterThanOrEqual(orders.activeParts);
  });

  it("operability: the processor's lag counts what it processed, not its open segment: 0 once caught up, with the segment start shown apart", async () => {
    type Partition = { committed: number; processed: number; end: number; lag: number };
    const caughtUp = await waitFor(
      async () => {
        const { body } = await get('/api/pipeline');
        const process = body.stages[1] as { lag: number; partitions: Partition[] };
        return process.lag === 0 && process.partitions.every((p) => p.processed === p.end) ? process : undefined;
      },
      'the processor to be caught up',
      30_000,
      200,
    );
    // Segments of 50: the open segment's start is behind the end, yet nothing is left to process.
    expect(caughtUp.partitions.some((p) => p.committed < p.end)).toBe(true);
    expect(caughtUp.partitions.every((p) => p.committed <= p.processed)).toBe(true);
  });

  it.each([
    ['/api/totals?from=yesterday', 'from'],
    ['/api/totals?from=2026-11-27T10:00:00Z&to=2026-11-27T09:00:00Z', 'from'],
    ['/api/totals?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', 'to'],
    ['/api/timeseries?metric=profit', 'metric'],
    ['/api/timeseries?metric=orders&interval=2m', 'interval'],
    ['/api/timeseries?metric=orders&groupBy=device', 'groupBy'],
    ['/api/timeseries?metric=orders&interval=1m&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z', 'interval'],
    ['/api/top-products?limit=0', 'limit'],
    ['/api/top-products?limit=many', 'limit'],
    ['/api/totals?from=99999999999999&to=99999999999999999', 'from'],
    ['/api/totals?from=1800-01-01T00:00:00Z', 'from'],
  ])('%s → 400 naming %s', async (path, parameter) => {
    const { status, body } = await get(path);
    expect(status).toBe(400);
    expect(body).toMatchObject({ error: 'invalid_parameter', parameter });
    expect(body.message).toContain(parameter);
  });
});
