import type { Admin, Kafka } from '../platform/kafka/client';
import { CheckedProducer, connectAdmin, createKafka } from '../platform/kafka/client';
import { readBatchLimits } from '../platform/kafka/batch-limit';
import { silentLogger } from '../platform/logger';
import { createTopics, readTopics } from '../test/kafka';
import { testConfig, unique } from '../test/helpers';
import { ProduceBatcher } from './batcher';

/**
 * The batcher against the real broker, on a topic that takes record batches of at most 16 KiB:
 * what would be one batch over the limit goes as several, and a record Kafka refuses fails only
 * the submission that holds it.
 */
describe('ProduceBatcher against a topic with a small max.message.bytes', () => {
  const config = testConfig();
  const topic = unique('small-batches');
  let kafka: Kafka;
  let admin: Admin;
  let producer: CheckedProducer;

  beforeAll(async () => {
    kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'test' });
    admin = await connectAdmin(kafka);
    await createTopics(admin, [
      { topic, numPartitions: 3, replicationFactor: 1, configEntries: [{ name: 'max.message.bytes', value: '16384' }] },
    ]);
    producer = await CheckedProducer.connect(kafka);
  });

  afterAll(async () => {
    await producer?.disconnect();
    await admin?.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin?.disconnect();
  });

  it("reads the topic's limit, and the broker's for a topic it cannot describe", async () => {
    const limits = await readBatchLimits(admin, [topic, unique('absent')]);
    expect(limits.maxBatchBytes(topic)).toBe(16384);
    expect(limits.maxBatchBytes('another')).toBe(1048588);
  });

  it('writes coalesced submissions over the limit for one partition as several batches, each receipt right', async () => {
    const limits = await readBatchLimits(admin, [topic]);
    const batcher = new ProduceBatcher(producer, { lingerMs: 20, limits, logger: silentLogger });
    // 10 submissions of 20 × 500 bytes on partition 1: ~100 KB, six times the topic's batch limit.
    const submissions = Array.from({ length: 10 }, (_, s) =>
      Array.from({ length: 20 }, (_, i) => ({
        topic,
        partition: 1,
        key: `u-${s}`,
        value: Buffer.from(`${s}:${i}:`.padEnd(500, 'x')),
      })),
    );
    const receipts = await Promise.all(submissions.map((records) => batcher.submit(records)));
    const written = await readTopics(kafka, [topic]);
    const byOffset = new Map(written.filter((r) => r.partition === 1).map((r) => [r.offset, r.value.toString()]));
    expect(byOffset.size).toBe(200);
    submissions.forEach((records, s) =>
      records.forEach((r, i) => {
        expect(receipts[s]![i]!.partition).toBe(1);
        expect(byOffset.get(Number(receipts[s]![i]!.offset))).toBe(r.value.toString());
      }),
    );
  });

  it('fails only the submission that holds a record Kafka refuses; the ones coalesced with it are written', async () => {
    // A limit that believes the topic takes 1 MiB: the 20 KB record gets to the broker, which refuses its batch.
    const batcher = new ProduceBatcher(producer, { lingerMs: 50, logger: silentLogger });
    const small = (p: number, i: number) => [{ topic, partition: p, key: `s-${i}`, value: Buffer.from(`small-${i}`) }];
    const tooLarge = [
      { topic, partition: 0, key: 'big', value: Buffer.alloc(20_000, 1) },
      { topic, partition: 2, key: 'beside', value: Buffer.from('beside') },
    ];
    const results = await Promise.allSettled([
      batcher.submit(small(0, 1)),
      batcher.submit(tooLarge),
      batcher.submit(small(2, 2)),
      batcher.submit(small(1, 3)),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/larger than/i);
    const values = (await readTopics(kafka, [topic])).map((r) => r.value.toString());
    for (const v of ['small-1', 'small-2', 'small-3']) expect(values).toContain(v);
    expect(values.some((v) => v.length === 20_000)).toBe(false);
  });
});
