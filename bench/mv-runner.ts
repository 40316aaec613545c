import { writeFileSync } from 'node:fs';
import { loadConfig } from '../cli/config';
import { createLogger } from '../platform/logger';
import { connectAdmin, createKafka } from '../platform/kafka/client';
import { createClickHouse } from '../platform/clickhouse/client';
import { SchemaClient } from '../schemas/client';
import type { OrderEvent } from '../schemas/catalog';

/**
 * The other design for declared rollups, measured by `npm run bench -- mvdesign` (bench/mv-design.ts
 * spawns this file): a consumer that decodes the orders topic, drops duplicate eventIds per
 * partition (this and the previous segment, as the processor does) and inserts each partition's
 * raw events into ClickHouse once per deterministic segment, with the segment as the
 * insert_deduplication_token; ClickHouse materialized views compute the three order rollups
 * (orders, products, active users per minute) into AggregatingMergeTree tables. Offsets are
 * committed after the insert. Writes its figures as JSON to MV_RESULT.
 */
const SEGMENT = Number(process.env.SEGMENT_SIZE ?? 5000);
const topic = process.env.MV_TOPIC!;
const expected = {
  events: Number(process.env.MV_EVENTS),
  users: Number(process.env.MV_USERS),
  quantity: Number(process.env.MV_QUANTITY),
};
const logger = createLogger('warn', 'mv-design');
const config = loadConfig(process.env);
const db = 'mv';
// Replays within this many blocks of a table are recognised by their token (ClickHouse's default is 0 for non-replicated tables).
const DEDUP = `SETTINGS non_replicated_deduplication_window = 10000`;

/** How the views read a source table's columns: our raw table's, or the Avro fields of a Kafka engine table. */
interface Columns {
  minute: string;
  hour: string;
  country: string;
  currency: string;
  type: string;
  amount: string;
  user: string;
  units: string;
  sku: string;
  category: string;
  quantity: string;
  price: string;
}
const RAW: Columns = {
  minute: 'toStartOfMinute(fromUnixTimestamp64Milli(occurred_ms))',
  hour: 'toStartOfHour(fromUnixTimestamp64Milli(occurred_ms))',
  country: 'country',
  currency: 'currency',
  type: 'type',
  amount: 'amount_cents',
  user: 'user_id',
  units: 'toInt64(arraySum(i -> i.quantity, items))',
  sku: 'item.sku',
  category: 'item.category',
  quantity: 'item.quantity',
  price: 'item.unit_price_cents',
};
const AVRO: Columns = {
  minute: 'toStartOfMinute(occurredAt)',
  hour: 'toStartOfHour(occurredAt)',
  country: "ifNull(country, '')",
  currency: "ifNull(currency, '')",
  type: 'toString(type)',
  amount: 'ifNull(amountCents, 0)',
  user: 'userId',
  units: 'toInt64(arraySum(i -> i.quantity, items))',
  sku: 'item.sku',
  category: "ifNull(item.category, '')",
  quantity: 'toInt64(item.quantity)',
  price: 'item.unitPriceCents',
};

/** The three order rollups' tables (with `settings`) and their views over `source`. */
function rollupDdl(source: string, c: Columns, settings: string): string[] {
  return [
    `CREATE TABLE ${db}.orders (window DateTime, country LowCardinality(String), currency LowCardinality(String), type LowCardinality(String),
       count AggregateFunction(count), amount_cents AggregateFunction(sum, Int64), quantity AggregateFunction(sum, Int64))
     ENGINE = AggregatingMergeTree ORDER BY (window, country, currency, type) ${settings}`,
    `CREATE TABLE ${db}.products (window DateTime, category String, currency LowCardinality(String), sku String,
       count AggregateFunction(count), amount_cents AggregateFunction(sum, Int64), quantity AggregateFunction(sum, Int64))
     ENGINE = AggregatingMergeTree ORDER BY (window, category, currency, sku) ${settings}`,
    `CREATE TABLE ${db}.active_users (window DateTime, users AggregateFunction(uniqExact, String))
     ENGINE = AggregatingMergeTree ORDER BY window ${settings}`,
    `CREATE MATERIALIZED VIEW ${db}.orders_mv TO ${db}.orders AS SELECT ${c.minute} AS window, ${c.country} AS country, ${c.currency} AS currency,
       ${c.type} AS type, countState() AS count, sumState(toInt64(${c.amount})) AS amount_cents, sumState(${c.units}) AS quantity
     FROM ${source} GROUP BY window, country, currency, type`,
    `CREATE MATERIALIZED VIEW ${db}.products_mv TO ${db}.products AS SELECT ${c.minute} AS window, ${c.category} AS category, ${c.currency} AS currency,
       ${c.sku} AS sku, countState() AS count, sumState(toInt64(${c.quantity} * ${c.price})) AS amount_cents, sumState(toInt64(${c.quantity})) AS quantity
     FROM ${source} ARRAY JOIN items AS item WHERE ${c.type} = 'order_placed' GROUP BY window, category, currency, sku`,
    `CREATE MATERIALIZED VIEW ${db}.active_users_mv TO ${db}.active_users AS SELECT ${c.minute} AS window, uniqExactState(${c.user}) AS users
     FROM ${source} GROUP BY window`,
  ];
}

