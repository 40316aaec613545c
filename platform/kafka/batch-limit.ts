import type { Admin } from 'kafkajs';
import { ConfigResourceTypes } from 'kafkajs';

/**
 * How large a record batch a topic takes. The broker refuses a produce request's batch for a
 * partition when it is larger than the topic's `max.message.bytes` (which defaults to the
 * broker's `message.max.bytes`, 1,048,588 bytes out of the box); kafkajs writes all messages of
 * one partition in one send as one batch, so every producer of ours splits its sends by it.
 */
export const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

/** A v2 record batch's header, the log overhead (offset, length) included. */
export const RECORD_BATCH_OVERHEAD = 61;
/**
 * The most a v2 record adds to its key and value: length, attributes, timestamp and offset
 * deltas, key and value lengths as varints, and an empty header count.
 */
export const RECORD_OVERHEAD = 32;

export interface SizedRecord {
  key: string | Buffer | null;
  value: Buffer | null;
}

/** An upper bound of what a record adds to a record batch (uncompressed: our producers do not compress). */
export function recordBytes(record: SizedRecord): number {
  const key =
    record.key === null ? 0 : typeof record.key === 'string' ? Buffer.byteLength(record.key) : record.key.length;
  return key + (record.value?.length ?? 0) + RECORD_OVERHEAD;
}

/** The largest record batch each topic takes: its `max.message.bytes`, read from the cluster. */
export class BatchLimits {
  constructor(
    private readonly byTopic: ReadonlyMap<string, number> = new Map(),
    private readonly fallback = KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
  ) {}

  /** The topic's limit on a record batch, in bytes. */
  maxBatchBytes(topic: string): number {
    return this.byTopic.get(topic) ?? this.fallback;
  }

  /** What the records of one partition of `topic` may add up to (recordBytes) in one send. */
  budget(topic: string): number {
    return this.maxBatchBytes(topic) - RECORD_BATCH_OVERHEAD;
  }

  /** Whether the record could ever be written: alone in its batch, it is within the topic's limit. */
  fits(topic: string, record: SizedRecord): boolean {
    return recordBytes(record) <= this.budget(topic);
  }
}

/**
 * Reads each topic's effective `max.message.bytes` (the topic's override, or the broker's
 * `message.max.bytes` it defaults to). A topic whose configuration cannot be described (a
 * cluster that refuses DescribeConfigs to this principal) gets the broker's
 * `message.max.bytes`, and failing that Kafka's default.
 */
export async function readBatchLimits(admin: Admin, topics: string[]): Promise<BatchLimits> {
  const byTopic = new Map<string, number>();
  let fallback = KAFKA_DEFAULT_MAX_MESSAGE_BYTES;
  // One request a topic: kafkajs fails a whole DescribeConfigs when one of its resources errs.
  await Promise.all(
    topics.map(async (name) => {
      try {
        const { resources } = await admin.describeConfigs({
          includeSynonyms: false,
          resources: [{ type: ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] }],
        });
        const value = Number(
          resources[0]?.configEntries.find((c) => c.configName === 'max.message.bytes')?.configValue,
        );
        if (Number.isSafeInteger(value) && value > 0) byTopic.set(name, value);
      } catch {
        // Described below from the broker, or Kafka's default.
      }
    }),
  );
  if (byTopic.size < topics.length) {
    try {
      const { brokers } = await admin.describeCluster();
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: brokers.map((b) => ({
          type: ConfigResourceTypes.BROKER,
          name: String(b.nodeId),
          configNames: ['message.max.bytes'],
        })),
      });
      const values = resources
        .map((r) => Number(r.configEntries.find((c) => c.configName === 'message.max.bytes')?.configValue))
        .filter((v) => Number.isSafeInteger(v) && v > 0);
      if (values.length > 0) fallback = Math.min(...values);
    } catch {
      // Kafka's default stands.
    }
  }
  return new BatchLimits(byTopic, fallback);
}
