import type { Admin } from 'kafkajs';
import { silentLogger } from '../logger';
import { testConfig, unique } from '../../test/helpers';
import { createTopics } from '../../test/kafka';
import { connectAdmin, createKafka } from './client';
import { TopicMismatchError, ensureTopics, type TopicSpec } from './topics';

describe('ensureTopics', () => {
  const config = testConfig();
  let admin: Admin;
  const created: string[] = [];

  beforeAll(async () => {
    admin = await connectAdmin(createKafka({ config: config.kafka, logger: silentLogger, clientId: 'test' }));
  });
  afterAll(async () => {
    await admin.deleteTopics({ topics: created }).catch(() => undefined);
    await admin.disconnect();
  });

  function specs(): TopicSpec[] {
    const events = unique('events');
    const changelog = unique('changelog');
    created.push(events, changelog);
    return [
      { topic: events, partitions: 6, configs: { 'cleanup.policy': 'delete' } },
      { topic: changelog, partitions: 3, configs: { 'cleanup.policy': 'compact' } },
    ];
  }

  it('creates missing topics with their layout, and a second run changes nothing', async () => {
    const wanted = specs();
    const first = await ensureTopics(admin, wanted, silentLogger);
    expect(first.created).toEqual(wanted.map((s) => s.topic));
    const second = await ensureTopics(admin, wanted, silentLogger);
    expect(second).toEqual({ created: [], existing: wanted.map((s) => s.topic) });
    const { topics } = await admin.fetchTopicMetadata({ topics: wanted.map((s) => s.topic) });
    expect(topics.map((t) => [t.name, t.partitions.length]).sort()).toEqual(
      wanted.map((s) => [s.topic, s.partitions]).sort(),
    );
  });

  it('reports an existing topic with another partition count or cleanup policy instead of using it', async () => {
    const wanted = specs();
    // The helper that survives a busy broker (UNKNOWN_TOPIC_OR_PARTITION right after creation; seen on CI).
    await createTopics(admin, [
      { topic: wanted[0]!.topic, numPartitions: 2, replicationFactor: 1 },
      {
        topic: wanted[1]!.topic,
        numPartitions: 3,
        replicationFactor: 1,
        configEntries: [{ name: 'cleanup.policy', value: 'delete' }],
      },
    ]);
    const attempt = ensureTopics(admin, wanted, silentLogger);
    await expect(attempt).rejects.toThrow(TopicMismatchError);
    await expect(ensureTopics(admin, wanted, silentLogger)).rejects.toThrow(
      new RegExp(
        `${wanted[0]!.topic} has 2 partitions, expected 6.*${wanted[1]!.topic} has cleanup.policy=delete, expected compact`,
      ),
    );
  });
});
