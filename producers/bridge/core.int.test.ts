import type { Admin, Kafka } from '../../platform/kafka/client';
import { CheckedProducer, connectAdmin, createKafka } from '../../platform/kafka/client';
import { BatchLimits, readBatchLimits } from '../../platform/kafka/batch-limit';
import { silentLogger } from '../../platform/logger';
import { createMetrics } from '../../platform/metrics';
import { SCHEMAS, type DeadLetter } from '../../schemas/catalog';
import { SchemaClient } from '../../schemas/client';
import { createTopics, readTopics } from '../../test/kafka';
import { testConfig, unique } from '../../test/helpers';
import { startTestRegistry } from '../../test/registry';
import { ProduceBatcher } from '../batcher';
import { EventEncoder } from '../encoder';
import { BridgeCore, type QueueMessage } from './core';
import { bridgeMetrics } from './metrics';

/**
 * A message a bridge can never write is dead-lettered and acknowledged, never retried forever:
 * an event over its topic's max.message.bytes is refused before anything is sent, and records
 * Kafka refuses for good (here: a limit the bridge believed larger) become a dead letter.
 */
describe('BridgeCore and messages Kafka can never take', () => {
  const config = testConfig();
  const topics = { user: unique('bridge.users'), order: unique('bridge.orders'), dlq: unique('bridge.dlq') };
  let kafka: Kafka;
  let admin: Admin;
  let producer: CheckedProducer;
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;

  beforeAll(async () => {
    kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'bridge-core-test' });
    admin = await connectAdmin(kafka);
    const small = [{ name: 'max.message.bytes', value: '2048' }];
    await createTopics(admin, [
      { topic: topics.user, numPartitions: 2, replicationFactor: 1, configEntries: small },
      { topic: topics.order, numPartitions: 2, replicationFactor: 1, configEntries: small },
      { topic: topics.dlq, numPartitions: 1, replicationFactor: 1 },
    ]);
    producer = await CheckedProducer.connect(kafka);
    registry = await startTestRegistry();
  });
  afterAll(async () => {
    await producer?.disconnect();
    await admin?.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await admin?.disconnect();
    await registry?.close();
  });

  async function core(limits: BatchLimits) {
    const schemas = new SchemaClient(registry.url, silentLogger);
    const encoder = await EventEncoder.create({ schemas, admin, topics: { user: topics.user, order: topics.order } });
    const dlqSchemaId = await schemas.register({ ...SCHEMAS.deadLetter, subject: `${topics.dlq}-value` });
    const metrics = createMetrics('bridge');
    const bridge = new BridgeCore({
      source: 'rabbitmq:test', encoder, batcher: new ProduceBatcher(producer, { lingerMs: 2, limits, logger: silentLogger }), schemas,
      dlq: { topic: topics.dlq, schemaId: dlqSchemaId }, limits: { ...config.ingest, event: config.eventLimits }, metrics: bridgeMetrics(metrics),
      logger: silentLogger, signal: new AbortController().signal,
    });
    return { bridge, metrics, schemas };
  }
  const message = (id: string, page: string): QueueMessage => ({
    id, redelivered: false, body: Buffer.from(JSON.stringify({ type: 'page_view', userId: `u-${id}`, occurredAt: Date.now() - 1000, page })),
  });

  it('dead-letters an event over its topic\'s max.message.bytes (event_too_large), and one Kafka refuses for good (kafka_refused); the queue acknowledges both', async () => {
    const { bridge, metrics, schemas } = await core(await readBatchLimits(admin, [topics.user, topics.order, topics.dlq]));
    const big = bridge.prepare(message('big', '/'.padEnd(2040, 'p')));
    expect(big.outcome).toMatchObject({ ok: false, reason: 'event_too_large' });
    expect((await bridge.produce(big)).outcome.ok).toBe(false);
    const fine = bridge.prepare(message('fine', '/'));
    expect((await bridge.produce(fine)).outcome.ok).toBe(true);

    // A bridge that believes the topics take 1 MiB: the broker refuses the batch, the message becomes a dead letter.
    const believing = await core(new BatchLimits());
    const refused = believing.bridge.prepare(message('refused', '/'.padEnd(2040, 'p')));
    expect(refused.outcome.ok).toBe(true);
    const produced = await believing.bridge.produce(refused);
    expect(produced.outcome).toMatchObject({ ok: false, reason: 'kafka_refused' });
    expect(await believing.metrics.metrics()).toMatch(/^tributary_bridge_messages_rejected_total\{[^}]*reason="kafka_refused"[^}]*\} 1$/m);
    expect(await metrics.metrics()).toMatch(/^tributary_bridge_messages_rejected_total\{[^}]*reason="event_too_large"[^}]*\} 1$/m);

    const letters = await Promise.all((await readTopics(kafka, [topics.dlq])).map((r) => schemas.decode<DeadLetter>(r.value)));
    expect(letters.map((l) => l.reason).sort()).toEqual(['event_too_large', 'kafka_refused']);
    const events = await readTopics(kafka, [topics.user]);
    expect(events).toHaveLength(1);
  });
});
