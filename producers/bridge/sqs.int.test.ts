import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { LocalKafka } from '../../platform/local/kafka';
import { connectAdmin, createKafka } from '../../platform/kafka/client';
import { createMetrics } from '../../platform/metrics';
import { startEmbeddedRegistry } from '../../schemas/registry/embedded';
import { SchemaClient } from '../../schemas/client';
import { startOnFreePorts } from '../../platform/local/kafka';
import { createEventTopics } from '../../test/ingest';
import { startBridge } from './service';
import { silentLogger } from '../../platform/logger';
import { freePort } from '../../platform/local/ports';
import { LocalSqs } from '../../platform/local/elasticmq';
import { DemoShop } from '../demo/shop';
import { GroundTruth } from '../demo/ground-truth';
import { Random } from '../demo/random';
import { SqsPublisher } from '../demo/queues';
import {
  bridgeHarness,
  byEventId,
  deadLetters,
  expectLikeIngest,
  publishWhileKillingBridge,
  type BridgeHarness,
} from '../../test/bridge';
import { readTopics } from '../../test/kafka';
import { testConfig, unique, waitFor } from '../../test/helpers';
import { nameBasedUuid } from './event-id';
import { sqsClient } from './sqs';

describe('SQS bridge (ElasticMQ from Maven Central, real broker)', () => {
  let sqs: LocalSqs;
  let client: SQSClient;
  let h: BridgeHarness | undefined;

  beforeAll(async () => {
    sqs = await LocalSqs.start({
      dataDir: mkdtempSync(path.join(os.tmpdir(), 'tributary-sqs-')),
      mavenRepo: process.env.TRIBUTARY_TEST_MAVEN_REPO ?? path.resolve(__dirname, '..', '..', '.tributary', 'maven'),
      logger: silentLogger,
      port: await freePort(),
    });
    client = sqsClient({ queueUrl: `${sqs.endpoint}/000000000000/any` });
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  afterAll(async () => {
    client?.destroy();
    await sqs?.stop();
  });

  async function createQueue(name: string, fifo = false): Promise<string> {
    const out = await client.send(
      new CreateQueueCommand({
        QueueName: fifo ? `${name}.fifo` : name,
        Attributes: fifo ? { FifoQueue: 'true' } : {},
      }),
    );
    return out.QueueUrl!;
  }

  async function queueCounts(queueUrl: string): Promise<{ visible: number; inFlight: number }> {
    const out = await client.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return {
      visible: Number(out.Attributes!.ApproximateNumberOfMessages),
      inFlight: Number(out.Attributes!.ApproximateNumberOfMessagesNotVisible),
    };
  }

  async function messagesLeft(queueUrl: string): Promise<number> {
    const { visible, inFlight } = await queueCounts(queueUrl);
    return visible + inFlight;
  }

  it('events sent with SendMessage reach Kafka as HTTP-ingested ones do and the rollups stay exact with the bridge SIGKILLed mid-stream', async () => {
    h = await bridgeHarness();
    const harness = h;
    const queueUrl = await createQueue(unique('orders'));
    // A short visibility timeout: what a killed bridge held reappears within the test.
    const bridgeArgs = ['sqs', '--queue-url', queueUrl, '--visibility-timeout', '3', '--wait-seconds', '1'];
    let bridge = await harness.spawnBridge(bridgeArgs);
    harness.spawnProcessor();
    const publisher = new SqsPublisher(sqsClient({ queueUrl }), queueUrl);
    const truth = new GroundTruth();
    const shop = new DemoShop(21, { lateShare: 0.05, retryShare: 0.03, retryWindow: 50 });
    const random = new Random(5);
    try {
      // A Lambda-style producer that sets no eventId: the bridge names the event by the SQS MessageId.
      const noId = {
        type: 'order_placed',
        userId: 'u-no-id',
        occurredAt: Date.now(),
        orderId: 'o-1',
        currency: 'EUR',
        amountCents: 1250,
        country: 'DE',
        items: [{ sku: 'B-1', category: 'books', quantity: 1, unitPriceCents: 1250 }],
      };
      const sent = await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(noId) }));
      const noIdEventId = nameBasedUuid(`sqs:${queueUrl}\n${sent.MessageId!}\n0`);
      truth.add({ ...noId, kind: 'order', eventId: noIdEventId });

      bridge = await publishWhileKillingBridge(harness, {
        publisher,
        shop,
        truth,
        random,
        rounds: 3,
        perRound: 500,
        bridgeArgs,
        bridge,
      });
      await harness.expectConverges(truth);
      const events = byEventId(await expectLikeIngest(harness));
      expect(events.size).toBe(truth.size);
      expect(events.get(noIdEventId)).toMatchObject({
        type: 'order_placed',
        userId: 'u-no-id',
        orderId: 'o-1',
        amountCents: 1250,
        currency: 'EUR',
      });
      await waitFor(
        async () => ((await messagesLeft(queueUrl)) === 0 ? true : undefined),
        'every message deleted',
        30_000,
        250,
      );
      const metrics = await (await fetch(`${bridge.opsUrl}/metrics`)).text();
      expect(metrics).toContain(`tributary_bridge_queue_depth{source="sqs:${queueUrl}",stage="bridge"}`);
    } finally {
      await publisher.close();
    }
  });

  it("a FIFO queue keeps each message group's order into Kafka", async () => {
    h = await bridgeHarness();
    const harness = h;
    const queueUrl = await createQueue(unique('orders'), true);
    await harness.spawnBridge(['sqs', '--queue-url', queueUrl, '--concurrency', '4', '--wait-seconds', '1']);
    const publisher = new SqsPublisher(sqsClient({ queueUrl }), queueUrl);
    const shop = new DemoShop(4, { lateShare: 0, retryShare: 0 });
    const published = shop.next(600);
    try {
      // Groups are users (MessageGroupId = userId); sent in several calls, as a service would.
      for (let i = 0; i < published.length; i += 50)
        await publisher.publish(published.slice(i, i + 50).map(({ kind: _k, ...e }) => e));
    } finally {
      await publisher.close();
    }
    await waitFor(
      async () => {
        const r = await readTopics(harness.kafka, [harness.topics.users, harness.topics.orders]);
        return r.length >= published.length ? true : undefined;
      },
      'every FIFO message in Kafka',
      60_000,
      250,
    );
    // A user's events of one topic are on one partition: compare each (topic, user) sequence in offset order.
    const sequences = (list: Array<{ topic: string; userId: string; eventId: string }>) => {
      const m = new Map<string, string[]>();
      for (const x of list) m.set(`${x.topic}/${x.userId}`, [...(m.get(`${x.topic}/${x.userId}`) ?? []), x.eventId]);
      return m;
    };
    const inKafka = (await expectLikeIngest(harness)).map((r) => ({
      topic: r.topic,
      userId: String(r.event.userId),
      eventId: String(r.event.eventId),
    }));
    const sent = published.map((e) => ({
      topic: e.kind === 'user' ? harness.topics.users : harness.topics.orders,
      userId: e.userId,
      eventId: e.eventId,
    }));
    expect(inKafka).toHaveLength(sent.length);
    expect(sequences(inKafka)).toEqual(sequences(sent));
  });

  it('malformed messages go to events.dlq with their reason, are deleted, and do not block the queue', async () => {
    h = await bridgeHarness();
    const harness = h;
    const queueUrl = await createQueue(unique('mixed'));
    await harness.spawnBridge(['sqs', '--queue-url', queueUrl, '--wait-seconds', '1', '--concurrency', '1']);
    const bad = [
      '{"events": "not a list"}',
      JSON.stringify({
        type: 'order_paid',
        userId: 'u-1',
        occurredAt: Date.now(),
        orderId: 'o-1',
        currency: 'EURO',
        amountCents: -5,
      }),
    ];
    for (const body of bad) await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
    await client.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: JSON.stringify({ type: 'login', userId: 'u-3', occurredAt: Date.now() }),
      }),
    );

    const letters = await deadLetters(harness, 2);
    expect(letters.map((l) => [l.source, l.stage, l.reason, l.value?.toString()]).sort()).toEqual(
      [
        [`sqs:${queueUrl}`, 'bridge', 'invalid_body', bad[0]],
        [`sqs:${queueUrl}`, 'bridge', 'invalid_event', bad[1]],
      ].sort(),
    );
    expect(letters.find((l) => l.reason === 'invalid_event')!.message).toContain('"path":"currency"');
    await waitFor(
      async () => (await readTopics(harness.kafka, [harness.topics.users])).find((r) => r.key === 'u-3'),
      'the valid message after the bad ones',
    );
    await waitFor(
      async () => ((await messagesLeft(queueUrl)) === 0 ? true : undefined),
      'the bad messages deleted',
      30_000,
      250,
    );
  });

  it('Kafka down: the batch in hand stays invisible (visibility extended), is not redelivered, and reaches Kafka once it is back', async () => {
    // A broker of its own, stopped under the running bridge.
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-sqs-outage-'));
    const mavenRepo =
      process.env.TRIBUTARY_TEST_MAVEN_REPO ?? path.resolve(__dirname, '..', '..', '.tributary', 'maven');
    let broker = await startOnFreePorts({ dataDir, mavenRepo, logger: silentLogger });
    const port = Number(broker.brokers[0]!.split(':')[1]);
    const bootstrap = createKafka({
      config: testConfig({ KAFKA_BROKERS: broker.brokers.join(',') }).kafka,
      logger: silentLogger,
      clientId: 'sqs-outage',
    });
    const admin = await connectAdmin(bootstrap);
    const topics = await createEventTopics(admin, 2);
    await admin.disconnect();
    const config = testConfig({
      KAFKA_BROKERS: broker.brokers.join(','),
      TOPIC_USERS: topics.user,
      TOPIC_ORDERS: topics.order,
    });
    const kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'sqs-outage' });
    const registry = await startEmbeddedRegistry({
      kafka,
      logger: silentLogger,
      metrics: createMetrics('registry'),
      port: 0,
      host: '127.0.0.1',
    });
    const queueUrl = await createQueue(unique('slow'));
    const metrics = createMetrics('bridge');
    const bridge = await startBridge({
      config,
      kafka,
      schemas: new SchemaClient(registry.url, silentLogger),
      logger: silentLogger,
      metrics,
      port: 0,
      spec: { kind: 'sqs', options: { queueUrl, concurrency: 1, waitSeconds: 1, visibilityTimeout: 2 } },
    });
    const events = Array.from({ length: 20 }, (_, i) => ({
      type: 'login',
      eventId: nameBasedUuid(`outage-${i}`),
      userId: `u-${i % 4}`,
      occurredAt: Date.now(),
    }));
    try {
      await broker.stop();
      for (let i = 0; i < events.length; i += 10) {
        await client.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: events.slice(i, i + 10).map((e, j) => ({ Id: String(j), MessageBody: JSON.stringify(e) })),
          }),
        );
      }
      // One receive loop: it takes a batch and is stuck on it while Kafka is down.
      const held = await waitFor(
        async () => {
          const { inFlight } = await queueCounts(queueUrl);
          return inFlight > 0 ? inFlight : undefined;
        },
        'the bridge holding a batch',
        30_000,
        100,
      );
      // The outage lasts until the held batch's visibility was extended six times, once a second:
      // three visibility timeouts. Without the extension the messages would be visible after 2 s.
      const extensions = async () =>
        (await metrics.getSingleMetric('tributary_bridge_visibility_extensions_total')!.get()).values.reduce(
          (n, v) => n + v.value,
          0,
        );
      await waitFor(
        async () => ((await extensions()) >= 6 * held ? true : undefined),
        'six visibility extensions of the held batch',
        30_000,
        200,
      );
      expect(await queueCounts(queueUrl)).toEqual({ visible: events.length - held, inFlight: held });
      const redeliveries = (await metrics.getSingleMetric('tributary_bridge_redeliveries_total')!.get()).values.reduce(
        (n, v) => n + v.value,
        0,
      );
      expect(redeliveries).toBe(0);

      broker = await LocalKafka.start({ dataDir, mavenRepo, logger: silentLogger, port });
      await waitFor(
        async () => ((await messagesLeft(queueUrl)) === 0 ? true : undefined),
        'every message produced and deleted',
        90_000,
        250,
      );
      const records = await readTopics(kafka, [topics.user]);
      const schemas = new SchemaClient(registry.url, silentLogger);
      const ids = await Promise.all(
        records.map(async (r) => String((await schemas.decode<{ eventId: string }>(r.value)).eventId)),
      );
      expect(ids.sort()).toEqual(events.map((e) => e.eventId).sort());
    } finally {
      await bridge.close().catch(() => undefined);
      await registry.close().catch(() => undefined);
      await broker.stop();
    }
  });
});
