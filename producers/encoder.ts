import type { Admin } from '../platform/kafka/client';
import { TOPICS } from '../platform/kafka/topics';
import { partitionForKey } from '../platform/kafka/partitioner';
import { SCHEMAS, type PipelineEvent } from '../schemas/catalog';
import type { SchemaClient } from '../schemas/client';
import type { OutgoingRecord } from '../platform/kafka/client';

/**
 * Turns validated events into Kafka records: the registered schema's wire format, keyed by
 * userId, on the partition Java's murmur2 picks. Schema ids and partition counts are resolved
 * once at start.
 */
export class EventEncoder {
  private constructor(
    private readonly client: SchemaClient,
    private readonly ids: { user: number; order: number },
    readonly topics: { user: string; order: string },
    private readonly partitions: { user: number; order: number },
  ) {}

  static async create(deps: { schemas: SchemaClient; admin: Admin; topics?: { user: string; order: string } }): Promise<EventEncoder> {
    const topics = deps.topics ?? { user: TOPICS.users, order: TOPICS.orders };
    const user = await deps.schemas.register({ ...SCHEMAS.user, subject: `${topics.user}-value` });
    const order = await deps.schemas.register({ ...SCHEMAS.order, subject: `${topics.order}-value` });
    const { topics: meta } = await deps.admin.fetchTopicMetadata({ topics: [topics.user, topics.order] });
    const count = (t: string) => meta.find((m) => m.name === t)?.partitions.length ?? 0;
    return new EventEncoder(deps.schemas, { user, order }, topics, { user: count(topics.user), order: count(topics.order) });
  }

  encode(event: PipelineEvent): OutgoingRecord {
    const topic = this.topics[event.kind];
    const type = event.kind === 'user' ? SCHEMAS.user.type : SCHEMAS.order.type;
    return {
      topic,
      key: event.record.userId,
      partition: partitionForKey(event.record.userId, this.partitions[event.kind]),
      value: this.client.encode(this.ids[event.kind], type, event.record),
    };
  }
}
