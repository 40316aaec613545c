import { randomUUID } from 'node:crypto';
import { type Kafka, CheckedProducer, connectAdmin } from '../../platform/kafka/client';
import { GroupConsumer } from '../../platform/kafka/consumer';
import type { Logger } from '../../platform/logger';
import { ensureTopics } from '../../platform/kafka/topics';
import type { RegistryLog } from './registry';
import { storeError } from './errors';
import type { LogRecord, RegistryState } from './state';

export const SCHEMAS_TOPIC = '_schemas';

/**
 * The registry's log: a single-partition compacted topic, read from the start at open (the
 * state is rebuilt from it) and then tailed, so a second instance sees the first one's writes.
 * NOTE: run one writer. Two instances writing at once could allocate the same id; Confluent's
 * registry elects a leader for this, we document one writer instead.
 */
export class KafkaRegistryLog implements RegistryLog {
  private constructor(
    private readonly producer: CheckedProducer,
    private readonly consumer: GroupConsumer,
    private readonly topic: string,
  ) {}

  static async open(deps: { kafka: Kafka; logger: Logger; state: RegistryState; topic?: string; readyTimeoutMs?: number }): Promise<KafkaRegistryLog> {
    const topic = deps.topic ?? SCHEMAS_TOPIC;
    const admin = await connectAdmin(deps.kafka);
    let end: number;
    try {
      await ensureTopics(admin, [{ topic, partitions: 1, configs: { 'cleanup.policy': 'compact' } }], deps.logger);
      end = Number((await admin.fetchTopicOffsets(topic))[0]?.high ?? 0);
    } finally {
      await admin.disconnect();
    }
    const producer = await CheckedProducer.connect(deps.kafka);
    let position = 0;
    let caughtUp: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => { caughtUp = resolve; });
    if (end === 0) caughtUp();
    // No committed offsets: every instance reads the whole log at start.
    const consumer = await GroupConsumer.start(deps.kafka, {
      groupId: `tributary-registry-${randomUUID()}`, topics: [topic], maxWaitTimeInMs: 100,
      // A crash-restart (a broker killed) rejoins only once the old member expired: 10 s, not 30.
      sessionTimeoutMs: 10_000,
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        for (const message of batch.messages) {
          const record = parseRecord(message.key, message.value);
          if (record) deps.state.apply(record);
          else deps.logger.warn({ offset: message.offset }, 'registry.log.skipped');
          resolveOffset(message.offset);
          position = Number(message.offset) + 1;
        }
        if (position >= end) caughtUp();
        await heartbeat();
      },
    });
    const timeoutMs = deps.readyTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([ready, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`registry log ${topic} not read to offset ${end} within ${timeoutMs} ms`)), timeoutMs); })])
      .finally(() => clearTimeout(timer));
    deps.logger.info({ topic, records: end, subjects: deps.state.subjects.size, maxId: deps.state.maxId }, 'registry.log.loaded');
    return new KafkaRegistryLog(producer, consumer, topic);
  }

  async append(records: LogRecord[]): Promise<void> {
    try {
      await this.producer.send([{
        topic: this.topic,
        messages: records.map((r) => ({ key: JSON.stringify(r.key), value: r.value === null ? null : JSON.stringify(r.value), partition: 0 })),
      }]);
    } catch (err) {
      throw storeError((err as Error).message);
    }
  }

  async close(): Promise<void> {
    await this.consumer.disconnect();
    await this.producer.disconnect();
  }
}

/** A `_schemas` record, or null for keys this registry does not use (NOOP, DELETE_SUBJECT…). */
export function parseRecord(key: Buffer | null, value: Buffer | null): LogRecord | null {
  if (!key) return null;
  try {
    const k = JSON.parse(key.toString('utf8')) as { keytype?: string; subject?: string | null; version?: number };
    const v = value === null ? null : JSON.parse(value.toString('utf8'));
    if (k.keytype === 'SCHEMA' && typeof k.subject === 'string' && typeof k.version === 'number') {
      return { key: { keytype: 'SCHEMA', subject: k.subject, version: k.version, magic: 1 }, value: v ? { deleted: false, ...v } : null };
    }
    if (k.keytype === 'CONFIG') {
      return { key: { keytype: 'CONFIG', subject: k.subject ?? null, magic: 0 }, value: v };
    }
    if (k.keytype === 'MODE') {
      return { key: { keytype: 'MODE', subject: k.subject ?? null, magic: 0 }, value: v };
    }
    return null;
  } catch {
    return null;
  }
}
