import { writeFileSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Admin, connectAdmin } from '../platform/kafka/client';
import { silentLogger } from '../platform/logger';
import { partitionForKey } from '../platform/kafka/partitioner';
import { confluentPython } from '../test/python';
import { startTestRegistry } from '../test/registry';
import { unique, waitFor } from '../test/helpers';
import { SCHEMAS, type UserEvent } from './catalog';
import { createTopics } from '../test/kafka';
import { SchemaClient } from './client';

/** Confluent's own client (Python confluent-kafka: librdkafka + its SchemaRegistryClient) against ours. */
describe('Confluent Python client against the embedded registry and the broker', () => {
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;
  let admin: Admin;
  const topic = unique('events.users');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'confluent-'));

  beforeAll(async () => {
    registry = await startTestRegistry();
    admin = await connectAdmin(registry.kafka);
    await createTopics(admin, [{ topic, numPartitions: 6, replicationFactor: 1 }]);
  });
  afterAll(async () => {
    await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin?.disconnect();
    await registry?.close();
  });

  it('a record Confluent serializes and produces is decoded by Tributary, on the partition Tributary predicts', async () => {
    const client = new SchemaClient(registry.url, silentLogger);
    const ours = await client.register({ ...SCHEMAS.user, subject: `${topic}-value` });
    const event: UserEvent = {
      eventId: 'e-1',
      type: 'signup',
      userId: 'u-ü-42',
      occurredAt: Date.UTC(2026, 10, 27, 20),
      receivedAt: null,
      sessionId: 's-1',
      country: 'DE',
      device: 'mobile',
      page: null,
      properties: { plan: 'free' },
      origin: null,
    };
    const schemaFile = path.join(dir, 'UserEvent.avsc');
    const recordFile = path.join(dir, 'record.json');
    writeFileSync(schemaFile, SCHEMAS.user.text);
    writeFileSync(recordFile, JSON.stringify(event));
    const out = JSON.parse(
      await confluentPython(['serialize', registry.url, process.env.KAFKA_BROKERS!, topic, schemaFile, recordFile]),
    );
    // Same schema, same subject: Confluent's serializer got our id.
    expect(out.id).toBe(ours);
    expect(out.partition).toBe(partitionForKey(event.userId, 6));
    const decoded = await client.decode<UserEvent>(Buffer.from(out.hex, 'hex'));
    expect(decoded).toEqual(event);
    // And the record is on the broker at the offset Confluent's producer reported.
    const offsets = await waitFor(async () => {
      const o = await admin.fetchTopicOffsets(topic);
      return o.find((p) => p.partition === out.partition && Number(p.high) > out.offset) ? o : undefined;
    }, 'the record on the broker');
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(1);
  });

  it('a record Tributary encodes is decoded by Confluent', async () => {
    const client = new SchemaClient(registry.url, silentLogger);
    const id = await client.register({ ...SCHEMAS.order, subject: unique('orders-value') });
    const order = {
      eventId: 'e-2',
      type: 'order_placed',
      userId: 'u-7',
      occurredAt: Date.UTC(2026, 10, 27, 21),
      receivedAt: Date.UTC(2026, 10, 27, 21, 0, 1),
      orderId: 'o-9',
      currency: 'EUR',
      amountCents: 3998,
      country: 'FR',
      items: [{ sku: 'B-1', category: 'books', quantity: 2, unitPriceCents: 1999 }],
      origin: 'key:0123456789abcdef',
    };
    const wire = client.encode(id, SCHEMAS.order.type, order);
    const decoded = JSON.parse(await confluentPython(['deserialize', registry.url, wire.toString('hex')]));
    // fastavro returns timestamp-millis as a datetime; compare instants.
    expect({
      ...decoded,
      occurredAt: Date.parse(decoded.occurredAt),
      receivedAt: Date.parse(decoded.receivedAt),
    }).toEqual(order);
  });
});
