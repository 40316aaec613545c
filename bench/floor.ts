import { ACKS_ALL } from '../platform/kafka/client';
import { SCHEMAS } from '../schemas/catalog';
import { NOT_CACHED, SchemaClient } from '../schemas/client';
import { rowKey } from '../schemas/rollup';
import { preloadOrders } from './catchup';
import { logger, type BenchEnv } from './env';

export interface FloorResult {
  events: number;
  /** A kafkajs consumer that only counts the records: the floor under any kafkajs-based processor. */
  bareConsumeEventsPerSecond: number;
  /** The same, also Avro-decoding every value (the processor's decoder). */
  decodeConsumeEventsPerSecond: number;
  rows: number;
  /** kafkajs producing rollup-sized rows (acks=all, 2,000 rows a send, as the processor does), one row per record. */
  onePerRecord: { rowsPerSecond: number; cpuMicrosPerRow: number };
  /** The same rows, 50 to a record. */
  fiftyPerRecord: { rowsPerSecond: number; cpuMicrosPerRow: number };
}

/**
 * What kafkajs itself costs on this machine, in this process (one core): the part of the
 * whole-stack catch-up no change to Tributary's own code can remove while it uses kafkajs.
 */
export async function benchFloor(
  env: BenchEnv,
  users = 50_000,
  events = Number(process.env.BENCH_CATCHUP_EVENTS ?? 1_000_000),
): Promise<FloorResult> {
  const id = `floor-${Date.now()}`;
  const topics = { users: `${id}.users`, orders: `${id}.orders`, rollups: `${id}.rollups`, dlq: `${id}.dlq` };
  await preloadOrders(env, topics, users, events, id);
  const schemas = new SchemaClient(env.registry.url, logger);

  const consume = async (decode: boolean): Promise<number> => {
    const consumer = env.kafka.consumer({ groupId: `${id}-${decode}`, maxBytesPerPartition: 512 * 1024 });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.orders, fromBeginning: true });
    let seen = 0;
    let started = 0;
    const done = new Promise<void>((resolve) => {
      void consumer.run({
        partitionsConsumedConcurrently: 64,
        autoCommit: false,
        eachBatch: async ({ batch }) => {
          started ||= performance.now();
          for (const m of batch.messages) {
            if (decode && schemas.decodeRecordNow(m.value, SCHEMAS.order.type) === NOT_CACHED)
              await schemas.decodeRecord(m.value, SCHEMAS.order.type);
            seen++;
          }
          if (seen >= events) resolve();
        },
      });
    });
    await done;
    const seconds = (performance.now() - started) / 1000;
    await consumer.disconnect();
    return Math.round(events / seconds);
  };
  const bareConsumeEventsPerSecond = await consume(false);
  const decodeConsumeEventsPerSecond = await consume(true);

  // As many rows as the processor emits for this backlog (~0.55 per event), ~140 B of Avro each
  // under a key like the processor's; once one row per record (what the processor sends today),
  // once 50 rows per record (what a packed format would send).
  const rows = Math.round(events * 0.55);
  const producer = env.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const produce = async (rowsPerRecord: number): Promise<{ rowsPerSecond: number; cpuMicrosPerRow: number }> => {
    const value = Buffer.alloc(140 * rowsPerRecord, 7);
    const records = Math.ceil(rows / rowsPerRecord);
    const perSend = Math.max(1, Math.floor(2000 / rowsPerRecord));
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    for (let sent = 0; sent < records; sent += perSend) {
      const messages = [];
      for (let i = sent; i < Math.min(records, sent + perSend); i++) {
        const key = rowKey({
          kind: 'products',
          topic: topics.orders,
          partition: i % 6,
          segment: 0,
          chunk: 0,
          windowStart: 1_764_273_600_000,
          dims: { category: `cat-${i % 40}`, currency: 'EUR', sku: `SKU-${i % 5000}` },
        });
        messages.push({ key, value, partition: i % 6 });
      }
      await producer.send({ topic: topics.rollups, acks: ACKS_ALL, messages });
    }
    const cpu = process.cpuUsage(cpu0);
    return {
      rowsPerSecond: Math.round(rows / ((performance.now() - t0) / 1000)),
      cpuMicrosPerRow: Number(((cpu.user + cpu.system) / rows).toFixed(2)),
    };
  };
  try {
    return {
      events,
      bareConsumeEventsPerSecond,
      decodeConsumeEventsPerSecond,
      rows,
      onePerRecord: await produce(1),
      fiftyPerRecord: await produce(50),
    };
  } finally {
    await producer.disconnect();
  }
}
