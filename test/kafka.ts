import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { kafkaClasspath } from '../platform/local/maven';
import { silentLogger } from '../platform/logger';
import { isRetriable } from '../platform/errors';
import { type Admin, type ITopicConfig, type Kafka, connectAdmin } from '../platform/kafka/client';
import { unique, waitFor } from './helpers';
import { sleep } from '../platform/retry';

const run = promisify(execFile);

/**
 * The partitions Kafka's own Java client assigns to `keys` (Utils.murmur2, toPositive, mod n),
 * computed by running Java against the real kafka-clients jar: an oracle independent of kafkajs.
 */
export async function javaPartitions(keys: string[], partitions: number): Promise<number[]> {
  const mavenRepo = process.env.TRIBUTARY_TEST_MAVEN_REPO ?? path.resolve(__dirname, '..', '.tributary', 'maven');
  const classpath = await kafkaClasspath(mavenRepo, silentLogger);
  const source = path.join(__dirname, 'java', 'Murmur2Partition.java');
  const { stdout } = await run('java', ['-cp', classpath, source, String(partitions), ...keys]);
  return stdout.trim().split('\n').map(Number);
}

/**
 * admin.createTopics that survives a busy broker: right after creation, leader election can
 * answer UNKNOWN_TOPIC_OR_PARTITION ("This server does not host this topic-partition"); retry
 * until every topic's metadata is served. Seen on CI under load.
 */
export async function createTopics(admin: Admin, topics: ITopicConfig[]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await admin.createTopics({ topics, waitForLeaders: true });
      break;
    } catch (err) {
      if ((err as { type?: string }).type === 'TOPIC_ALREADY_EXISTS') break;
      if (!isRetriable(err) || attempt >= 20) throw err;
      await sleep(250);
    }
  }
  await waitFor(
    async () => {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.topic) });
      return meta.every((m) => m.partitions.length > 0 && m.partitions.every((p) => p.leader >= 0)) ? true : undefined;
    },
    `metadata of ${topics.map((t) => t.topic).join(', ')}`,
  );
}

export interface TopicRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Buffer;
}

/** Every record of the topics up to their end offsets now. */
export async function readTopics(kafka: Kafka, topics: string[]): Promise<TopicRecord[]> {
  const admin = await connectAdmin(kafka);
  const pending = new Map<string, number>();
  try {
    for (const topic of topics) {
      for (const o of await admin.fetchTopicOffsets(topic))
        if (Number(o.high) > 0) pending.set(`${topic}/${o.partition}`, Number(o.high));
    }
  } finally {
    await admin.disconnect();
  }
  const out: TopicRecord[] = [];
  if (pending.size === 0) return out;
  const consumer = kafka.consumer({ groupId: unique('reader'), maxWaitTimeInMs: 100 });
  // Disconnected whatever happens: a consumer left running retries forever once the broker is gone.
  try {
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const k = `${batch.topic}/${batch.partition}`;
            for (const m of batch.messages) {
              const offset = Number(m.offset);
              if (offset < (pending.get(k) ?? 0))
                out.push({
                  topic: batch.topic,
                  partition: batch.partition,
                  offset,
                  key: m.key?.toString() ?? null,
                  value: m.value!,
                });
              if (offset + 1 >= (pending.get(k) ?? 0)) pending.delete(k);
            }
            if (pending.size === 0) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** True when `groupId` has committed every partition of `topic` up to its end. */
export async function groupCaughtUp(admin: Admin, topic: string, groupId: string): Promise<boolean> {
  const ends = await admin.fetchTopicOffsets(topic);
  const committed = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]?.partitions ?? [];
  return ends.every(
    (e) =>
      Number(committed.find((c) => c.partition === e.partition)?.offset ?? -1) >= Number(e.high) ||
      Number(e.high) === 0,
  );
}
