import type { ClickHouseClient } from '@clickhouse/client';
import { type Admin, type Kafka, connectAdmin, connectProducer, createKafka } from '../platform/kafka/client';
import { silentLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { runMigrations } from '../platform/clickhouse/migrations';
import { TributaryProducer } from '../producers/tributary-producer';
import { DemoShop } from '../producers/demo/shop';
import { GroundTruth } from '../producers/demo/ground-truth';
import { SchemaClient } from '../schemas/client';
import { SCHEMAS } from '../schemas/catalog';
import { rowKey, type RollupRow } from '../schemas/rollup';
import { builtin } from '../schemas/declarations/builtin';
import { tableOf, type DeclaredRow } from '../schemas/declarations/row';
import { readDeadLetters } from './dlq-tools';
import { startProcessor } from '../streams/service';
import type { ProcessorService } from '../streams/service';
import { DashboardQueries } from '../dashboards/queries';
import { startTestRegistry } from '../test/registry';
import { createPipelineTopics, type PipelineTopics, produceDemo } from '../test/pipeline';
import { clickhouseTarget, faultyClickHouse, testClickHouse } from '../test/clickhouse';
import { testConfig, unique, waitFor, sorted } from '../test/helpers';
import { groupCaughtUp } from '../test/kafka';
import { ClickHouseSink } from './sink';
import { sinkMetrics } from './metrics';
import { rollupMigrations } from './tables';

describe(`ClickHouse sink on ${clickhouseTarget}`, () => {
  const config = testConfig({ CLICKHOUSE_DATABASE: `sink_${Date.now()}_${process.pid}` });
  const db = config.clickhouse.database;
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;
  let kafka: Kafka;
  let admin: Admin;
  let clickhouse: ClickHouseClient;

  beforeAll(async () => {
    registry = await startTestRegistry();
    kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'sink-test' });
    admin = await connectAdmin(kafka);
    clickhouse = testClickHouse(config);
    await runMigrations(clickhouse, db, rollupMigrations, silentLogger);
  });
  afterAll(async () => {
    await clickhouse?.command({ query: `DROP DATABASE IF EXISTS ${db}` }).catch(() => undefined);
    await clickhouse?.close();
    await admin?.disconnect();
    await registry?.close();
  });

  async function pipeline() {
    const topics = await createPipelineTopics(admin);
    const cfg = {
      ...config,
      topics,
      processor: { ...config.processor, groupId: unique('rollups'), segmentSize: 50, flushIntervalMs: 150 },
    };
    const processor = await startProcessor({
      config: cfg,
      kafka,
      schemas: new SchemaClient(registry.url, silentLogger),
      logger: silentLogger,
      metrics: createMetrics('p'),
    });
    const producer = await TributaryProducer.connect({
      kafka: config.kafka,
      registryUrl: registry.url,
      topics: { user: topics.users, order: topics.orders },
    });
    // Each test writes its own topics' rows; a `topic` filter keeps tests apart in one database.
    return { topics, processor, producer, sinkGroup: unique('sink') };
  }

  function newSink(
    topics: PipelineTopics,
    groupId: string,
    client: Pick<ClickHouseClient, 'insert'>,
    extra: Partial<ConstructorParameters<typeof ClickHouseSink>[0]> = {},
    batchRows = 100_000,
  ) {
    const metrics = sinkMetrics(createMetrics('s'));
    const sink = new ClickHouseSink({
      kafka,
      clickhouse: client,
      schemas: new SchemaClient(registry.url, silentLogger),
      logger: silentLogger,
      metrics,
      options: {
        groupId,
        topics: { rollups: topics.rollups, dlq: topics.dlq },
        database: db,
        batchRows,
        batchDelayMs: 100,
      },
      ...extra,
    });
    return { sink, metrics };
  }

  /** Totals from ClickHouse for this test's topics, in the ground truth's shape. */
  async function clickhouseTotals(topics: PipelineTopics) {
    const q = await clickhouse.query({
      query: `SELECT 'o' AS k, type, currency, sum(count) AS c, sum(amount_cents) AS a FROM ${db}.${tableOf('orders', 1)} FINAL WHERE topic = {t:String} GROUP BY type, currency
              UNION ALL SELECT 'u' AS k, type, '' AS currency, sum(count) AS c, 0 AS a FROM ${db}.${tableOf('users', 1)} FINAL WHERE topic = {u:String} GROUP BY type`,
      query_params: { t: topics.orders, u: topics.users },
      format: 'JSONEachRow',
    });
    const orders: Record<string, { count: number; amountCents: Record<string, number> }> = {};
    const userEvents: Record<string, number> = {};
    for (const r of await q.json<{ k: string; type: string; currency: string; c: string; a: string }>()) {
      if (r.k === 'u') {
        userEvents[r.type] = Number(r.c);
        continue;
      }
      const o = (orders[r.type] ??= { count: 0, amountCents: {} });
      o.count += Number(r.c);
      if (r.currency && Number(r.a) !== 0) o.amountCents[r.currency] = Number(r.a);
    }
    return { orders, userEvents };
  }

  async function expectTotals(topics: PipelineTopics, truth: GroundTruth) {
    const { orders, userEvents } = truth.totals();
    const expected = JSON.stringify(sorted({ orders, userEvents }));
    await waitFor(
      async () => (JSON.stringify(sorted(await clickhouseTotals(topics))) === expected ? true : undefined),
      'ClickHouse totals to equal the ground truth',
      60_000,
      250,
    ).catch(() => undefined);
    expect(sorted(await clickhouseTotals(topics))).toEqual(sorted({ orders, userEvents }));
  }

  async function stopAll(processor: ProcessorService, producer: TributaryProducer, ...sinks: ClickHouseSink[]) {
    for (const s of sinks) await s.stop().catch(() => undefined);
    await processor.stop();
    await producer.disconnect();
  }

  it('writes rollups that sum to the ground truth, and the dashboard queries agree', async () => {
    const { topics, processor, producer, sinkGroup } = await pipeline();
    const { sink, metrics } = newSink(topics, sinkGroup, clickhouse);
    await sink.start();
    const truth = new GroundTruth();
    try {
      await produceDemo(
        producer,
        new DemoShop(5, { lateShare: 0.05, retryShare: 0.02, retryWindow: 20 }).next(1500),
        truth,
      );
      await expectTotals(topics, truth);
      expect((await metrics.rows.get()).values[0]!.value).toBeGreaterThan(0);
      // This test runs first in a fresh database: the dashboard's own totals must match too.
      const dash = await new DashboardQueries(clickhouse, db).totals({ from: 0, to: Date.now() + 86_400_000 });
      const expected = truth.totals();
      expect(sorted({ orders: dash.orders, userEvents: dash.userEvents, activeUsers: dash.activeUsers })).toEqual(
        sorted({ orders: expected.orders, userEvents: expected.userEvents, activeUsers: expected.activeUsers }),
      );
      const top = await new DashboardQueries(clickhouse, db).topProducts({ from: 0, to: Date.now() + 86_400_000 }, 3);
      const truthTop = Object.entries(expected.products)
        .sort((a, b) => b[1].quantity - a[1].quantity || a[0].localeCompare(b[0]))
        .slice(0, 3);
      expect(top.map((p) => [p.sku, p.quantity])).toEqual(truthTop.map(([sku, p]) => [sku, p.quantity]));
    } finally {
      await stopAll(processor, producer, sink);
    }
  });

  it("a row ClickHouse refuses (a window in year 250,000, produced straight to rollups, an old processor's row alone or a declared one in a block) is dead-lettered; every other row is inserted", async () => {
    const { topics, processor, producer, sinkGroup } = await pipeline();
    const { sink, metrics } = newSink(topics, sinkGroup, clickhouse);
    await sink.start();
    const truth = new GroundTruth();
    const raw = await connectProducer(kafka);
    try {
      await produceDemo(producer, new DemoShop(8, { lateShare: 0, retryShare: 0 }).next(300), truth);
      const schemas = new SchemaClient(registry.url, silentLogger);
      const id = await schemas.register({ ...SCHEMAS.rollup, subject: `${topics.rollups}-value` });
      const crafted: RollupRow = {
        kind: 'orders',
        topic: topics.orders,
        partition: 0,
        segment: 999,
        chunk: 0,
        windowStart: 8e15,
        dims: { type: 'order_paid', country: 'DE', currency: 'EUR' },
        count: 1,
        amountCents: 5,
        quantity: 0,
        version: 1,
        users: [],
        maxReceivedAt: null,
      };
      const [sent] = await raw.send({
        topic: topics.rollups,
        acks: -1,
        messages: [{ key: rowKey(crafted), value: schemas.encode(id, SCHEMAS.rollup.type, crafted) }],
      });
      // The same row of the built-in orders rollup in a block beside a row that counts nothing: only the refused one is dead-lettered.
      const blockId = await schemas.register({
        ...SCHEMAS.declaredBlock,
        subject: `${topics.rollups}-${SCHEMAS.declaredBlock.name}`,
      });
      const refused: DeclaredRow = {
        rollup: 'orders',
        version: 1,
        topic: topics.orders,
        partition: 0,
        segment: 998,
        chunk: 0,
        windowStart: 8e15,
        dims: builtin('orders').dimensions.map(
          (d) => ({ type: 'order_paid', country: 'DE', currency: 'EUR' })[d.column]!,
        ),
        values: [1, 5, 0],
        sets: [],
        rowVersion: 1,
        maxReceivedAt: null,
      };
      const harmless: DeclaredRow = { ...refused, windowStart: 1_764_273_600_000, values: [0, 0, 0] };
      const [block] = await raw.send({
        topic: topics.rollups,
        acks: -1,
        messages: [
          {
            key: 'dblock|crafted',
            value: schemas.encode(blockId, SCHEMAS.declaredBlock.type, { rows: [refused, harmless] }),
          },
        ],
      });
      await produceDemo(producer, new DemoShop(9, { lateShare: 0, retryShare: 0 }).next(300), truth);
      await expectTotals(topics, truth);
      const letters = await waitFor(async () => {
        const all = await readDeadLetters(kafka, schemas, topics.dlq);
        return all.length > 1 ? all : undefined;
      }, "the refused rows' dead letters");
      // In whichever order the sink met them (the two records may sit on different partitions).
      const unordered = (tuples: unknown[][]) => tuples.map((t) => JSON.stringify(t)).sort();
      expect(
        unordered(letters.map((l) => [l.letter.reason, l.letter.source, l.letter.partition, l.letter.offset])),
      ).toEqual(
        unordered([
          ['refused_by_clickhouse', topics.rollups, sent!.partition, Number(sent!.baseOffset)],
          ['refused_by_clickhouse', topics.rollups, block!.partition, Number(block!.baseOffset)],
        ]),
      );
      for (const l of letters) expect(l.letter.message).toMatch(/CANNOT_PARSE_DATETIME|Cannot read DateTime/);
      expect(
        (await metrics.deadLetters.get()).values.find((v) => v.labels.reason === 'refused_by_clickhouse')?.value,
      ).toBe(2);
      const inserted = await (
        await clickhouse.query({
          query: `SELECT count() AS n FROM ${db}.${tableOf('orders', 1)} WHERE topic = {t:String} AND segment = 998`,
          query_params: { t: topics.orders },
          format: 'JSONEachRow',
        })
      ).json<{ n: string }>();
      expect(Number(inserted[0]!.n)).toBe(1);
    } finally {
      await raw.disconnect();
      await stopAll(processor, producer, sink);
    }
  });

  it('re-delivered rows (sink killed after insert, before commit, restarted) change no total', async () => {
    const { topics, processor, producer, sinkGroup } = await pipeline();
    const truth = new GroundTruth();
    let inserts = 0;
    let frozen: () => void = () => undefined;
    // The second insert succeeds, then the process "dies" before committing: the hook never returns.
    const { sink: doomed } = newSink(topics, sinkGroup, clickhouse, {
      afterInsert: () =>
        ++inserts === 2
          ? new Promise<void>((resolve) => {
              frozen = resolve;
            })
          : undefined,
    });
    await doomed.start();
    const shop = new DemoShop(8, { lateShare: 0.05, retryShare: 0.02, retryWindow: 20 });
    let restarted: ClickHouseSink | undefined;
    try {
      await produceDemo(producer, shop.next(600), truth);
      await waitFor(() => (inserts >= 1 ? true : undefined), 'a first insert');
      // More rows, so a second insert (the one that "crashes" before its commit) follows.
      await produceDemo(producer, shop.next(300), truth);
      await waitFor(() => (inserts >= 2 ? true : undefined), 'the insert before the crash');
      await doomed.abort();
      const committedBefore = await admin.fetchOffsets({ groupId: sinkGroup, topics: [topics.rollups] });
      await produceDemo(producer, shop.next(600), truth);
      restarted = newSink(topics, sinkGroup, clickhouse).sink;
      await restarted.start();
      await expectTotals(topics, truth);
      // The rows of the uncommitted insert were delivered again: the restart began below them.
      const committedAfter = await admin.fetchOffsets({ groupId: sinkGroup, topics: [topics.rollups] });
      const sum = (o: typeof committedBefore) =>
        o[0]!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      expect(sum(committedAfter)).toBeGreaterThan(sum(committedBefore));
    } finally {
      frozen();
      await stopAll(processor, producer, ...(restarted ? [restarted] : []));
    }
  });

  it('ClickHouse unavailable mid-stream, longer than the session timeout: retries with backoff, commits nothing, keeps its group membership, then catches up exactly', async () => {
    const { topics, processor, producer, sinkGroup } = await pipeline();
    const faulty = faultyClickHouse(clickhouse);
    // Small batches: a full buffer makes the batch handler itself wait for ClickHouse, the case
    // where kafkajs sends no heartbeat of its own.
    const { sink, metrics } = newSink(topics, sinkGroup, faulty, {}, 20);
    await sink.start();
    const truth = new GroundTruth();
    const shop = new DemoShop(9, { lateShare: 0.05, retryShare: 0.02, retryWindow: 20 });
    try {
      await produceDemo(producer, shop.next(500), truth);
      await expectTotals(topics, truth);
      // The totals show once inserted; the commit of that last insert follows it: wait for it, or
      // it could land after the snapshot below (as it did once on Node 24).
      await waitFor(
        async () => ((await groupCaughtUp(admin, topics.rollups, sinkGroup)) ? true : undefined),
        'the sink to commit what it inserted',
        30_000,
      );
      faulty.down = true;
      const members = async () => (await admin.describeGroups([sinkGroup])).groups[0]!.members.map((m) => m.memberId);
      const before = await members();
      expect(before).toHaveLength(1);
      const committed = await admin.fetchOffsets({ groupId: sinkGroup, topics: [topics.rollups] });
      await produceDemo(producer, shop.next(800), truth);
      // Eight failed inserts take ~13 s of backoff: longer than the 10 s session timeout.
      await waitFor(
        async () => ((await metrics.retries.get()).values[0]!.value >= 8 ? true : undefined),
        'eight failed inserts',
        60_000,
      );
      expect(await admin.fetchOffsets({ groupId: sinkGroup, topics: [topics.rollups] })).toEqual(committed);
      expect(await members()).toEqual(before);
      faulty.down = false;
      await expectTotals(topics, truth);
    } finally {
      faulty.down = false;
      await stopAll(processor, producer, sink);
    }
  });
});
