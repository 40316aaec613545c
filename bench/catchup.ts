import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ACKS_ALL, connectAdmin } from '../platform/kafka/client';
import { ensureTopics, pipelineTopics } from '../platform/kafka/topics';
import { partitionForKey } from '../platform/kafka/partitioner';
import { freePort } from '../platform/local/ports';
import { commandLineOf, LOCK_FILE } from '../platform/local/run-lock';
import { sleep } from '../platform/retry';
import { SCHEMAS } from '../schemas/catalog';
import { SchemaClient } from '../schemas/client';
import { encodeWire } from '../schemas/wire';
import { benchNodeArgs, cpuSeconds, logger, peakMemoryMiB, spawnStage, stopStage, type BenchEnv } from './env';

export interface CatchupResult {
  events: number;
  users: number;
  preloadEventsPerSecond: number;
  /** Spawn → the dashboard's /readyz answers 200. */
  readySeconds: number;
  /** Ready → /api/totals counts every event and every user. */
  catchupSeconds: number;
  /** Ready → the processor's lag first 0 (everything processed and emitted); the rest is the sink and ClickHouse. */
  processedSeconds: number;
  /** Records the processor wrote to the rollups topic (rows travel in blocks of up to 500). */
  rollupRecords: number;
  eventsPerSecond: number;
  peakMiB: { start: number | null; processor: number | null };
  /** CPU seconds used from spawn until caught up (the processor's from its start; start's with its sink and registry processes). */
  cpuSeconds: { start: number | null; processor: number | null };
}

const PARTITIONS = 6;
const TYPES = [
  'order_placed',
  'order_placed',
  'order_placed',
  'order_placed',
  'order_placed',
  'order_placed',
  'order_placed',
  'order_paid',
  'order_paid',
  'order_shipped',
] as const;

/**
 * The whole `tributary start` catching up on a backlog it did not write. `events` order
 * events of `users` distinct users, in event-time order over 20 minutes (as a backlog built up
 * while nothing consumed), are produced straight into
 * the orders topic by a plain kafkajs producer (Avro values encoded here in the Confluent wire
 * format, keyed by userId, partitioned by murmur2: what any Confluent-compatible producer writes),
 * while nothing of Tributary runs; then `tributary start` is spawned and timed from spawn to
 * ready, and from ready until /api/totals counts every event and every user.
 */
export async function benchCatchup(
  env: BenchEnv,
  users: number,
  events = Number(process.env.BENCH_CATCHUP_EVENTS ?? 1_000_000),
): Promise<CatchupResult> {
  const id = `catchup-${users}-${Date.now()}`;
  const topics = { users: `${id}.users`, orders: `${id}.orders`, rollups: `${id}.rollups`, dlq: `${id}.dlq` };
  const { base, preloadSeconds } = await preloadOrders(env, topics, users, events, id);

  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-catchup-'));
  const dashboardPort = await freePort();
  const dashboard = `http://localhost:${dashboardPort}`;
  const started = performance.now();
  const child = spawnStage(
    env,
    ['start'],
    {
      DATA_DIR: dataDir,
      WRITE_KEYS: 'bench-catchup-key',
      INGEST_AUTH: 'on',
      TOPIC_USERS: topics.users,
      TOPIC_ORDERS: topics.orders,
      TOPIC_ROLLUPS: topics.rollups,
      TOPIC_DLQ: topics.dlq,
      PROCESS_GROUP_ID: `${id}-rollups`,
      SINK_GROUP_ID: `${id}-sink`,
      DASHBOARD_PORT: String(dashboardPort),
      INGEST_PORT: String(await freePort()),
      REGISTRY_PORT: String(await freePort()),
      LOG_FORMAT: 'json',
    },
    benchNodeArgs(),
  ); // start passes its node flags on to ingest and the processor
  let readySeconds = NaN;
  let catchupSeconds = NaN;
  let processorPeak: number | null = null;
  let startPeak: number | null = null;
  /** Peak memory of start and the stages it hosted in its own process before (sink with chDB and the dashboard, registry), summed. */
  let hostPeaks = new Map<number, number>();
  let processedSeconds = NaN;
  const cpu: CatchupResult['cpuSeconds'] = { start: null, processor: null };
  try {
    for (; ; await sleep(200)) {
      if ((await fetch(`${dashboard}/readyz`).catch(() => undefined))?.status === 200) break;
      if (performance.now() - started > 300_000) throw new Error('tributary start did not become ready');
    }
    const ready = performance.now();
    readySeconds = (ready - started) / 1000;
    const url = `${dashboard}/api/totals?from=${new Date(base - 120_000).toISOString()}&to=${new Date(base + 1260_000).toISOString()}`;
    let processorPid: number | undefined;
    let hostPids: number[] = [];
    for (; ; await sleep(250)) {
      if (Number.isNaN(processedSeconds)) {
        const p = (await (await fetch(`${dashboard}/api/pipeline`)).json().catch(() => ({}))) as {
          stages?: Array<{ stage: string; lag?: number }>;
        };
        const lag = p.stages?.find((x) => x.stage === 'process')?.lag;
        if (lag === 0) processedSeconds = (performance.now() - ready) / 1000;
      }
      processorPid ??= lockChildren(dataDir).find((pid) => / process( |$)/.test(commandLineOf(pid) ?? ''));
      if (processorPid) processorPeak = peakMemoryMiB(processorPid) ?? processorPeak;
      // What the start process hosted before its stages became processes: the sink (with chDB and the dashboard) and the registry.
      hostPids = [
        child.pid!,
        ...lockChildren(dataDir).filter((pid) => / (sink|registry)( |$)/.test(commandLineOf(pid) ?? '')),
      ];
      hostPeaks = new Map(hostPids.map((pid) => [pid, peakMemoryMiB(pid) ?? hostPeaks.get(pid) ?? 0]));
      const t = (await (await fetch(url)).json().catch(() => ({}))) as {
        orders?: Record<string, { count: number }>;
        activeUsers?: number;
      };
      const counted = Object.values(t.orders ?? {}).reduce((n, o) => n + o.count, 0);
      if (counted === events && t.activeUsers === Math.min(users, events)) {
        Object.assign(cpu, {
          start: hostPids.reduce((n, pid) => n + (cpuSeconds(pid) ?? 0), 0),
          processor: cpuSeconds(processorPid),
        });
        break;
      }
      if (performance.now() - ready > 900_000)
        throw new Error(
          `not caught up in 15 minutes: ${counted} of ${events} events, ${t.activeUsers} of ${users} users`,
        );
    }
    catchupSeconds = (performance.now() - ready) / 1000;
    // The lag comes from what the processor committed (dashboards/pipeline-status.ts), which it
    // does after its flush: the rows can be queryable a poll before a lag of 0 shows. Processed
    // no later than queryable, then.
    if (Number.isNaN(processedSeconds)) processedSeconds = catchupSeconds;
  } finally {
    await stopStage(child);
    startPeak = hostPeaks.size > 0 ? [...hostPeaks.values()].reduce((a, b) => a + b, 0) : null;
  }
  logger.info({ users, readySeconds, catchupSeconds, startPeak, processorPeak }, 'bench.catchup');
  const after = await connectAdmin(env.kafka);
  const ends = await after.fetchTopicOffsets(topics.rollups).finally(() => after.disconnect());
  return {
    events,
    users,
    preloadEventsPerSecond: Math.round(events / preloadSeconds),
    readySeconds,
    catchupSeconds,
    processedSeconds,
    rollupRecords: ends.reduce((n, o) => n + Number(o.high), 0),
    eventsPerSecond: Math.round(events / catchupSeconds),
    peakMiB: { start: startPeak, processor: processorPeak },
    cpuSeconds: cpu,
  };
}

