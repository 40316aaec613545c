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
import { checkEventType } from '../../schemas/events/format';
import { avroSchemaOf, avroTypeOf, decimalBytes, subjectOf, type CustomEvent } from '../../schemas/events/avro';
import { EventPlan, eventTypeKey } from '../../schemas/events/plan';

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
      source: 'rabbitmq:test',
      encoder,
      batcher: new ProduceBatcher(producer, { lingerMs: 2, limits, logger: silentLogger }),
      schemas,
      dlq: { topic: topics.dlq, schemaId: dlqSchemaId },
      limits: { ...config.ingest, event: config.eventLimits },
      metrics: bridgeMetrics(metrics),
      logger: silentLogger,
      signal: new AbortController().signal,
    });
    return { bridge, metrics, schemas };
  }
  const message = (id: string, page: string): QueueMessage => ({
    id,
    redelivered: false,
    body: Buffer.from(JSON.stringify({ type: 'page_view', userId: `u-${id}`, occurredAt: Date.now() - 1000, page })),
  });

  it("dead-letters an event over its topic's max.message.bytes (event_too_large), and one Kafka refuses for good (kafka_refused); the queue acknowledges both", async () => {
    const { bridge, metrics, schemas } = await core(
      await readBatchLimits(admin, [topics.user, topics.order, topics.dlq]),
    );
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
    expect(await believing.metrics.metrics()).toMatch(
      /^tributary_bridge_messages_rejected_total\{[^}]*reason="kafka_refused"[^}]*\} 1$/m,
    );
    expect(await metrics.metrics()).toMatch(
      /^tributary_bridge_messages_rejected_total\{[^}]*reason="event_too_large"[^}]*\} 1$/m,
    );

    const letters = await Promise.all(
      (await readTopics(kafka, [topics.dlq])).map((r) => schemas.decode<DeadLetter>(r.value)),
    );
    expect(letters.map((l) => l.reason).sort()).toEqual(['event_too_large', 'kafka_refused']);
    const events = await readTopics(kafka, [topics.user]);
    expect(events).toHaveLength(1);
  });

  it("takes a declared event type as ingest does: typed Avro on the declared types' topic, a bad one dead-lettered naming its property", async () => {
    const custom = unique('bridge.custom');
    await createTopics(admin, [{ topic: custom, numPartitions: 2, replicationFactor: 1 }]);
    const checked = checkEventType({
      name: 'invoice_paid',
      properties: {
        plan: { type: 'enum', values: ['free', 'pro'] },
        amount: { type: 'decimal', scale: 2, max: '1000' },
      },
    });
    if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
    const declaration = checked.declaration;
    const schemas = new SchemaClient(registry.url, silentLogger);
    const type = avroTypeOf(declaration);
    const subject = subjectOf(custom, 'invoice_paid');
    const schemaId = await schemas.register({
      name: 'invoice_paid',
      subject,
      text: JSON.stringify(avroSchemaOf(declaration)),
      type,
    });
    const plan = new EventPlan();
    plan.apply(eventTypeKey('invoice_paid', 1), {
      type: 'invoice_paid',
      version: 1,
      declaration,
      schemaId,
      subject,
      topic: custom,
      appliedAt: 0,
    });
    const encoder = await EventEncoder.create({
      schemas,
      admin,
      topics: { user: topics.user, order: topics.order },
      custom: { topic: custom, plan },
    });
    const limits = await readBatchLimits(admin, [topics.user, topics.order, topics.dlq, custom]);
    const bridge = new BridgeCore({
      source: 'sqs:test',
      encoder,
      batcher: new ProduceBatcher(producer, { lingerMs: 2, limits, logger: silentLogger }),
      schemas,
      dlq: {
        topic: topics.dlq,
        schemaId: await schemas.register({ ...SCHEMAS.deadLetter, subject: `${topics.dlq}-value` }),
      },
      limits: { ...config.ingest, event: config.eventLimits },
      plan,
      metrics: bridgeMetrics(createMetrics('bridge')),
      logger: silentLogger,
      signal: new AbortController().signal,
    });
    const invoice = (id: string, amount: string) => ({
      id,
      redelivered: false,
      body: Buffer.from(
        JSON.stringify({
          type: 'invoice_paid',
          userId: 'u-1',
          occurredAt: Date.now(),
          properties: { plan: 'pro', amount },
        }),
      ),
    });
    expect((await bridge.produce(bridge.prepare(invoice('good', '12.50')))).outcome.ok).toBe(true);
    const bad = bridge.prepare(invoice('bad', '1000.01'));
    expect(bad.outcome).toMatchObject({ ok: false, reason: 'invalid_event' });
    expect(await bridge.produce(bad)).toBeDefined();
    const records = await readTopics(kafka, [custom]);
    expect(records).toHaveLength(1);
    expect(records[0]!.value.readUInt32BE(1)).toBe(schemaId);
    const event = await schemas.decode<CustomEvent>(records[0]!.value);
    expect(event).toMatchObject({
      userId: 'u-1',
      origin: 'sqs:test',
      properties: { plan: 'pro', amount: decimalBytes(1250) },
    });
    const letters = await Promise.all(
      (await readTopics(kafka, [topics.dlq])).map((r) => schemas.decode<DeadLetter>(r.value)),
    );
    expect(letters.find((l) => l.reason === 'invalid_event')?.message).toMatch(/properties\.amount/);
    await admin.deleteTopics({ topics: [custom] }).catch(() => undefined);
  });
});
