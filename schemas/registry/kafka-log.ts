import type { Kafka } from '../../platform/kafka/client';
import { JsonLog } from '../../platform/kafka/json-log';
import type { Logger } from '../../platform/logger';
import type { RegistryLog } from './registry';
import { storeError } from './errors';
import type { LogRecord, RegistryState } from './state';

export const SCHEMAS_TOPIC = '_schemas';

/**
 * The registry's log: a single-partition compacted topic of JSON records shaped like Confluent's
 * (platform/kafka/json-log.ts), read from the start at open (the state is rebuilt from it) and then
 * tailed, so a second instance sees the first one's writes.
 * NOTE: run one writer. Two instances writing at once could allocate the same id; Confluent's
 * registry elects a leader for this, we document one writer instead.
 */
export class KafkaRegistryLog implements RegistryLog {
  private constructor(private readonly log: JsonLog) {}

  static async open(deps: {
    kafka: Kafka;
    logger: Logger;
    state: RegistryState;
    topic?: string;
    readyTimeoutMs?: number;
  }): Promise<KafkaRegistryLog> {
    const topic = deps.topic ?? SCHEMAS_TOPIC;
    let records = 0;
    const log = await JsonLog.open({
      kafka: deps.kafka,
      logger: deps.logger,
      topic,
      readyTimeoutMs: deps.readyTimeoutMs,
      onRecord: (key, value) => {
        records += 1;
        const record = parseRecord(key, value);
        if (record) deps.state.apply(record);
        else deps.logger.warn({ key: key.slice(0, 200) }, 'registry.log.skipped');
      },
    });
    deps.logger.info(
      { topic, records, subjects: deps.state.subjects.size, maxId: deps.state.maxId },
      'registry.log.loaded',
    );
    return new KafkaRegistryLog(log);
  }

  async append(records: LogRecord[]): Promise<void> {
    try {
      await this.log.append(records.map((r) => ({ key: JSON.stringify(r.key), value: r.value })));
    } catch (err) {
      throw storeError((err as Error).message);
    }
  }

  close(): Promise<void> {
    return this.log.close();
  }
}

/** A `_schemas` record (its key's text and its value, parsed), or null for keys this registry does not use (NOOP, DELETE_SUBJECT…). */
export function parseRecord(key: string, value: unknown): LogRecord | null {
  try {
    const k = JSON.parse(key) as { keytype?: string; subject?: string | null; version?: number };
    const v = value as ReturnType<typeof JSON.parse>; // as JSON.parse gives it: values are Confluent's, as written
    if (k.keytype === 'SCHEMA' && typeof k.subject === 'string' && typeof k.version === 'number') {
      return {
        key: { keytype: 'SCHEMA', subject: k.subject, version: k.version, magic: 1 },
        value: v ? { deleted: false, ...v } : null,
      };
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
