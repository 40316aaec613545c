import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { GetQueueAttributesCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { TributaryError } from '../../platform/errors';

/**
 * How the demo shop publishes to a queue the way an existing service would: one JSON event per
 * message. `publish` resolves once the queue has the messages (publisher confirms, SendMessage
 * results) and rejects otherwise, so the ground truth only counts what was delivered.
 */
export interface QueuePublisher {
  readonly description: string;
  /** Fails with a clear message when the queue is not there (the bridge declares it). */
  check(): Promise<void>;
  publish(events: Array<{ eventId: string; userId: string }>): Promise<void>;
  close(): Promise<void>;
}

/**
 * Publishes to a RabbitMQ queue with `sendToQueue` on a confirm channel (persistent messages,
 * `message_id` = eventId). Reconnects on the next publish after RabbitMQ went away.
 */
export class RabbitPublisher implements QueuePublisher {
  private connection: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  readonly description: string;

  constructor(
    private readonly url: string,
    private readonly queue: string,
  ) {
    this.description = `RabbitMQ queue ${queue}`;
  }

  private async ensureChannel(): Promise<ConfirmChannel> {
    if (this.channel) return this.channel;
    const connection = await amqp.connect(this.url);
    connection.on('error', () => undefined);
    connection.on('close', () => {
      if (this.connection === connection) {
        this.connection = undefined;
        this.channel = undefined;
      }
    });
    try {
      const channel = await connection.createConfirmChannel();
      channel.on('error', () => undefined);
      // The bridge declares the queue (with its dead-letter exchange); publishing to a missing one would be silently dropped.
      await channel.checkQueue(this.queue).catch((err: unknown) => {
        throw new TributaryError(
          'not_found',
          `RabbitMQ queue ${this.queue} does not exist: start \`tributary bridge rabbitmq --queue ${this.queue}\` first (${(err as Error).message})`,
        );
      });
      this.connection = connection;
      this.channel = channel;
      return channel;
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  async check(): Promise<void> {
    await this.ensureChannel();
  }

  async publish(events: Array<{ eventId: string; userId: string }>): Promise<void> {
    const channel = await this.ensureChannel();
    try {
      for (const e of events) {
        channel.sendToQueue(this.queue, Buffer.from(JSON.stringify(e)), {
          persistent: true,
          contentType: 'application/json',
          messageId: e.eventId,
        });
      }
      await channel.waitForConfirms();
    } catch (err) {
      this.channel = undefined;
      await this.connection?.close().catch(() => undefined);
      this.connection = undefined;
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.connection?.close().catch(() => undefined);
    this.connection = undefined;
    this.channel = undefined;
  }
}

/**
 * Publishes to an SQS queue with SendMessageBatch (10 per call). A FIFO queue (`.fifo`) gets the
 * userId as MessageGroupId, so each user's events keep their order, and the eventId as
 * MessageDeduplicationId.
 */
export class SqsPublisher implements QueuePublisher {
  readonly description: string;
  private readonly fifo: boolean;

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {
    this.description = `SQS queue ${queueUrl}`;
    this.fifo = queueUrl.endsWith('.fifo');
  }

  async check(): Promise<void> {
    try {
      await this.client.send(new GetQueueAttributesCommand({ QueueUrl: this.queueUrl, AttributeNames: ['QueueArn'] }));
    } catch (err) {
      throw new TributaryError('unavailable', `cannot reach SQS queue ${this.queueUrl}: ${(err as Error).message}`);
    }
  }

  async publish(events: Array<{ eventId: string; userId: string }>): Promise<void> {
    for (let i = 0; i < events.length; i += 10) {
      const chunk = events.slice(i, i + 10);
      const out = await this.client.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((e, j) => ({
            Id: String(j),
            MessageBody: JSON.stringify(e),
            ...(this.fifo ? { MessageGroupId: e.userId, MessageDeduplicationId: e.eventId } : {}),
          })),
        }),
      );
      if (out.Failed?.length)
        throw new TributaryError(
          'refused',
          `SQS refused ${out.Failed.length} of ${chunk.length} messages: ${out.Failed[0]!.Code} ${out.Failed[0]!.Message ?? ''}`,
        );
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
