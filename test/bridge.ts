import type { ChildProcess } from 'node:child_process';
import { type Admin, type Kafka, connectAdmin, createKafka } from '../platform/kafka/client';
import { silentLogger } from '../platform/logger';
import { partitionForKey } from '../platform/kafka/partitioner';
import { freePort } from '../platform/local/ports';
import { SchemaClient } from '../schemas/client';
import { schemaIdOf } from '../schemas/wire';
import { readDeadLetters } from '../consumers/dlq-tools';
import type { GroundTruth } from '../producers/demo/ground-truth';
import type { Random } from '../producers/demo/random';
import type { DemoShop } from '../producers/demo/shop';
import type { QueuePublisher } from '../producers/demo/queues';
import {
  createPipelineTopics,
  killAndWait,
  pipelineEnv,
  RollupFollower,
  spawnTributary,
  untilReady,
  type PipelineTopics,
} from './pipeline';
import { startTestRegistry } from './registry';
import { sorted, testConfig, unique, waitFor } from './helpers';
import { readTopics, type TopicRecord } from './kafka';

/** What a bridge test needs besides its queue server: the run's broker, a registry, fresh topics, a processor. */
export interface BridgeHarness {
  kafka: Kafka;
  admin: Admin;
  registryUrl: string;
  topics: PipelineTopics;
  env: Record<string, string>;
  follower: RollupFollower;
  /** `tributary bridge <args>` as a child process, with its ops port; resolves once /readyz says ready. */
  spawnBridge(args: string[]): Promise<{ child: ChildProcess; opsUrl: string }>;
  spawnProcessor(): ChildProcess;
  /** Waits until the followed rollups equal the truth, then asserts it (a clear diff on failure). */
  expectConverges(truth: GroundTruth, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function bridgeHarness(): Promise<BridgeHarness> {
  const config = testConfig();
  const registry = await startTestRegistry();
  const kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'bridge-test' });
  const admin = await connectAdmin(kafka);
  const topics = await createPipelineTopics(admin);
  const env = pipelineEnv(topics, registry.url, {
    PROCESS_GROUP_ID: unique('rollups'),
    SEGMENT_SIZE: '2000',
    FLUSH_INTERVAL_MS: '200',
  });
  const follower = new RollupFollower(kafka, topics.rollups, registry.url);
  await follower.start();
  const children = new Set<ChildProcess>();
  const track = (child: ChildProcess) => {
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  return {
    kafka,
    admin,
    registryUrl: registry.url,
    topics,
    env,
    follower,
    async spawnBridge(args) {
      const port = await freePort();
      const child = track(spawnTributary(['bridge', ...args, '--port', String(port)], env));
      const opsUrl = `http://localhost:${port}`;
      await untilReady(child, `${opsUrl}/readyz`, 'bridge ready', 60_000);
      return { child, opsUrl };
    },
    spawnProcessor: () => track(spawnTributary(['process'], env)),
    async expectConverges(truth, timeoutMs = 90_000) {
      const expected = sorted(truth.totals());
      await waitFor(
        () => (JSON.stringify(sorted(follower.totals())) === JSON.stringify(expected) ? true : undefined),
        'rollups to equal the ground truth',
        timeoutMs,
        250,
      ).catch(() => undefined);
      expect(sorted(follower.totals())).toEqual(expected);
    },
    async close() {
      for (const c of [...children]) await killAndWait(c);
      await follower.stop();
      await admin.disconnect();
      await registry.close();
    },
  };
}

/**
 * Checks records as the ingestion endpoint writes them: keyed by userId, on Java's murmur2
 * partition, in the wire format with the schema id registered under `<topic>-value`.
 * Returns the records with their decoded events, in offset order per partition.
 */
export async function expectLikeIngest(
  harness: BridgeHarness,
  partitions = 6,
): Promise<Array<TopicRecord & { event: Record<string, unknown> }>> {
  const schemas = new SchemaClient(harness.registryUrl, silentLogger);
  const ids = {
    [harness.topics.users]: (
      (await (await fetch(`${harness.registryUrl}/subjects/${harness.topics.users}-value/versions/latest`)).json()) as {
        id: number;
      }
    ).id,
    [harness.topics.orders]: (
      (await (
        await fetch(`${harness.registryUrl}/subjects/${harness.topics.orders}-value/versions/latest`)
      ).json()) as { id: number }
    ).id,
  };
  const records = await readTopics(harness.kafka, [harness.topics.users, harness.topics.orders]);
  expect(records.length).toBeGreaterThan(0);
  const out: Array<TopicRecord & { event: Record<string, unknown> }> = [];
  for (const r of records.sort((a, b) => a.offset - b.offset)) {
    const event = await schemas.decode<Record<string, unknown>>(r.value);
    expect({ key: r.key, partition: r.partition, schemaId: schemaIdOf(r.value) }).toEqual({
      key: event.userId,
      partition: partitionForKey(String(event.userId), partitions),
      schemaId: ids[r.topic],
    });
    out.push({ ...r, event });
  }
  return out;
}

/** Events by eventId (a redelivered copy collapses into its first). */
export function byEventId(records: Array<{ event: Record<string, unknown> }>): Map<string, Record<string, unknown>> {
  const m = new Map<string, Record<string, unknown>>();
  for (const { event } of records) if (!m.has(String(event.eventId))) m.set(String(event.eventId), event);
  return m;
}

/** Waits for at least `n` dead letters and returns them. */
export async function deadLetters(harness: BridgeHarness, n: number) {
  const schemas = new SchemaClient(harness.registryUrl, silentLogger);
  return waitFor(
    async () => {
      const letters = await readDeadLetters(harness.kafka, schemas, harness.topics.dlq);
      return letters.length >= n ? letters.map((l) => l.letter) : undefined;
    },
    `${n} dead letters`,
    30_000,
    250,
  );
}

/**
 * Publishes `rounds` batches of demo events to the queue, recording them in the truth, and after
 * each SIGKILLs the bridge at a random moment (messages delivered, some produced, some acked)
 * and starts a new one. Returns the last bridge.
 */
export async function publishWhileKillingBridge(
  harness: BridgeHarness,
  opts: {
    publisher: QueuePublisher;
    shop: DemoShop;
    truth: GroundTruth;
    random: Random;
    rounds: number;
    perRound: number;
    bridgeArgs: string[];
    bridge: { child: ChildProcess; opsUrl: string };
  },
): Promise<{ child: ChildProcess; opsUrl: string }> {
  let bridge = opts.bridge;
  for (let round = 0; round < opts.rounds; round++) {
    const events = opts.shop.next(opts.perRound);
    await opts.publisher.publish(events.map(({ kind: _k, ...e }) => e));
    for (const e of events) opts.truth.add(e);
    await new Promise((r) => setTimeout(r, opts.random.int(50, 800)));
    await killAndWait(bridge.child, 'SIGKILL');
    bridge = await harness.spawnBridge(opts.bridgeArgs);
  }
  return bridge;
}
