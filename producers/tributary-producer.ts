import { type Admin, connectAdmin, createKafka, CheckedProducer } from '../platform/kafka/client';
import type { Config } from '../platform/config';
import { silentLogger, type Logger } from '../platform/logger';
import { SchemaClient } from '../schemas/client';
import type { OrderEventType, OrderItem, UserEventType } from '../schemas/catalog';
import { convertEvent, type FieldError } from '../schemas/validation';
import { DEFAULT_EVENT_LIMITS, type EventLimits } from '../schemas/limits';
import { readBatchLimits } from '../platform/kafka/batch-limit';
import { unsendable } from './contract';
import { ProduceBatcher } from './batcher';
import { EventEncoder } from './encoder';
import { TributaryError, isRetriable } from '../platform/errors';

/** Input shapes: the event JSON of the ingestion endpoint, with eventId optional. */
interface EventInputBase {
  eventId?: string;
  userId: string;
  occurredAt: Date | number | string;
  country?: string | null;
}
export interface UserEventInput extends EventInputBase {
  type: UserEventType;
  sessionId?: string | null;
  device?: string | null;
  page?: string | null;
  properties?: Record<string, string>;
}
export interface OrderEventInput extends EventInputBase {
  type: OrderEventType;
  orderId: string;
  currency?: string | null;
  amountCents?: number | null;
  items?: Array<Omit<OrderItem, 'category'> & { category?: string | null }>;
}

export interface Receipt {
  eventId: string;
  topic: string;
  partition: number;
  offset: number;
}

export class EventValidationError extends TributaryError {
  constructor(readonly errors: Array<FieldError & { index: number }>) {
    super('invalid_input', `invalid events: ${errors.map((e) => `[${e.index}] ${e.path}: ${e.message}`).join('; ')}`);
    this.name = 'EventValidationError';
  }
}

/**
 * Kafka did not acknowledge the events (after kafkajs' retries). Some may have been written all
 * the same: retry with `eventIds` (the ones given, and those assigned to events that had none),
 * so the processor counts each event once.
 */
export class ProduceError extends TributaryError {
  constructor(
    message: string,
    readonly eventIds: string[],
    options?: { cause?: unknown },
  ) {
    super('produce_failed', message, { cause: options?.cause, retriable: isRetriable(options?.cause) });
    this.name = 'ProduceError';
  }
}

export interface TributaryProducerOptions {
  /** Kafka settings: brokers, and ssl/sasl for a secured cluster. */
  kafka: Pick<Config['kafka'], 'brokers'> & Partial<Pick<Config['kafka'], 'ssl' | 'sslCa' | 'sasl'>>;
  registryUrl: string;
  /** HTTP Basic credentials of the registry (Confluent Cloud's API key and secret, or an embedded registry's user). */
  registryAuth?: { username: string; password: string };
  logger?: Logger;
  clientId?: string;
  lingerMs?: number;
  topics?: { user: string; order: string };
  /** The bounds the processor enforces (its EVENT_LIMITS); events beyond them are refused here rather than dead-lettered there. */
  limits?: EventLimits;
  /** The origin stamped on the events (eventIds are unique per origin); default null, as for any producer writing straight to Kafka. */
  origin?: string | null;
}

/**
 * For TypeScript services that produce straight to Kafka: the same validation, schemas,
 * partitioning and acks=all as the ingestion endpoint, without the HTTP hop.
 *
 *   const producer = await TributaryProducer.connect({ kafka: { brokers: ['localhost:9092'] }, registryUrl: 'http://localhost:8081' });
 *   await producer.sendOrderEvents([{ type: 'order_placed', userId: 'u-42', orderId: 'o-9', occurredAt: new Date(), … }]);
 */
export class TributaryProducer {
  private constructor(
    private readonly producer: CheckedProducer,
    private readonly admin: Admin,
    private readonly encoder: EventEncoder,
    private readonly batcher: ProduceBatcher,
    private readonly limits: EventLimits,
    private readonly origin: string | null,
  ) {}

  static async connect(options: TributaryProducerOptions): Promise<TributaryProducer> {
    const logger = options.logger ?? silentLogger;
    const kafka = createKafka({
      config: { ssl: false, sasl: undefined, ...options.kafka },
      logger,
      clientId: options.clientId ?? 'tributary-producer',
    });
    const admin = await connectAdmin(kafka);
    const producer = await CheckedProducer.connect(kafka);
    try {
      const encoder = await EventEncoder.create({
        schemas: new SchemaClient(options.registryUrl, logger, options.registryAuth),
        admin,
        topics: options.topics,
      });
      const limits = await readBatchLimits(admin, [encoder.topics.user, encoder.topics.order]);
      return new TributaryProducer(
        producer,
        admin,
        encoder,
        new ProduceBatcher(producer, { lingerMs: options.lingerMs ?? 2, limits, logger }),
        options.limits ?? DEFAULT_EVENT_LIMITS,
        options.origin ?? null,
      );
    } catch (err) {
      await producer.disconnect();
      await admin.disconnect();
      throw err;
    }
  }

  sendUserEvents(events: UserEventInput[]): Promise<Receipt[]> {
    return this.send('user', events);
  }

  sendOrderEvents(events: OrderEventInput[]): Promise<Receipt[]> {
    return this.send('order', events);
  }

  /**
   * Validates all, then produces all in one send; resolves once Kafka acknowledged them. Throws
   * EventValidationError (nothing sent) or ProduceError (retry with its eventIds).
   */
  private async send(kind: 'user' | 'order', events: Array<UserEventInput | OrderEventInput>): Promise<Receipt[]> {
    const errors: Array<FieldError & { index: number }> = [];
    const records = events.flatMap((event, index) => {
      const input = {
        ...event,
        occurredAt: event.occurredAt instanceof Date ? event.occurredAt.getTime() : event.occurredAt,
      };
      const result = convertEvent(input, {
        newEventId: () => crypto.randomUUID(),
        limits: this.limits,
        origin: this.origin,
      });
      if (!result.ok) {
        errors.push(...result.errors.map((e) => ({ index, ...e })));
        return [];
      }
      if (result.kind !== kind) {
        errors.push({ index, path: 'type', message: `${event.type} is not a ${kind} event type` });
        return [];
      }
      return [
        result.kind === 'user'
          ? { kind: 'user' as const, record: result.record }
          : { kind: 'order' as const, record: result.record },
      ];
    });
    if (errors.length > 0) throw new EventValidationError(errors);
    const encoded = records.map((r) => this.encoder.encode(r));
    const unfit = unsendable(encoded, this.batcher.limits);
    if (unfit.length > 0) throw new EventValidationError(unfit);
    let receipts;
    try {
      receipts = await this.batcher.submit(encoded);
    } catch (err) {
      const eventIds = records.map((r) => r.record.eventId);
      throw new ProduceError(
        `Kafka did not acknowledge the events (${(err as Error).message}); retry with the same eventIds`,
        eventIds,
        { cause: err },
      );
    }
    return receipts.map((r, i) => ({
      eventId: records[i]!.record.eventId,
      topic: r.topic,
      partition: r.partition,
      offset: Number(r.offset),
    }));
  }

  async disconnect(): Promise<void> {
    await this.batcher.drain();
    await this.producer.disconnect();
    await this.admin.disconnect();
  }
}
