import { randomUUID } from 'node:crypto';
import { type Admin, type Kafka, CheckedProducer, connectAdmin } from './client';
import { GroupConsumer } from './consumer';
import type { Logger } from '../logger';
import { ensureTopics } from './topics';

/**
 * A small shared state kept in a single-partition compacted topic of JSON records: every reader
 * reads it whole at open (open resolves once it has read to the end it found), then tails it, so
 * what one process appends every other one sees within about a second. Keys name the entries;
 * compaction keeps the newest value of each; a null value deletes one.
 */
export class JsonLog {
  private syncing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  /** Connected at the first sync, kept for the next ones (a burst of them asks the end offset back to back). */
  private admin: Promise<Admin> | undefined;

  private constructor(
    private readonly producer: CheckedProducer,
    private readonly consumer: GroupConsumer,
    readonly topic: string,
    private readonly reader: { position: number; waiters: Set<() => void> },
    private readonly kafka: Kafka,
  ) {}

  /**
   * Resolves once every record appended before this call has been read (and given to onRecord),
   * or after `timeoutMs` regardless. Calls made while one runs share one more run after it, so a
   * burst of callers costs two end-offset requests, not one each.
   */
  sync(timeoutMs = 5000): Promise<void> {
    if (!this.syncing) {
      this.syncing = this.readToEnd(timeoutMs).finally(() => {
        this.syncing = undefined;
      });
      return this.syncing;
    }
    return (this.queued ??= this.syncing
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.sync(timeoutMs);
      }));
  }

  private async readToEnd(timeoutMs: number): Promise<void> {
    let end: number;
    try {
      const admin = await (this.admin ??= connectAdmin(this.kafka));
      end = Number((await admin.fetchTopicOffsets(this.topic))[0]?.high ?? 0);
    } catch (err) {
      // Connect again next time.
      const failed = this.admin;
      this.admin = undefined;
      void failed?.then((a) => a.disconnect()).catch(() => undefined);
      throw err;
    }
    if (this.reader.position >= end) return;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (this.reader.position < end) return;
        this.reader.waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.reader.waiters.delete(check);
        resolve();
      }, timeoutMs);
      this.reader.waiters.add(check);
    });
  }

  static async open(deps: {
    kafka: Kafka;
    logger: Logger;
    topic: string;
    onRecord: (key: string, value: unknown) => void;
    readyTimeoutMs?: number;
    replicationFactor?: number;
  }): Promise<JsonLog> {
    const { topic } = deps;
    const admin = await connectAdmin(deps.kafka);
    let end: number;
    try {
      await ensureTopics(
        admin,
        [{ topic, partitions: 1, configs: { 'cleanup.policy': 'compact' } }],
        deps.logger,
        deps.replicationFactor,
      );
      end = Number((await admin.fetchTopicOffsets(topic))[0]?.high ?? 0);
    } finally {
      await admin.disconnect();
    }
    const producer = await CheckedProducer.connect(deps.kafka);
    const reader = { position: 0, waiters: new Set<() => void>() };
    let caughtUp: () => void = () => undefined;
    const ready = new Promise<void>((resolve) => {
      caughtUp = resolve;
    });
    if (end === 0) caughtUp();
    // No committed offsets: every reader reads the whole log.
    const consumer = await GroupConsumer.start(deps.kafka, {
      groupId: `tributary-log-${randomUUID()}`,
      topics: [topic],
      maxWaitTimeInMs: 100,
      // A crash-restart (a broker killed) rejoins only once the old member expired: 10 s, not 30.
      sessionTimeoutMs: 10_000,
      eachBatch: async ({ batch, heartbeat }) => {
        for (const message of batch.messages) {
          const key = message.key?.toString('utf8');
          if (key === undefined) continue;
          let value: unknown = null;
          try {
            value = message.value === null ? null : JSON.parse(message.value.toString('utf8'));
          } catch {
            deps.logger.warn({ topic, offset: message.offset }, 'log.record.unreadable');
            continue;
          }
          deps.onRecord(key, value);
        }
        reader.position = Math.max(reader.position, Number(batch.lastOffset()) + 1);
        for (const check of [...reader.waiters]) check();
        if (Number(batch.lastOffset()) + 1 >= end) caughtUp();
        await heartbeat();
      },
    });
    const timeoutMs = deps.readyTimeoutMs ?? 60_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${topic} not read to offset ${end} within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (err) {
      await consumer.disconnect();
      await producer.disconnect();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return new JsonLog(producer, consumer, topic, reader, deps.kafka);
  }

  /** Appends entries (acks=all) in one send. */
  async append(entries: Array<{ key: string; value: unknown }>): Promise<void> {
    await this.producer.send([
      {
        topic: this.topic,
        messages: entries.map((e) => ({
          key: e.key,
          value: e.value === null ? null : JSON.stringify(e.value),
          partition: 0,
        })),
      },
    ]);
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.then((a) => a.disconnect()).catch(() => undefined);
    await this.consumer.disconnect();
    await this.producer.disconnect();
  }
}
