import { Kafka as KafkaClient, logLevel, type Admin, type Kafka, type Producer } from 'kafkajs';
import { silentLogger } from '../logger';
import { javaPartitions, createTopics, readTopics } from '../../test/kafka';
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
    const keys = [
      'u-1',
      'u-42',
      'user-ü-ñ',
      '',
      'a'.repeat(100),
      ...Array.from({ length: 45 }, (_, i) => `u-${i * 7919}`),
    ];
    const expected = await javaPartitions(
      keys.filter((k) => k !== ''),
      6,
    );
    const nonEmpty = keys.filter((k) => k !== '');
    // The Java oracle and our predictor must agree before we trust either.
    expect(nonEmpty.map((k) => partitionForKey(k, 6))).toEqual(expected);
    expect(new Set(expected).size).toBeGreaterThan(3);

    const sent = await producer.send({
      topic,
      acks: -1,
      messages: nonEmpty.map((key, i) => ({ key, value: `v${i}` })),
    });
    expect(sent.every((r) => r.errorCode === 0)).toBe(true);

    const consumer = kafka.consumer({ groupId: unique('g') });
    const seen = new Map<string, { partition: number; value: string }>();
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages)
          seen.set(m.key!.toString('utf8'), { partition: batch.partition, value: m.value!.toString('utf8') });
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

  /**
   * Regression (fault suite: 5 events answered 202 and never in Kafka). kafkajs' idempotent
   * producer rolls a partition's sequence number back when a request fails, even one the broker
   * wrote; the next batch reuses those numbers and the broker acknowledges it as a duplicate
   * without writing it. With requests timing out after 2 ms, `idempotent: true` lost 2 to 14 of
   * 400 acknowledged values in each of five runs. Our producer must never acknowledge a value
   * that is not in the topic (copies are allowed: delivery is at-least-once).
   */
  it('never acknowledges a record it did not write, even when requests time out under it', async () => {
    const timeoutTopic = unique('timeouts');
    await createTopics(admin, [{ topic: timeoutTopic, numPartitions: 1, replicationFactor: 1 }]);
    const impatient = new KafkaClient({
      brokers: config.kafka.brokers,
      clientId: 'impatient',
      logLevel: logLevel.NOTHING,
      requestTimeout: 2,
      retry: { initialRetryTime: 20, retries: 8 },
    });
    const hurried = await connectProducer(impatient);
    let timeouts = 0;
    hurried.on(hurried.events.REQUEST_TIMEOUT, () => {
      timeouts += 1;
    });
    const acknowledged: string[] = [];
    const sends: Array<Promise<unknown>> = [];
    try {
      for (let i = 0; i < 400; i++) {
        const value = `v${i}`;
        sends.push(
          hurried.send({ topic: timeoutTopic, acks: -1, messages: [{ value, partition: 0 }] }).then(
            () => acknowledged.push(value),
            () => undefined,
          ),
        );
        if (i % 20 === 19) await new Promise((r) => setImmediate(r));
      }
      await Promise.allSettled(sends);
    } finally {
      await hurried.disconnect();
    }
    expect(timeouts).toBeGreaterThan(0);
    expect(acknowledged.length).toBeGreaterThan(0);

    let written: Set<string>;
    try {
      written = new Set((await readTopics(kafka, [timeoutTopic])).map((r) => r.value.toString('utf8')));
    } finally {
      await admin.deleteTopics({ topics: [timeoutTopic] }).catch(() => undefined);
    }
    expect(acknowledged.filter((v) => !written.has(v))).toEqual([]);
  });
});
