import { randomUUID } from 'node:crypto';
import { type Kafka, CheckedProducer, connectAdmin } from '../platform/kafka/client';
import { SCHEMAS, type DeadLetter } from '../schemas/catalog';
import type { SchemaClient } from '../schemas/client';

export interface StoredDeadLetter {
  dlqPartition: number;
  dlqOffset: number;
  letter: DeadLetter;
}

/** Every dead letter in the topic up to its end offsets now (a snapshot; nothing committed). */
export async function readDeadLetters(
  kafka: Kafka,
  schemas: SchemaClient,
  topic: string,
  fromOffset = 0,
): Promise<StoredDeadLetter[]> {
  const admin = await connectAdmin(kafka);
  const ends = await admin.fetchTopicOffsets(topic).finally(() => admin.disconnect());
  const pending = new Map(
    ends.filter((e) => Number(e.high) > Math.max(Number(e.low), fromOffset)).map((e) => [e.partition, Number(e.high)]),
  );
  const out: StoredDeadLetter[] = [];
  if (pending.size === 0) return out;
  const consumer = kafka.consumer({ groupId: `tributary-dlq-reader-${randomUUID()}`, maxWaitTimeInMs: 200 });
  // Disconnected whatever happens: a consumer left running retries forever once the broker is gone.
  const done = (async () => {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
  })().then(
    () =>
      new Promise<void>((resolve, reject) => {
        consumer
          .run({
            autoCommit: false,
            eachBatch: async ({ batch }) => {
              for (const m of batch.messages) {
                const offset = Number(m.offset);
                if (offset >= fromOffset && offset < (pending.get(batch.partition) ?? 0)) {
                  out.push({
                    dlqPartition: batch.partition,
                    dlqOffset: offset,
                    letter: await schemas.decode<DeadLetter>(m.value, SCHEMAS.deadLetter.type),
                  });
                }
                if (offset + 1 >= (pending.get(batch.partition) ?? 0)) pending.delete(batch.partition);
              }
              if (pending.size === 0) resolve();
            },
          })
          .catch(reject);
      }),
  );
  try {
    await done;
  } finally {
    await consumer.disconnect();
  }
  return out.sort((a, b) => a.dlqPartition - b.dlqPartition || a.dlqOffset - b.dlqOffset);
}

/**
 * A letter that can go back where it came from: a Kafka record (not a queue message) of a topic
 * that exists, kept whole (a truncated letter no longer holds the record: redriving it would
 * produce a fragment).
 */
export function redrivable(letter: DeadLetter, knownTopics: Set<string>): boolean {
  return letter.partition !== null && letter.truncatedFrom === null && knownTopics.has(letter.source);
}

/**
 * Re-produces dead letters that came from a Kafka topic to that topic, key and bytes unchanged
 * (after a fix: a schema registered, a bug deployed). Events keep their eventIds, so one that
 * did get through before is dropped as a duplicate within the processor's dedup horizon.
 */
export async function redrive(
  kafka: Kafka,
  letters: StoredDeadLetter[],
  knownTopics: Set<string>,
): Promise<Array<{ dlqOffset: number; topic: string }>> {
  const eligible = letters.filter((l) => redrivable(l.letter, knownTopics));
  if (eligible.length === 0) return [];
  const producer = await CheckedProducer.connect(kafka);
  try {
    // Back to the partition it came from (acks=all, checked): the processor's duplicate check is per partition.
    await producer.sendRecords(
      eligible.map(({ letter }) => ({
        topic: letter.source,
        partition: letter.partition!,
        key: letter.key,
        value: letter.value,
      })),
    );
  } finally {
    await producer.disconnect();
  }
  return eligible.map((l) => ({ dlqOffset: l.dlqOffset, topic: l.letter.source }));
}
