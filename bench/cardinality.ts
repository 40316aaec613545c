import { BUILTIN_ROLLUPS } from '../schemas/declarations/builtin';
import { sourceTopics } from '../schemas/declarations/format';
import { connectAdmin } from '../platform/kafka/client';
import { ensureTopics, pipelineTopics } from '../platform/kafka/topics';
import { freePort } from '../platform/local/ports';
import { sleep } from '../platform/retry';
import { metricValue } from '../platform/metrics';
import { TributaryProducer, type OrderEventInput } from '../producers/tributary-producer';
import type { BenchEnv } from './env';
import { benchNodeArgs, cpuSeconds, logger, peakMemoryMiB, spawnStage, stopStage } from './env';
import type { ChildProcess } from 'node:child_process';
import type { Admin } from '../platform/kafka/client';

export interface CardinalityResult {
  orders: number;
  distinctSkus: number;
  distinctUsers: number;
  segmentSize: number;
  maxRows: number;
  maxPendingRows: number;
  /** Rows the processor may hold by its documented bound (docs/processing.md#bounded-memory). */
  rowBound: number;
  /** Highest `tributary_process_open_rows` sampled. */
  peakOpenRows: number;
  peakMemoryMiB: number | null;
  seconds: number;
  rollupRecords: number;
}

const ITEMS = 10;
const PARTITIONS = 6;

/**
 * High cardinality: BENCH_CARDINALITY_ORDERS orders (100,000) of 10 lines, every line a SKU never
 * seen before (1,000,000 distinct SKUs) and every order a new user, pre-loaded straight into
 * Kafka; then one `tributary process` over them with the default row bounds. Reports the peak
 * rows held and the peak resident memory, against the documented bound.
 */
export async function benchCardinality(
  env: BenchEnv,
  orders = Number(process.env.BENCH_CARDINALITY_ORDERS ?? 100_000),
): Promise<CardinalityResult> {
  const topics = {
    ...env.config.topics,
    users: 'card.users',
    orders: 'card.orders',
    rollups: 'card.rollups',
    dlq: 'card.dlq',
  };
  const admin = await connectAdmin(env.kafka);
  await ensureTopics(admin, pipelineTopics(PARTITIONS, topics), logger, 1);
  await preloadCardinalityOrders(env, topics, orders);

  const segmentSize = 5000;
  const maxRows = env.config.processor.maxRowsPerPartition;
  const maxPendingRows = env.config.processor.maxPendingRows;
  const ends = await admin.fetchTopicOffsets(topics.orders);
  const targets = ends.map((e) => ({
    partition: e.partition,
    offset: Math.floor(Number(e.high) / segmentSize) * segmentSize,
  }));
  const groupId = `card-rollups-${Date.now()}`;
  const port = await freePort();
  const child = spawnStage(
    env,
    ['process'],
    {
      TOPIC_USERS: topics.users,
      TOPIC_ORDERS: topics.orders,
      TOPIC_ROLLUPS: topics.rollups,
      TOPIC_DLQ: topics.dlq,
      PROCESS_GROUP_ID: groupId,
      SEGMENT_SIZE: String(segmentSize),
      PROCESS_PORT: String(port),
    },
    benchNodeArgs(),
  );
  const { peakOpenRows, peak, seconds } = await followProcessor(admin, child, port, groupId, topics.orders, targets);
  const rollupRecords = (await admin.fetchTopicOffsets(topics.rollups)).reduce((n, p) => n + Number(p.high), 0);
  await admin.disconnect();
  // Both event topics' partitions are owned, each with an open chunk of at most maxRows + one event's rows.
  // Each rollup's open chunk over each partition it reads (active_users reads both topics), plus one event's rows.
  const chunks = PARTITIONS * BUILTIN_ROLLUPS.reduce((n, d) => n + sourceTopics(d.source).length, 0);
  const rowBound = chunks * (maxRows + ITEMS) + maxPendingRows + 64 * (2 + ITEMS);
  return {
    orders,
    distinctSkus: orders * ITEMS,
    distinctUsers: orders,
    segmentSize,
    maxRows,
    maxPendingRows,
    rowBound,
    peakOpenRows,
    peakMemoryMiB: peak,
    seconds,
    rollupRecords,
  };
}

/** The cardinality shape, straight into Kafka: `orders` orders of 10 lines, every line a new SKU, every order a new user. */
export async function preloadCardinalityOrders(
  env: BenchEnv,
  topics: { users: string; orders: string },
  orders: number,
): Promise<void> {
  const producer = await TributaryProducer.connect({
    kafka: env.config.kafka,
    registryUrl: env.registry.url,
    lingerMs: 5,
    topics: { user: topics.users, order: topics.orders },
  });
  const now = Date.now();
  const inflight = new Set<Promise<unknown>>();
  for (let sent = 0; sent < orders; sent += 1000) {
    const batch: OrderEventInput[] = Array.from({ length: Math.min(1000, orders - sent) }, (_, k) => {
      const i = sent + k;
      return {
        type: 'order_placed',
        eventId: `card-${i}`,
        userId: `card-user-${i}`,
        orderId: `card-order-${i}`,
        occurredAt: now - (i % 600) * 1000,
        currency: 'EUR',
        amountCents: ITEMS * 100,
        country: 'DE',
        items: Array.from({ length: ITEMS }, (_, j) => ({
          sku: `SKU-${String(i * ITEMS + j).padStart(8, '0')}`,
          category: `cat-${j}`,
          quantity: 1,
          unitPriceCents: 100,
        })),
      };
    });
    const p = producer.sendOrderEvents(batch).finally(() => inflight.delete(p));
    inflight.add(p);
    while (inflight.size >= 8) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  await producer.disconnect();
}

/**
 * Samples a spawned `tributary process` (peak resident memory, CPU seconds, peak rows held) until
 * its group committed `targets` on `topic`, then stops it.
 */
export async function followProcessor(
  admin: Admin,
  child: ChildProcess,
  port: number,
  groupId: string,
  topic: string,
  targets: Array<{ partition: number; offset: number }>,
): Promise<{ peak: number | null; cpu: number | null; peakOpenRows: number; seconds: number }> {
  const started = Date.now();
  let peakOpenRows = 0;
  let peak: number | null = null;
  let cpu: number | null = null;
  try {
    for (;;) {
      peak = peakMemoryMiB(child.pid) ?? peak;
      cpu = cpuSeconds(child.pid) ?? cpu;
      const text = await fetch(`http://localhost:${port}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
      peakOpenRows = Math.max(peakOpenRows, metricValue(text, 'tributary_process_open_rows') ?? 0);
      const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
      if (targets.every((t) => Number(committed.find((c) => c.partition === t.partition)?.offset ?? -1) >= t.offset))
        break;
      if (child.exitCode !== null) throw new Error(`processor exited with ${child.exitCode}`);
      await sleep(100);
    }
  } finally {
    peak = (await stopStage(child)) ?? peak;
  }
  return { peak, cpu, peakOpenRows, seconds: (Date.now() - started) / 1000 };
}
