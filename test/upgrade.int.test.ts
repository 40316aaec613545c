import type { ChildProcess } from 'node:child_process';
import type { ClickHouseClient } from '@clickhouse/client';
import { type Admin, type Kafka, connectAdmin, connectProducer, createKafka } from '../platform/kafka/client';
import { silentLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { TributaryProducer } from '../producers/tributary-producer';
import { DemoShop } from '../producers/demo/shop';
import { GroundTruth, windowOf } from '../producers/demo/ground-truth';
import { SchemaClient } from '../schemas/client';
import { SCHEMAS, type OrderEvent, type UserEvent } from '../schemas/catalog';
import { rowKey, type RollupRow } from '../schemas/rollup';
import { openDeclarations } from '../schemas/declarations/log';
import { startSink } from '../consumers/service';
import type { ClickHouseSink } from '../consumers/sink';
import { DashboardQueries } from '../dashboards/queries';
import { startTestRegistry } from './registry';
import {
  createPipelineTopics,
  killAndWait,
  pipelineEnv,
  produceDemo,
  runTributary,
  spawnTributary,
  type PipelineTopics,
} from './pipeline';
import { clickhouseTarget, testClickHouse } from './clickhouse';
import { sorted, testConfig, unique, waitFor } from './helpers';

/**
 * Offsets per segment: small, so the old processor's history spans several closed segments per
 * partition; not below produceDemo's sends per partition, or a retried send could land past the
 * duplicate window (test/pipeline.ts).
 */
const SEGMENT = 40;

/**
 * A pipeline run by the version before the built-in rollups were declarations, upgraded: its
 * state is what that version leaves (its RollupRow records on the rollups topic, Avro schema
 * avro/RollupRow.avsc, some already in the old tables, and processor commits at each partition's
 * open-segment start, the metadata naming no built-in version), written here by the rules that
 * version computed them by (docs/processing.md, one row per kind, window and dimensions per
 * segment). Then `tributary process` of this version and a sink start on it, more events come,
 * and the dashboard's totals equal the ground truth of every event, before and after the upgrade.
 */
describe(`upgrading a pipeline of the per-kind rollups (${clickhouseTarget})`, () => {
  const config = testConfig({ CLICKHOUSE_DATABASE: `upgrade_${Date.now()}_${process.pid}` });
  const db = config.clickhouse.database;
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;
  let kafka: Kafka;
  let admin: Admin;
  let clickhouse: ClickHouseClient;
  let processor: ChildProcess | undefined;
  let sink: ClickHouseSink | undefined;

  beforeAll(async () => {
    registry = await startTestRegistry();
    kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'upgrade-test' });
    admin = await connectAdmin(kafka);
    clickhouse = testClickHouse(config);
  });
  afterAll(async () => {
    if (processor) await killAndWait(processor);
    await sink?.stop();
    await clickhouse?.command({ query: `DROP DATABASE IF EXISTS ${db}` }).catch(() => undefined);
    await clickhouse?.close();
    await admin?.disconnect();
    await registry?.close();
  });

  /** Every record of an input topic with its partition and offset. */
  async function readInput(
    schemas: SchemaClient,
    topic: string,
  ): Promise<Array<{ partition: number; offset: number; record: UserEvent | OrderEvent }>> {
    const ends = await admin.fetchTopicOffsets(topic);
    const total = ends.reduce((n, e) => n + Number(e.high), 0);
    const out: Array<{ partition: number; offset: number; record: UserEvent | OrderEvent }> = [];
    const consumer = kafka.consumer({ groupId: unique('read'), maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        out.push({ partition, offset: Number(message.offset), record: await schemas.decode(message.value) });
      },
    });
    await waitFor(() => (out.length >= total ? true : undefined), `${topic} read`, 30_000, 50);
    await consumer.disconnect();
    return out;
  }

  /**
   * The rows the processor before the upgrade emitted for these records: per segment and chunk,
   * cumulative up to the last one, each eventId once (its duplicate rule). Its chunks were cut across all kinds at once, at OLD_MAX_ROWS
   * rows (a user of a window counting as one): chunk numbers this version's per-rollup chunks do
   * not share, so a row of an old chunk is never replaced by a new one.
   */
  const OLD_MAX_ROWS = 12;
  function oldRows(
    topic: string,
    records: Array<{ partition: number; offset: number; record: UserEvent | OrderEvent }>,
  ): RollupRow[] {
    const rows = new Map<string, RollupRow>();
    const chunks = new Map<string, { chunk: number; held: Set<string> }>();
    let at = { chunk: 0, held: new Set<string>() };
    const bump = (
      kind: RollupRow['kind'],
      p: number,
      offset: number,
      window: number,
      dims: Record<string, string>,
      amountCents: number,
      quantity: number,
      users: string[] = [],
    ) => {
      const probe: RollupRow = {
        kind,
        topic,
        partition: p,
        segment: Math.floor(offset / SEGMENT),
        chunk: at.chunk,
        windowStart: window,
        dims,
        count: 0,
        amountCents: 0,
        quantity: 0,
        version: offset,
        users: [],
        maxReceivedAt: null,
      };
      for (const held of kind === 'active_users' ? users.map((u) => `${window}|${u}`) : [rowKey(probe)])
        at.held.add(held);
      const key = rowKey({ ...probe, version: kind === 'active_users' ? 0 : undefined });
      const row = rows.get(key) ?? probe;
      row.count += kind === 'active_users' ? 0 : 1;
      row.amountCents += amountCents;
      row.quantity += quantity;
      row.version = offset;
      for (const u of users) if (!row.users.includes(u)) row.users.push(u);
      row.count = kind === 'active_users' ? row.users.length : row.count;
      rows.set(key, row);
    };
    // The old processor's duplicate rule too: an eventId (per origin) seen in the current or the
    // previous segment of the partition is a copy (a send kafkajs retried after the broker had
    // written it: a loaded machine makes some), and counts once.
    const seen = new Map<string, Set<string>>();
    for (const { partition, offset, record } of records.sort(
      (a, b) => a.partition - b.partition || a.offset - b.offset,
    )) {
      const id = `${record.origin ?? ''}|${record.eventId}`;
      const ids = (s: number) =>
        seen.get(`${partition}/${s}`) ?? seen.set(`${partition}/${s}`, new Set()).get(`${partition}/${s}`)!;
      const s = Math.floor(offset / SEGMENT);
      if (ids(s).has(id) || ids(s - 1).has(id)) continue;
      ids(s).add(id);
      const segment = `${partition}/${Math.floor(offset / SEGMENT)}`;
      at = chunks.get(segment) ?? { chunk: 0, held: new Set() };
      chunks.set(segment, at);
      if (at.held.size >= OLD_MAX_ROWS) {
        at.chunk += 1;
        at.held = new Set();
      }
      const window = windowOf(record.occurredAt);
      bump('active_users', partition, offset, window, {}, 0, 0, [record.userId]);
      if ('device' in record) {
        bump(
          'users',
          partition,
          offset,
          window,
          { type: record.type, country: record.country ?? '', device: record.device ?? '' },
          0,
          0,
        );
        continue;
      }
      const o = record as OrderEvent;
      bump(
        'orders',
        partition,
        offset,
        window,
        { type: o.type, country: o.country ?? '', currency: o.currency ?? '' },
        o.amountCents ?? 0,
        o.items.reduce((n, i) => n + i.quantity, 0),
      );
      if (o.type === 'order_placed')
        for (const i of o.items)
          bump(
            'products',
            partition,
            offset,
            window,
            { sku: i.sku, category: i.category ?? '', currency: o.currency ?? '' },
            i.quantity * i.unitPriceCents,
            i.quantity,
          );
    }
    return [...rows.values()];
  }

  it('counts every event once: the old rows of closed segments copied, the open segments recounted', async () => {
    const topics: PipelineTopics = await createPipelineTopics(admin);
    const groupId = unique('rollups');
    const truth = new GroundTruth();
    const producer = await TributaryProducer.connect({
      kafka: config.kafka,
      registryUrl: registry.url,
      topics: { user: topics.users, order: topics.orders },
    });
    const schemas = new SchemaClient(registry.url, silentLogger);
    const raw = await connectProducer(kafka);
    try {
      // Before: the old processor counted these; its rows are on the rollups topic, its commits at each open segment's start.
      await produceDemo(producer, new DemoShop(31, { lateShare: 0.05, retryShare: 0 }).next(1000), truth);
      const rollupId = await schemas.register({ ...SCHEMAS.rollup, subject: `${topics.rollups}-value` });
      for (const topic of [topics.users, topics.orders]) {
        const records = await readInput(schemas, topic);
        const rows = oldRows(topic, records);
        await raw.send({
          topic: topics.rollups,
          acks: -1,
          messages: rows.map((r) => ({ key: rowKey(r), value: schemas.encode(rollupId, SCHEMAS.rollup.type, r) })),
        });
        const ends = await admin.fetchTopicOffsets(topic);
        await admin.setOffsets({
          groupId,
          topic,
          partitions: ends.map((e) => ({
            partition: e.partition,
            offset: String(Math.floor(Number(e.high) / SEGMENT) * SEGMENT),
          })),
        });
      }

      // The upgrade: this version's processor and sink.
      const env = pipelineEnv(topics, registry.url, {
        PROCESS_GROUP_ID: groupId,
        SEGMENT_SIZE: String(SEGMENT),
        FLUSH_INTERVAL_MS: '150',
      });
      processor = spawnTributary(['process'], env);
      const stageConfig = {
        ...config,
        topics,
        processor: { ...config.processor, groupId, segmentSize: SEGMENT },
        sink: { ...config.sink, groupId: unique('sink'), batchDelayMs: 100 },
      };
      sink = await startSink({
        config: stageConfig,
        kafka,
        clickhouse,
        schemas,
        logger: silentLogger,
        metrics: createMetrics('sink'),
      });
      await produceDemo(producer, new DemoShop(32, { lateShare: 0.05, retryShare: 0.03 }).next(400), truth);

      const queries = new DashboardQueries(clickhouse, db);
      const want = truth.totals();
      const view = (t: { orders: unknown; userEvents: unknown; activeUsers: number }) =>
        JSON.stringify(sorted({ orders: t.orders, userEvents: t.userEvents, activeUsers: t.activeUsers }));
      const got = await waitFor(
        async () => {
          const t = await queries.totals({ from: 0, to: Date.now() + 86_400_000 });
          return view(t) === view(want) ? t : undefined;
        },
        'the totals of every event, before and after the upgrade',
        90_000,
        250,
      ).catch(async () => queries.totals({ from: 0, to: Date.now() + 86_400_000 }));
      expect(view(got)).toBe(view(want));

      // Each input partition was recorded where it took over, and its old rows were copied.
      const { book, log } = await openDeclarations({ kafka, logger: silentLogger, rollupsTopic: topics.rollups });
      try {
        const upgraded = book
          .legacy()
          .map((l) => `${l.record.topic}/${l.record.partition}: ${l.migrated ? 'copied' : 'not copied'}`)
          .sort();
        expect(upgraded).toEqual(
          [topics.users, topics.orders].flatMap((t) => [0, 1, 2, 3, 4, 5].map((p) => `${t}/${p}: copied`)).sort(),
        );
      } finally {
        await log.close();
      }
      // What the docs tell an operator to look at.
      const status = await runTributary(['rollups', 'status'], env);
      expect(status.stdout).toContain(
        'upgrade from the per-kind rollups: old rows of 12 of 12 input partitions copied\n',
      );
      expect(status.stdout).toMatch(/^orders +1 +complete +100% +true +true$/m);
    } finally {
      await raw.disconnect();
      await producer.disconnect();
    }
  });
});
