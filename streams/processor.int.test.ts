import type { ChildProcess } from 'node:child_process';
import { type Admin, type Kafka, connectAdmin, connectProducer, createKafka } from '../platform/kafka/client';
import { createLogger, silentLogger } from '../platform/logger';
import { TributaryProducer } from '../producers/tributary-producer';
import { DemoShop, type DemoEvent } from '../producers/demo/shop';
import { GroundTruth } from '../producers/demo/ground-truth';
import { SchemaClient } from '../schemas/client';
import { SCHEMAS, type DeadLetter, type OrderEvent } from '../schemas/catalog';
import { startTestRegistry } from '../test/registry';
import {
  createPipelineTopics,
  explainMismatch,
  killAndWait,
  pipelineEnv,
  RollupFollower,
  spawnTributary,
  type PipelineTopics,
  produceDemo,
  untilReady,
} from '../test/pipeline';
import { testConfig, unique, waitFor, sorted } from '../test/helpers';
import { createTopics } from '../test/kafka';
import { Random } from '../producers/demo/random';
import { sleep } from '../platform/retry';
import { freeRestartablePorts } from '../platform/local/ports';

/** Offsets per segment in these tests: small, so segments close and restarts recompute often. */
const SEGMENT = 40;

describe('stream processor (real broker, processes killed)', () => {
  const config = testConfig();
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;
  let kafka: Kafka;
  let admin: Admin;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    registry = await startTestRegistry();
    kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'processor-test' });
    admin = await connectAdmin(kafka);
  });
  afterAll(async () => {
    for (const c of children) await killAndWait(c);
    await admin?.disconnect();
    await registry?.close();
  });

  async function setup(extra: Record<string, string> = {}) {
    const topics = await createPipelineTopics(admin);
    const env = pipelineEnv(topics, registry.url, {
      PROCESS_GROUP_ID: unique('rollups'),
      SEGMENT_SIZE: String(SEGMENT),
      FLUSH_INTERVAL_MS: '150',
      ...extra,
    });
    // Kafka's warnings (a timed-out, retried produce) reach the test output: they explain a total that is off.
    const producer = await TributaryProducer.connect({
      kafka: config.kafka,
      registryUrl: registry.url,
      topics: { user: topics.users, order: topics.orders },
      logger: createLogger('warn', 'test-producer', 'json'),
    });
    const follower = new RollupFollower(kafka, topics.rollups, registry.url);
    await follower.start();
    const spawnProcessor = () => {
      const child = spawnTributary(['process'], env);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    };
    return { topics, env, producer, follower, spawnProcessor };
  }

  async function expectConverges(follower: RollupFollower, truth: GroundTruth, topics?: PipelineTopics): Promise<void> {
    const expected = truth.totals();
    const converged = await waitFor(
      () => (JSON.stringify(sorted(follower.totals())) === JSON.stringify(sorted(expected)) ? true : undefined),
      'rollups to equal the ground truth',
      90_000,
      250,
    ).catch(() => false);
    if (!converged && topics) {
      // Say where: which partitions and segments hold too much or too little, and in which rows.
      console.error(
        `${await explainMismatch(kafka, registry.url, topics.users, follower, 'users', SEGMENT)}\n${await explainMismatch(kafka, registry.url, topics.orders, follower, 'orders', SEGMENT)}`,
      );
    }
    expect(sorted(follower.totals())).toEqual(sorted(expected));
  }

  it('stays exact with duplicates and late events while the processor is SIGKILLed six times', async () => {
    const { topics, producer, follower, spawnProcessor } = await setup();
    const truth = new GroundTruth();
    const shop = new DemoShop(7, { lateShare: 0.1, retryShare: 0.05, retryWindow: 20 });
    const random = new Random(99);
    let processor = spawnProcessor();
    try {
      for (let round = 0; round < 6; round++) {
        await produceDemo(producer, shop.next(400), truth);
        // Let it run for a random while: somewhere mid-segment, mid-flush or idle.
        await new Promise((r) => setTimeout(r, random.int(50, 1500)));
        await killAndWait(processor, 'SIGKILL');
        await produceDemo(producer, shop.next(100), truth);
        processor = spawnProcessor();
      }
      expect(truth.size).toBeGreaterThan(2500);
      await expectConverges(follower, truth, topics);
    } finally {
      await killAndWait(processor);
      await follower.stop();
      await producer.disconnect();
    }
  });

  it('a second processor joining mid-stream and leaving changes no total', async () => {
    const { topics, producer, follower, spawnProcessor } = await setup();
    const truth = new GroundTruth();
    const shop = new DemoShop(11, { lateShare: 0.05, retryShare: 0.03, retryWindow: 20 });
    const first = spawnProcessor();
    let second: ChildProcess | undefined;
    try {
      await produceDemo(producer, shop.next(800), truth);
      second = spawnProcessor();
      for (let i = 0; i < 4; i++) {
        await produceDemo(producer, shop.next(300), truth);
        await sleep(300);
      }
      await killAndWait(second, 'SIGTERM');
      await produceDemo(producer, shop.next(600), truth);
      await expectConverges(follower, truth, topics);
    } finally {
      if (second) await killAndWait(second);
      await killAndWait(first);
      await follower.stop();
      await producer.disconnect();
    }
  });

  it('sends poison records to the DLQ with their coordinates and keeps the partition flowing', async () => {
    const { topics, producer, follower, spawnProcessor } = await setup();
    const truth = new GroundTruth();
    const shop = new DemoShop(3, { lateShare: 0, retryShare: 0 });
    const processor = spawnProcessor();
    const raw = await connectProducer(kafka);
    try {
      await produceDemo(producer, shop.next(100), truth);
      const poison = [
        { value: Buffer.from('definitely not avro'), reason: 'undecodable' },
        { value: Buffer.from([0, 0x7f, 0, 0, 1, 2, 3]), reason: 'unknown_schema' },
        { value: Buffer.from([0, 0, 0, 0, 1]), reason: 'undecodable' },
      ];
      const sent = await raw.send({
        topic: topics.users,
        acks: -1,
        messages: poison.map((p) => ({ key: 'poison-user', value: p.value })),
      });
      const partition = sent[0]!.partition;
      const base = Number(sent[0]!.baseOffset);
      // Valid events after the poison, on the same partition (same key).
      const after = shop.next(200).map((e) => ({ ...e, userId: 'poison-user' }));
      await produceDemo(producer, after, truth);
      await expectConverges(follower, truth, topics);
      const letters = await readDeadLetters(topics, 3);
      expect(letters.map((l) => [l.source, l.partition, l.offset, l.reason, l.stage])).toEqual(
        poison.map((p, i) => [topics.users, partition, base + i, p.reason, 'process']),
      );
      expect(letters[0]!.value).toEqual(poison[0]!.value);
      expect(letters.every((l) => l.message.length > 0)).toBe(true);
    } finally {
      await raw.disconnect();
      await killAndWait(processor);
      await follower.stop();
      await producer.disconnect();
    }
  });

  it('records straight to Kafka beyond the limits, a 1 MB non-wire record and a conflicting id are dead-lettered; every other partition keeps counting', async () => {
    const { topics, producer, follower, spawnProcessor } = await setup();
    const truth = new GroundTruth();
    const shop = new DemoShop(3, { lateShare: 0, retryShare: 0 });
    const processor = spawnProcessor();
    const raw = await connectProducer(kafka);
    const schemas = new SchemaClient(registry.url, silentLogger);
    try {
      const orderSchema = await schemas.register({ ...SCHEMAS.order, subject: `${topics.orders}-value` });
      const order = (eventId: string, unitPriceCents: number, sku = 'S-1'): OrderEvent => ({
        eventId,
        type: 'order_placed',
        userId: 'hostile',
        occurredAt: Date.now(),
        receivedAt: null,
        orderId: 'o-1',
        currency: 'EUR',
        amountCents: 100,
        country: 'DE',
        items: [{ sku, category: null, quantity: 2, unitPriceCents }],
        origin: null,
      });
      // Avro-valid, so only the processor's own check stands between them and an overflowing sum.
      const overflowing = schemas.encode(orderSchema, SCHEMAS.order.type, order('huge', 9007199254740990));
      const first = order('same-id', 100);
      truth.add({ kind: 'order', ...first });
      // A dead-letter topic that takes less than the event topics (as a managed cluster may):
      // a dead letter carrying the whole 1 MB record could never be written to it.
      await admin.alterConfigs({
        validateOnly: false,
        resources: [
          { type: 2 /* TOPIC */, name: topics.dlq, configEntries: [{ name: 'max.message.bytes', value: '200000' }] },
        ],
      });
      // One send each: together they would pass the broker's 1 MB batch limit.
      const offsets: number[] = [];
      for (const value of [
        overflowing,
        Buffer.alloc(1_000_000, 'x'),
        schemas.encode(orderSchema, SCHEMAS.order.type, first),
        schemas.encode(orderSchema, SCHEMAS.order.type, order('same-id', 100, 'S-OTHER')),
      ]) {
        offsets.push(
          Number(
            (await raw.send({ topic: topics.orders, acks: -1, messages: [{ key: 'hostile', value }] }))[0]!.baseOffset,
          ),
        );
      }
      // Canary: ordinary events on every partition, before and after.
      await produceDemo(producer, shop.next(300), truth);
      await expectConverges(follower, truth, topics);
      const letters = await readDeadLetters(topics, 3);
      expect(letters.map((l) => [l.offset, l.reason])).toEqual([
        [offsets[0], 'invalid_event'],
        [offsets[1], 'undecodable'],
        [offsets[3], 'conflicting_duplicate'],
      ]);
      expect(letters[0]!.message).toMatch(/items\.0\.unitPriceCents: at most/);
      // The 1 MB record's letter fits under the broker's limit: its first 64 KiB and its size.
      expect([letters[1]!.value!.length, letters[1]!.truncatedFrom]).toEqual([64 * 1024, 1_000_000]);
    } finally {
      await raw.disconnect();
      await killAndWait(processor);
      await follower.stop();
      await producer.disconnect();
    }
  });

  it('a processor that cannot emit says so on /readyz and in a metric, stops on SIGTERM mid-flush, and loses nothing', async () => {
    const topics = await createPipelineTopics(admin);
    const env = pipelineEnv(topics, registry.url, {
      PROCESS_GROUP_ID: unique('rollups'),
      SEGMENT_SIZE: String(SEGMENT),
      FLUSH_INTERVAL_MS: '150',
    });
    const producer = await TributaryProducer.connect({
      kafka: config.kafka,
      registryUrl: registry.url,
      topics: { user: topics.users, order: topics.orders },
    });
    const port = await freeRestartablePorts();
    const spawn = () => {
      const c = spawnTributary(['process'], { ...env, PROCESS_PORT: String(port) });
      children.add(c);
      return c;
    };
    const truth = new GroundTruth();
    let processor = spawn();
    const follower = new RollupFollower(kafka, topics.rollups, registry.url);
    try {
      await untilReady(processor, `http://localhost:${port}/readyz`, 'the processor to start', 60_000);
      // The rollups topic gone (auto-creation is off): every send fails, retriably, and never succeeds.
      await admin.deleteTopics({ topics: [topics.rollups] });
      await waitFor(
        async () => (!(await admin.listTopics()).includes(topics.rollups) ? true : undefined),
        'the rollups topic to be deleted',
      );
      await produceDemo(producer, new DemoShop(11, { lateShare: 0, retryShare: 0 }).next(200), truth);
      const readyz = await waitFor(
        async () => {
          const res = await fetch(`http://localhost:${port}/readyz`).catch(() => undefined);
          return res?.status === 503
            ? ((await res.json()) as { checks: Array<{ name: string; error?: string }> })
            : undefined;
        },
        'the processor to report it cannot make progress',
        90_000,
        500,
      );
      expect(readyz.checks.find((c) => c.name === 'progress')?.error).toMatch(
        /no rollup row could be emitted for \d+ s/,
      );
      expect(await (await fetch(`http://localhost:${port}/metrics`)).text()).toMatch(
        /^tributary_process_stalled\{[^}]*\} 1$/m,
      );
      const exited = new Promise<number | null>((resolve) => processor.once('exit', (code) => resolve(code)));
      processor.kill('SIGTERM');
      // Bounded even mid-flush: the last flush gets 10 s, plus the send in progress.
      await waitFor(
        async () => (processor.exitCode !== null || processor.signalCode !== null ? true : undefined),
        'the processor to stop on SIGTERM',
        45_000,
        250,
      );
      expect(await exited).toBe(0);
      // The topic back: a new processor recomputes what was never emitted (nothing was committed).
      await createTopics(admin, [
        {
          topic: topics.rollups,
          numPartitions: 6,
          replicationFactor: 1,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ]);
      await follower.start();
      processor = spawn();
      await expectConverges(follower, truth);
    } finally {
      await killAndWait(processor);
      await follower.stop();
      await producer.disconnect();
    }
  });

  it("regression: a flush larger than the broker's message.max.bytes is sent in chunks, not retried forever", async () => {
    const topics = await createPipelineTopics(admin, 1);
    const env = pipelineEnv(topics, registry.url, {
      PROCESS_GROUP_ID: unique('rollups'),
      SEGMENT_SIZE: '50000',
      FLUSH_INTERVAL_MS: '4000',
    });
    const producer = await TributaryProducer.connect({
      kafka: config.kafka,
      registryUrl: registry.url,
      topics: { user: topics.users, order: topics.orders },
    });
    const follower = new RollupFollower(kafka, topics.rollups, registry.url);
    await follower.start();
    const truth = new GroundTruth();
    const now = Date.now();
    // 9,000 distinct users in one partition: ~9,000 rollup rows (> 1 MB) in a single flush.
    const events: DemoEvent[] = Array.from({ length: 9000 }, (_, i) => ({
      kind: 'user',
      type: 'login',
      eventId: `big-${i}`,
      userId: `user-${i}-${'x'.repeat(40)}`,
      occurredAt: now,
      country: 'DE',
      device: 'mobile',
      properties: {},
    }));
    const processor = spawnTributary(['process'], env);
    try {
      for (let i = 0; i < events.length; i += 3000) await produceDemo(producer, events.slice(i, i + 3000), truth);
      await expectConverges(follower, truth);
    } finally {
      await killAndWait(processor);
      await follower.stop();
      await producer.disconnect();
    }
  });

  async function readDeadLetters(topics: PipelineTopics, n: number): Promise<DeadLetter[]> {
    const schemas = new SchemaClient(registry.url, silentLogger);
    const consumer = kafka.consumer({ groupId: unique('dlq-reader') });
    const letters = new Map<string, DeadLetter>();
    await consumer.connect();
    await consumer.subscribe({ topic: topics.dlq, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const l = await schemas.decode<DeadLetter>(message.value);
        letters.set(`${l.partition}/${l.offset}`, l);
      },
    });
    try {
      await waitFor(() => (letters.size >= n ? true : undefined), `${n} dead letters`);
    } finally {
      await consumer.disconnect();
    }
    return [...letters.values()].sort((a, b) => (a.offset ?? 0) - (b.offset ?? 0));
  }
});

/** Deterministic key order, so two totals compare by value. */
