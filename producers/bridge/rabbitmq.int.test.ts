import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { silentLogger } from '../../platform/logger';
import { freeRestartablePorts } from '../../platform/local/ports';
import { LocalRabbitMQ } from '../../platform/local/rabbitmq';
import { DemoShop } from '../demo/shop';
import { GroundTruth } from '../demo/ground-truth';
import { Random } from '../demo/random';
import { RabbitPublisher } from '../demo/queues';
import { runDemo } from '../demo/run';
import {
  bridgeHarness,
  byEventId,
  deadLetters,
  expectLikeIngest,
  publishWhileKillingBridge,
  type BridgeHarness,
} from '../../test/bridge';
import { readTopics } from '../../test/kafka';
import { startTestIngest } from '../../test/ingest';
import { testConfig, unique, waitFor } from '../../test/helpers';
import { contentId, nameBasedUuid } from './event-id';

describe('RabbitMQ bridge (Debian rabbitmq-server, real broker)', () => {
  let rabbit: LocalRabbitMQ;
  let h: BridgeHarness | undefined;

  beforeAll(async () => {
    rabbit = await LocalRabbitMQ.start({
      dataDir: mkdtempSync(path.join(os.tmpdir(), 'tributary-rabbitmq-')),
      logger: silentLogger,
      port: await freeRestartablePorts(),
    }); // restarted on the same port below
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  afterAll(async () => {
    await rabbit?.stop();
  });

  async function publishRaw(queue: string, bodies: Array<{ body: string; contentType?: string }>): Promise<void> {
    const connection = await amqp.connect(rabbit.url);
    const channel = await connection.createConfirmChannel();
    for (const b of bodies)
      channel.sendToQueue(queue, Buffer.from(b.body), {
        persistent: true,
        ...(b.contentType ? { contentType: b.contentType } : {}),
      });
    await channel.waitForConfirms();
    await connection.close();
  }

  async function queueDepth(queue: string): Promise<number> {
    const connection = await amqp.connect(rabbit.url);
    const channel = await connection.createChannel();
    const { messageCount } = await channel.checkQueue(queue);
    await connection.close();
    return messageCount;
  }

  it('events sent with sendToQueue reach Kafka as HTTP-ingested ones do and the rollups stay exact with the bridge SIGKILLed mid-stream', async () => {
    h = await bridgeHarness();
    const harness = h;
    const queue = unique('orders');
    const bridgeArgs = ['rabbitmq', '--url', rabbit.url, '--queue', queue, '--prefetch', '200'];
    let bridge = await harness.spawnBridge(bridgeArgs);
    harness.spawnProcessor();
    const publisher = new RabbitPublisher(rabbit.url, queue);
    const truth = new GroundTruth();
    const shop = new DemoShop(5, { lateShare: 0.05, retryShare: 0.03, retryWindow: 50 });
    const random = new Random(17);
    try {
      // A service that sets no eventId, publishing the same message twice (its own retry): one event.
      const noId = {
        type: 'signup',
        userId: 'u-no-id',
        occurredAt: '2026-11-27T10:00:00Z',
        country: 'DE',
        device: 'web',
      };
      const noIdBody = JSON.stringify(noId);
      await publishRaw(queue, [{ body: noIdBody }, { body: noIdBody }]);
      const noIdEventId = nameBasedUuid(`rabbitmq:${queue}\n${contentId(Buffer.from(noIdBody))}\n0`);
      truth.add({ ...noId, kind: 'user', eventId: noIdEventId, occurredAt: Date.parse(noId.occurredAt) });

      bridge = await publishWhileKillingBridge(harness, {
        publisher,
        shop,
        truth,
        random,
        rounds: 4,
        perRound: 600,
        bridgeArgs,
        bridge,
      });
      // A last batch for the last bridge (its metrics count it).
      const last = shop.next(200);
      await publisher.publish(last.map(({ kind: _k, ...e }) => e));
      for (const e of last) truth.add(e);
      // The same event through the HTTP endpoint, for comparison.
      const ingest = await startTestIngest(testConfig({ INGEST_AUTH: 'off' }), harness.kafka, harness.registryUrl, {
        user: harness.topics.users,
        order: harness.topics.orders,
      });
      const viaHttp = {
        type: 'login',
        eventId: nameBasedUuid('via-http'),
        userId: 'u-http',
        occurredAt: Date.now(),
        country: 'FR',
        device: 'mobile',
      };
      const res = await fetch(`${ingest.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(viaHttp),
      });
      expect(res.status).toBe(202);
      await ingest.close();
      truth.add({ ...viaHttp, kind: 'user' });

      await harness.expectConverges(truth);
      const events = byEventId(await expectLikeIngest(harness));
      expect(events.size).toBe(truth.size); // redelivered copies carry the same eventIds
      expect(events.get(noIdEventId)).toMatchObject({
        type: 'signup',
        userId: 'u-no-id',
        occurredAt: Date.parse(noId.occurredAt),
        country: 'DE',
        device: 'web',
      });
      expect(events.get(viaHttp.eventId)).toMatchObject({ userId: 'u-http', type: 'login' });
      await waitFor(async () => ((await queueDepth(queue)) === 0 ? true : undefined), 'the queue to be drained');
      const metrics = await (await fetch(`${bridge.opsUrl}/metrics`)).text();
      const received = new RegExp(
        `tributary_bridge_messages_received_total\\{source="rabbitmq:${queue}",stage="bridge"\\} (\\d+)`,
      ).exec(metrics);
      expect(Number(received?.[1])).toBeGreaterThanOrEqual(200);
    } finally {
      await publisher.close();
    }
  });

  it('RabbitMQ restarted under load: the bridge reconnects and continues, totals exact', async () => {
    h = await bridgeHarness();
    const harness = h;
    const queue = unique('events');
    const bridge = await harness.spawnBridge(['rabbitmq', '--url', rabbit.url, '--queue', queue]);
    harness.spawnProcessor();
    const publisher = new RabbitPublisher(rabbit.url, queue);
    const truth = new GroundTruth();
    const controller = new AbortController();
    const demo = runDemo({
      target: { via: 'rabbitmq', publisher },
      rate: 400,
      durationS: 0,
      seed: 9,
      truth,
      logger: silentLogger,
      signal: controller.signal,
      batchSize: 20,
    });
    try {
      await waitFor(() => (truth.size > 600 ? true : undefined), 'traffic before the restart');
      await rabbit.restart();
      const atRestart = truth.size;
      await waitFor(() => (truth.size > atRestart + 600 ? true : undefined), 'traffic after the restart', 60_000);
    } finally {
      controller.abort();
      await demo;
      await publisher.close();
    }
    await harness.expectConverges(truth);
    expect(bridge.child.exitCode).toBeNull(); // the same process reconnected
    const ready = await fetch(`${bridge.opsUrl}/readyz`);
    expect(ready.status).toBe(200);
  });

  it('binds the queue to a topic exchange with --exchange/--binding-key: only matching routing keys arrive', async () => {
    h = await bridgeHarness();
    const harness = h;
    const queue = unique('bound');
    const exchange = unique('shop');
    await harness.spawnBridge([
      'rabbitmq',
      '--url',
      rabbit.url,
      '--queue',
      queue,
      '--exchange',
      exchange,
      '--type',
      'topic',
      '--binding-key',
      'order.*',
    ]);
    const connection = await amqp.connect(rabbit.url);
    const channel = await connection.createConfirmChannel();
    const event = (userId: string) => Buffer.from(JSON.stringify({ type: 'login', userId, occurredAt: Date.now() }));
    channel.publish(exchange, 'order.placed', event('u-matching'), { persistent: true });
    channel.publish(exchange, 'user.login', event('u-not-matching'), { persistent: true });
    channel.publish(exchange, 'order.paid', event('u-matching-too'), { persistent: true });
    await channel.waitForConfirms();
    await connection.close();
    const records = await waitFor(async () => {
      const r = await readTopics(harness.kafka, [harness.topics.users]);
      return r.length >= 2 ? r : undefined;
    }, 'the two matching messages in Kafka');
    expect(records.map((r) => r.key).sort()).toEqual(['u-matching', 'u-matching-too']);
  });

  it('malformed messages go to events.dlq with their reason and the dead-letter exchange, and do not block the queue', async () => {
    h = await bridgeHarness();
    const harness = h;
    const queue = unique('mixed');
    await harness.spawnBridge(['rabbitmq', '--url', rabbit.url, '--queue', queue]);
    const bad = [
      { body: 'not json {' },
      { body: JSON.stringify({ type: 'order_placed', userId: 'u-1', occurredAt: 'yesterday' }) },
      { body: JSON.stringify({ type: 'login', userId: 'u-2', occurredAt: Date.now() }), contentType: 'text/plain' },
      // A message over the broker's 1 MB limit made a dead letter the broker
      // refused, retried forever and never acknowledged; now the letter keeps its first 64 KiB.
      { body: `{"pad":"${'p'.repeat(1_100_000)}"}` },
    ];
    const good = { type: 'login', eventId: nameBasedUuid('after-the-bad-ones'), userId: 'u-3', occurredAt: Date.now() };
    await publishRaw(queue, [...bad, { body: JSON.stringify(good), contentType: 'application/json' }]);

    const letters = await deadLetters(harness, 4);
    expect(letters.map((l) => [l.source, l.stage, l.reason, l.value?.toString()])).toEqual([
      [`rabbitmq:${queue}`, 'bridge', 'invalid_json', bad[0]!.body],
      [`rabbitmq:${queue}`, 'bridge', 'invalid_event', bad[1]!.body],
      [`rabbitmq:${queue}`, 'bridge', 'unsupported_media_type', bad[2]!.body],
      [`rabbitmq:${queue}`, 'bridge', 'body_too_large', bad[3]!.body.slice(0, 64 * 1024)],
    ]);
    expect(letters.map((l) => l.truncatedFrom)).toEqual([null, null, null, bad[3]!.body.length]);
    // The error list names every wrong field, as the HTTP endpoint's 400 does.
    expect(letters[1]!.message).toContain('"path":"occurredAt"');
    expect(letters[1]!.message).toContain('"path":"orderId"');
    const after = await waitFor(
      async () => (await readTopics(harness.kafka, [harness.topics.users])).find((r) => r.key === 'u-3'),
      'the valid message after the bad ones',
    );
    expect(after).toBeDefined();
    await waitFor(
      async () => ((await queueDepth(`${queue}.dead`)) === 4 ? true : undefined),
      'four messages on the dead-letter queue',
    );
    expect(await queueDepth(queue)).toBe(0);
  });
});