/**
 * Creates the pipeline topics and produces `events` order events of `users` distinct users, in
 * event-time order over 20 minutes ending a minute ago, with a plain kafkajs producer.
 */
export async function preloadOrders(
  env: BenchEnv,
  topics: { users: string; orders: string; rollups: string; dlq: string },
  users: number,
  events: number,
  id: string,
): Promise<{ base: number; preloadSeconds: number }> {
  const admin = await connectAdmin(env.kafka);
  await ensureTopics(admin, pipelineTopics(PARTITIONS, topics), logger, 1);
  await admin.disconnect();
  const schemas = new SchemaClient(env.registry.url, logger);
  const schemaId = await schemas.register({ ...SCHEMAS.order, subject: `${topics.orders}-value` });
  const producer = env.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const base = Date.now() - 21 * 60_000;
  const t0 = performance.now();
  const BATCH = 5000;
  const inflight = new Set<Promise<unknown>>();
  for (let sent = 0; sent < events; sent += BATCH) {
    const messages = [];
    for (let i = sent; i < Math.min(events, sent + BATCH); i++) {
      const userId = `user-${i % users}`;
      const type = TYPES[i % TYPES.length]!;
      const quantity = 1 + (i % 3);
      const value = encodeWire(schemaId, SCHEMAS.order.type, {
        eventId: `${id}-${i}`,
        type,
        userId,
        occurredAt: base + Math.floor((i * 1_200_000) / events),
        receivedAt: null,
        orderId: `o-${i}`,
        currency: i % 5 === 0 ? 'USD' : 'EUR',
        amountCents: quantity * 1999,
        country: i % 2 ? 'DE' : 'FR',
        items:
          type === 'order_placed'
            ? [{ sku: `SKU-${i % 5000}`, category: `cat-${i % 40}`, quantity, unitPriceCents: 1999 }]
            : [],
        origin: null,
      });
      messages.push({ key: userId, value, partition: partitionForKey(userId, PARTITIONS) });
    }
    const p = producer.send({ topic: topics.orders, acks: ACKS_ALL, messages }).finally(() => inflight.delete(p));
    inflight.add(p);
    while (inflight.size >= 4) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  await producer.disconnect();
  const preloadSeconds = (performance.now() - t0) / 1000;

  return { base, preloadSeconds };
}

/** The pids of the children a `tributary start` recorded in its run lock. */
export function lockChildren(dataDir: string): number[] {
  try {
    return (
      JSON.parse(readFileSync(path.join(dataDir, LOCK_FILE), 'utf8')) as { children: Array<{ pid: number }> }
    ).children.map((c) => c.pid);
  } catch {
    return [];
  }
}
