import type { Logger } from '../../platform/logger';
import { errorMessage, TributaryError } from '../../platform/errors';
import { refusedByKafka, type OutgoingRecord } from '../../platform/kafka/client';
import { retry } from '../../platform/retry';
import type { PipelineEvent } from '../../schemas/catalog';
import { deadLettered, taken, type DeadLetterReason, type RecordOutcome } from '../../schemas/outcome';
import type { SchemaClient } from '../../schemas/client';
import { deadLetter } from '../../schemas/dead-letter';
import type { ProduceBatcher } from '../batcher';
import { convertAll, refuseUnsendable, Rejection, toEventList, type ContractLimits } from '../contract';
import type { EventEncoder } from '../encoder';
import type { EventPlan } from '../../schemas/events/plan';
import { nameBasedUuid } from './event-id';
import type { BridgeMetrics } from './metrics';

/** One message taken from a queue, whatever the queue. */
export interface QueueMessage {
  /** Stable across redeliveries: the SQS MessageId, the AMQP message-id, or a hash of the body. */
  id: string;
  body: Buffer;
  /** The publisher's content type, when it set one. */
  contentType?: string | undefined;
  /** The queue says it delivered this message before. */
  redelivered: boolean;
}

/**
 * A queue the bridge consumes (RabbitMQ, SQS): the one lifecycle startBridge (service.ts) drives.
 * Each hands its messages to BridgeCore and acknowledges them only after `produce` resolved.
 */
export interface QueueSource {
  /** Connects and starts consuming; rejects with one line when the queue refuses the set-up. */
  start(): Promise<void>;
  /** Stops taking messages and waits for those in hand (unacknowledged ones are redelivered). */
  stop(): Promise<void>;
  /** For /readyz. */
  readonly isConnected: boolean;
}

/**
 * A message made ready to produce: its outcome, and the records to send for it (its events when
 * taken, the one dead letter that records why when not).
 */
export interface PreparedMessage {
  message: QueueMessage;
  outcome: RecordOutcome<PipelineEvent[]>;
  records: OutgoingRecord[];
}

/** The bridge is stopping: the message was not produced and must stay unacknowledged. */
export class BridgeStopped extends TributaryError {
  constructor(message: string) {
    super('stopping', message);
    this.name = 'BridgeStopped';
  }
}

export interface BridgeCoreDeps {
  /** `rabbitmq:<queue>` or `sqs:<queue url>`: the DLQ source and the metrics label. */
  source: string;
  encoder: EventEncoder;
  batcher: ProduceBatcher;
  schemas: SchemaClient;
  dlq: { topic: string; schemaId: number };
  limits: ContractLimits & { maxBodyBytes: number };
  /** The declared event types (docs/events.md). */
  plan?: Pick<EventPlan, 'latest'>;
  metrics: BridgeMetrics;
  logger: Logger;
  signal: AbortSignal;
}

/**
 * What both bridges do with a message, queue aside: validate it exactly as the ingestion
 * endpoint validates a request body (same JSON contract, same error list), turn it into Kafka
 * records (or one dead letter), and produce them with acks=all, retrying with backoff until
 * Kafka acknowledges or the bridge stops. Acknowledging the message to its queue is the
 * caller's, after `produce` resolved.
 */
export class BridgeCore {
  constructor(private readonly deps: BridgeCoreDeps) {}

  /** `rabbitmq:<queue>` or `sqs:<queue url>`. */
  get source(): string {
    return this.deps.source;
  }