const RAW_TABLE = `CREATE TABLE ${db}.raw_orders (partition UInt16, offset UInt64, event_id String, type LowCardinality(String), user_id String,
     occurred_ms Int64, country LowCardinality(String), currency LowCardinality(String), amount_cents Int64,
     items Array(Tuple(sku String, category String, quantity Int64, unit_price_cents Int64)))
   ENGINE = MergeTree ORDER BY (partition, offset) ${DEDUP}`;

interface RawRow {
  partition: number;
  offset: number;
  event_id: string;
  type: string;
  user_id: string;
  occurred_ms: number;
  country: string;
  currency: string;
  amount_cents: number;
  items: Array<{ sku: string; category: string; quantity: number; unit_price_cents: number }>;
}
interface Open {
  segment: number;
  rows: RawRow[];
  seen: Set<string>;
  previous: Set<string>;
  next: number;
}

async function main(): Promise<void> {
  const ch = createClickHouse(config.clickhouse, config.dataDir);
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  if (process.env.MV_MODE === 'kafka-engine') return kafkaEngine(ch);
  for (const query of [RAW_TABLE, ...rollupDdl(`${db}.raw_orders`, RAW, DEDUP)]) await ch.command({ query });
  const kafka = createKafka({ config: config.kafka, logger, clientId: 'mv-design' });
  const admin = await connectAdmin(kafka);
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
  const schemas = new SchemaClient(config.registry.url, logger);
  const open = new Map<number, Open>();
  const committed = new Map<number, number>();
  let firstBlock: { rows: RawRow[]; token: string } | undefined;
  let inserts = 0;
  const insert = async (partition: number, o: Open, end: number) => {
    const token = `${topic}/${partition}/${o.segment * SEGMENT}-${end}`;
    await ch.insert({
      table: `${db}.raw_orders`,
      values: o.rows,
      format: 'JSONEachRow',
      clickhouse_settings: { insert_deduplication_token: token },
    });
    inserts += 1;
    if (!firstBlock) firstBlock = { rows: o.rows, token };
  };
  const consumer = kafka.consumer({ groupId: `mv-design-${Date.now()}`, maxBytesPerPartition: 512 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const started = performance.now();
  let done: () => void;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  await consumer.run({
    autoCommit: false,
    partitionsConsumedConcurrently: 3,
    eachBatch: async ({ batch }) => {
      const p = batch.partition;
      let o = open.get(p);
      for (const m of batch.messages) {
        const offset = Number(m.offset);
        const segment = Math.floor(offset / SEGMENT);
        if (!o || o.segment !== segment) {
          if (o && o.rows.length > 0) {
            await insert(p, o, segment * SEGMENT);
            await consumer.commitOffsets([{ topic, partition: p, offset: String(segment * SEGMENT) }]);
          }
          o = { segment, rows: [], seen: new Set(), previous: o?.seen ?? new Set(), next: offset };
          open.set(p, o);
        }
        o.next = offset + 1;
        const e = await schemas.decode<OrderEvent>(m.value);
        if (o.seen.has(e.eventId) || o.previous.has(e.eventId)) continue;
        o.seen.add(e.eventId);
        o.rows.push({
          partition: p,
          offset,
          event_id: e.eventId,
          type: e.type,
          user_id: e.userId,
          occurred_ms: e.occurredAt,
          country: e.country ?? '',
          currency: e.currency ?? '',
          amount_cents: e.amountCents ?? 0,
          items: e.items.map((i) => ({
            sku: i.sku,
            category: i.category ?? '',
            quantity: i.quantity,
            unit_price_cents: i.unitPriceCents,
          })),
        });
      }
      // At the end of the backlog the open segment goes too (a live deployment would wait for it to fill, or lose exactness).
      if (o && o.next >= (ends.get(p) ?? 0) && (committed.get(p) ?? 0) < o.next) {
        if (o.rows.length > 0) await insert(p, o, o.next);
        await consumer.commitOffsets([{ topic, partition: p, offset: String(o.next) }]);
        o.rows = [];
        committed.set(p, o.next);
      }
      if ([...ends].every(([q, end]) => end === 0 || (committed.get(q) ?? 0) >= end)) done();
    },
  });
  await finished;
  const insertedSeconds = (performance.now() - started) / 1000;
  await consumer.disconnect();
  await admin.disconnect();

  const totals = () => totalsOf(ch);
  const before = await totals();
  // A replayed segment (same rows, same token) must change nothing.
  await ch.insert({
    table: `${db}.raw_orders`,
    values: firstBlock!.rows,
    format: 'JSONEachRow',
    clickhouse_settings: { insert_deduplication_token: firstBlock!.token },
  });
  const after = await totals();
  // A rollup declared later, backfilled from the raw events ClickHouse keeps: revenue by country and currency per hour.
  const t0 = performance.now();
  await ch.command({
    query: `CREATE TABLE ${db}.revenue_by_country (window DateTime, country LowCardinality(String), currency LowCardinality(String),
    amount_cents AggregateFunction(sum, Int64)) ENGINE = AggregatingMergeTree ORDER BY (window, country, currency) ${DEDUP}`,
  });
  await ch.command({
    query: `INSERT INTO ${db}.revenue_by_country SELECT toStartOfHour(fromUnixTimestamp64Milli(occurred_ms)) AS window, country, currency,
    sumState(amount_cents) FROM ${db}.raw_orders WHERE type = 'order_placed' GROUP BY window, country, currency`,
  });
  const backfillSeconds = (performance.now() - t0) / 1000;
  const [size] = await (
    await ch.query({
      query: `SELECT sum(bytes_on_disk) AS bytes FROM system.parts WHERE database = '${db}' AND table = 'raw_orders' AND active`,
      format: 'JSONEachRow',
    })
  ).json<{ bytes: string }>();
  await ch.close();
  writeFileSync(
    process.env.MV_RESULT!,
    JSON.stringify({
      insertedSeconds,
      inserts,
      totals: before,
      replayChanged: JSON.stringify(before) !== JSON.stringify(after),
      expected,
      backfillSeconds,
      rawMiB: Math.round(Number(size!.bytes) / 2 ** 20),
    }),
  );
}

type ClickHouse = ReturnType<typeof createClickHouse>;

async function totalsOf(ch: ClickHouse): Promise<{ events: number; quantity: number; minuteUsers: number }> {
  const [row] = await (
    await ch.query({
      query: `SELECT (SELECT countMerge(count) FROM ${db}.orders) AS events,
    (SELECT sumMerge(quantity) FROM ${db}.products) AS quantity, (SELECT uniqExactMerge(users) FROM ${db}.active_users) AS minuteUsers`,
      format: 'JSONEachRow',
    })
  ).json<{ events: string; quantity: string; minuteUsers: string }>();
  return { events: Number(row!.events), quantity: Number(row!.quantity), minuteUsers: Number(row!.minuteUsers) };
}

/**
 * What a ClickHouse user builds without Tributary: a Kafka engine table reading the topic as
 * AvroConfluent against the registry (MV_CONSUMERS consumers), the same three views on it, at
 * least once (no eventId dedup; a restart re-reads what was not committed). Timed from the views'
 * creation (consumption starts) until the views count every event.
 */
async function kafkaEngine(ch: ClickHouse): Promise<void> {
  const consumers = Number(process.env.MV_CONSUMERS ?? 1);
  await ch.command({
    query: `CREATE TABLE ${db}.queue (eventId String, type String, userId String, occurredAt DateTime64(3, 'UTC'),
      receivedAt Nullable(DateTime64(3, 'UTC')), orderId String, currency Nullable(String), amountCents Nullable(Int64), country Nullable(String),
      items Array(Tuple(sku String, category Nullable(String), quantity Int32, unitPriceCents Int64)), origin Nullable(String))
    ENGINE = Kafka SETTINGS kafka_broker_list = '${config.kafka.brokers.join(',')}', kafka_topic_list = '${topic}',
      kafka_group_name = 'mv-kafka-engine-${Date.now()}', kafka_format = 'AvroConfluent', kafka_num_consumers = ${consumers},
      format_avro_schema_registry_url = '${config.registry.url}'`,
  });
  const started = performance.now();
  // The targets first, then the views: creating a view over a Kafka table starts its consumption.
  const ddl = rollupDdl(`${db}.queue`, AVRO, '');
  for (const query of ddl) await ch.command({ query });
  let totals = await totalsOf(ch);
  // Each view inserts on its own: done when the last of them has every event.
  while (totals.events < expected.events || totals.quantity < expected.quantity) {
    if (performance.now() - started > 600_000)
      throw new Error(`the Kafka engine counted ${totals.events} of ${expected.events} events in 10 minutes`);
    await new Promise((r) => setTimeout(r, 100));
    totals = await totalsOf(ch);
  }
  const insertedSeconds = (performance.now() - started) / 1000;
  await ch.close();
  writeFileSync(
    process.env.MV_RESULT!,
    JSON.stringify({ insertedSeconds, totals, replayChanged: false, backfillSeconds: null, rawMiB: 0 }),
  );
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`mv-runner: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
