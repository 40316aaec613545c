import type { Admin } from '../platform/kafka/client';
import { TOPICS } from '../platform/kafka/topics';
import { partitionForKey } from '../platform/kafka/partitioner';
import { SCHEMAS, type PipelineEvent } from '../schemas/catalog';
import type { SchemaClient } from '../schemas/client';
import type { OutgoingRecord } from '../platform/kafka/client';
import type { EventPlan } from '../schemas/events/plan';
import { TributaryError } from '../platform/errors';

/**
 * Turns validated events into Kafka records: the registered schema's wire format, keyed by
 * userId, on the partition Java's murmur2 picks. Schema ids and partition counts are resolved
 * once at start.
 */
export class EventEncoder {
  private constructor(
    private readonly client: SchemaClient,
    private readonly ids: { user: number; order: number },
    readonly topics: { user: string; order: string; custom?: string },
    private readonly partitions: { user: number; order: number; custom: number },
    private readonly plan: Pick<EventPlan, 'ofSchemaId'> | undefined,
  ) {}

  /**
   * `custom`: the topic of the declared event types and the plan that knows their schemas
   * (docs/events.md); without it only the built-in families are encoded.
   */
  static async create(deps: {
    schemas: SchemaClient;
    admin: Admin;
    topics?: { user: string; order: string };
    custom?: { topic: string; plan: Pick<EventPlan, 'ofSchemaId'> };
  }): Promise<EventEncoder> {
    const topics = {
      ...(deps.topics ?? { user: TOPICS.users, order: TOPICS.orders }),
      ...(deps.custom ? { custom: deps.custom.topic } : {}),
    };
    const user = await deps.schemas.register({ ...SCHEMAS.user, subject: `${topics.user}-value` });
    const order = await deps.schemas.register({ ...SCHEMAS.order, subject: `${topics.order}-value` });
    const { topics: meta } = await deps.admin.fetchTopicMetadata({
      topics: [topics.user, topics.order, ...(topics.custom ? [topics.custom] : [])],
    });
    const count = (t: string | undefined) => meta.find((m) => m.name === t)?.partitions.length ?? 0;
    return new EventEncoder(
      deps.schemas,
      { user, order },
      topics,
      { user: count(topics.user), order: count(topics.order), custom: count(topics.custom) },
      deps.custom?.plan,
    );
  }

  encode(event: PipelineEvent): OutgoingRecord {
    if (event.kind === 'custom') {
      const version = this.plan?.ofSchemaId(event.schemaId);
      if (!version || !this.topics.custom)
        throw new TributaryError('invalid_input', `no declared event type has schema id ${event.schemaId}`);
      return {
        topic: this.topics.custom,
        key: event.record.userId,
        partition: partitionForKey(event.record.userId, this.partitions.custom),
        value: this.client.encode(event.schemaId, version.avroType, event.record),
      };
    }
    const type = event.kind === 'user' ? SCHEMAS.user.type : SCHEMAS.order.type;
    return {
      topic: this.topics[event.kind],
      key: event.record.userId,
      partition: partitionForKey(event.record.userId, this.partitions[event.kind]),
      value: this.client.encode(this.ids[event.kind], type, event.record),
    };
  }
}