  prepare(message: QueueMessage): PreparedMessage {
    const { metrics, source } = this.deps;
    metrics.received.inc({ source });
    if (message.redelivered) metrics.redeliveries.inc({ source });
    try {
      const events = convertAll(toEventList(this.parse(message), this.deps.limits), this.deps.limits, {
        // Named by the message, so a redelivery carries the same ids and is dropped as a duplicate.
        newEventId: (index) => nameBasedUuid(`${source}\n${message.id}\n${index}`),
        receivedAt: Date.now(),
        origin: source,
        bodyBytes: message.body.length,
        plan: this.deps.plan,
      });
      const records = events.map((e) => this.deps.encoder.encode(e));
      refuseUnsendable(records, this.deps.batcher.limits);
      return { message, outcome: taken(events), records };
    } catch (err) {
      if (!(err instanceof Rejection)) throw err;
      metrics.rejected.inc({ source, reason: err.reason });
      const errors = err.body.errors as unknown[] | undefined;
      const detail = errors ? `${err.message}: ${JSON.stringify(errors)}` : err.message;
      this.deps.logger.warn(
        { source, messageId: message.id, reason: err.reason, detail: detail.slice(0, 500) },
        'bridge.message.rejected',
      );
      return this.deadLettered(message, err.reason, detail);
    }
  }

  /** The message as the one dead letter that records why it was not taken. */
  private deadLettered(message: QueueMessage, reason: DeadLetterReason, detail: string): PreparedMessage {
    const { key, value } = deadLetter(
      {
        source: this.deps.source,
        partition: null,
        offset: null,
        key: null,
        value: message.body,
        stage: 'bridge',
        reason,
        message: detail,
      },
      this.deps.dlq.schemaId,
      this.deps.schemas,
      message.id,
    );
    return {
      message,
      outcome: deadLettered(reason, detail),
      records: [{ topic: this.deps.dlq.topic, partition: 0, key, value }],
    };
  }

  private parse(message: QueueMessage): unknown {
    const { contentType, body } = message;
    if (contentType && !/json/i.test(contentType)) {
      throw new Rejection(415, 'unsupported_media_type', {
        error: 'unsupported_media_type',
        message: `content type must be JSON, got ${contentType}`,
      });
    }
    if (body.length > this.deps.limits.maxBodyBytes) {
      throw new Rejection(413, 'body_too_large', {
        error: 'payload_too_large',
        message: `message is ${body.length} bytes, the limit is ${this.deps.limits.maxBodyBytes}`,
      });
    }
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch (err) {
      throw new Rejection(400, 'invalid_json', {
        error: 'invalid_json',
        message: `message is not JSON: ${errorMessage(err)}`,
      });
    }
  }

  /**
   * Produces a prepared message's records as one submission, retrying with exponential backoff
   * while Kafka is unavailable. When Kafka refuses them for good (a record it will never take),
   * the message is dead-lettered instead, so it is acknowledged and never retried forever.
   * Resolves with what was produced; rejects with BridgeStopped, or with a programmer error.
   */
  async produce(prepared: PreparedMessage): Promise<PreparedMessage> {
    const { source, metrics, logger } = this.deps;
    try {
      await this.send(prepared.records);
    } catch (err) {
      if (!refusedByKafka(err) || !prepared.outcome.ok) throw err;
      metrics.rejected.inc({ source, reason: 'kafka_refused' });
      const detail = `Kafka refused the message's events: ${errorMessage(err)}`;
      logger.warn({ source, messageId: prepared.message.id, detail }, 'bridge.message.refused');
      const dead = this.deadLettered(prepared.message, 'kafka_refused', detail);
      await this.send(dead.records);
      return dead;
    }
    if (prepared.outcome.ok) for (const r of prepared.records) metrics.produced.inc({ source, topic: r.topic });
    return prepared;
  }

  private async send(records: OutgoingRecord[]): Promise<void> {
    const { source, metrics, logger, signal } = this.deps;
    await retry(
      async () => {
        if (signal.aborted) throw new BridgeStopped('the bridge is stopping');
        await this.deps.batcher.submit(records);
      },
      {
        initialMs: 250,
        maxMs: 10_000,
        signal,
        giveUp: (err) => err instanceof BridgeStopped || refusedByKafka(err),
        onRetry: (err, _attempt, delay) => {
          metrics.produceRetries.inc({ source });
          logger.warn({ source, err: errorMessage(err), retryInMs: delay }, 'bridge.produce.retry');
        },
      },
    );
  }
}
