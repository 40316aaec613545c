import type { Admin, Kafka, Producer } from 'kafkajs';
import { silentLogger } from '../logger';
import { javaPartitions , createTopics } from '../../test/kafka';
import { testConfig, unique, waitFor } from '../../test/helpers';
import { connectAdmin, connectProducer, createKafka } from './client';
import { partitionForKey } from './partitioner';

describe('Kafka adapter against the real broker', () => {
  const config = testConfig();
  let kafka: Kafka;
  let admin: Admin;
  let producer: Producer;
  const topic = unique('roundtrip');

  beforeAll(async () => {
    kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'test' });
    admin = await connectAdmin(kafka);
    await createTopics(admin, [{ topic, numPartitions: 6, replicationFactor: 1 }]);
    producer = await connectProducer(kafka);
  });

  afterAll(async () => {
    await producer?.disconnect();
    await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin?.disconnect();
  });

  it('puts each key on the partition Java murmur2 picks, and reads every record back', async () => {
    const keys = ['u-1', 'u-42', 'user-ü-ñ', '', 'a'.repeat(100), ...Array.from({ length: 45 }, (_, i) => `u-${i * 7919}`)];
    const expected = await javaPartitions(keys.filter((k) => k !== ''), 6);
    const nonEmpty = keys.filter((k) => k !== '');
    // The Java oracle and our predictor must agree before we trust either.
    expect(nonEmpty.map((k) => partitionForKey(k, 6))).toEqual(expected);
    expect(new Set(expected).size).toBeGreaterThan(3);

    const sent = await producer.send({ topic, acks: -1, messages: nonEmpty.map((key, i) => ({ key, value: `v${i}` })) });
    expect(sent.every((r) => r.errorCode === 0)).toBe(true);

    const consumer = kafka.consumer({ groupId: unique('g') });
    const seen = new Map<string, { partition: number; value: string }>();
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) seen.set(m.key!.toString('utf8'), { partition: batch.partition, value: m.value!.toString('utf8') });
      },
    });
    try {
      await waitFor(() => (seen.size === nonEmpty.length ? true : undefined), 'every record consumed');
    } finally {
      await consumer.disconnect();
    }
    nonEmpty.forEach((key, i) => {
      expect(seen.get(key)).toEqual({ partition: expected[i], value: `v${i}` });
    });
  });
});
