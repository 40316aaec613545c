import amqp, { type Channel, type ChannelModel, type ConsumeMessage } from 'amqplib';
import type { Logger } from '../../platform/logger';
import { errorMessage, TributaryError } from '../../platform/errors';
import { retry } from '../../platform/retry';
import { BridgeStopped, type BridgeCore, type QueueSource } from './core';
import { contentId } from './event-id';
import type { BridgeMetrics } from './metrics';

export interface RabbitBridgeOptions {
  url: string;
  queue: string;
  /** Bind the queue to this exchange (declared durable with `exchangeType`). */
  exchange?: string | undefined;
  exchangeType?: 'direct' | 'topic' | 'fanout';
  bindingKey?: string;
  /** Unacknowledged messages the broker hands this bridge at once. */
  prefetch: number;
  /** Where rejected messages go; declared (fanout) with a `<queue>.dead` queue bound to it. */
  deadLetterExchange?: string | undefined;
}

/** A configuration the broker refuses (access, a queue declared with other arguments): retrying cannot help. */
export class RabbitConfigError extends TributaryError {
  constructor(message: string) {
    super('config', message);
    this.name = 'RabbitConfigError';
  }
}

const FATAL_CODES = new Set([403, 404, 406]);

/**
 * `tributary bridge rabbitmq`: consumes a durable queue with a bounded prefetch, produces each
 * valid message's events to Kafka and acks the message only after Kafka acknowledged them. An
 * invalid message is recorded in events.dlq with the reason, then rejected without requeue, so
 * RabbitMQ moves it to the dead-letter exchange. When RabbitMQ goes away the bridge reconnects
 * with backoff; messages it had not acked are redelivered, and the processor drops the copies
 * by eventId. Kafka unavailable: the produce retries while the prefetch bounds what is held.
 */
export class RabbitBridge implements QueueSource {
  private connection: ChannelModel | undefined;
  private consumer: { channel: Channel; tag: string } | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private stopping = false;
  private connected = false;
  private reconnecting: Promise<void> | undefined;
  private depthTimer: NodeJS.Timeout | undefined;
  constructor(
    private readonly opts: RabbitBridgeOptions,
    private readonly core: BridgeCore,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    private readonly signal: AbortSignal,
  ) {}

  get isConnected(): boolean {
    return this.connected;
  }

  /** Connects and starts consuming; a broker that refuses the configuration fails the start. */
  async start(): Promise<void> {
    await this.connectWithRetry(true);
    this.depthTimer = setInterval(() => void this.sampleDepth(), 5000);
    this.depthTimer.unref();
  }

  private async connectWithRetry(firstStart: boolean): Promise<void> {
    const refusal = (err: unknown): RabbitConfigError | undefined => {
      const code = (err as { code?: number }).code;
      if (code !== undefined && FATAL_CODES.has(code)) {
        const hint =
          code === 406
            ? ' (an existing queue keeps the arguments it was declared with: pass its --dead-letter-exchange, or bridge a new queue)'
            : '';
        return new RabbitConfigError(
          `RabbitMQ refused the bridge's set-up of queue ${this.opts.queue}: ${errorMessage(err)}${hint}`,
        );
      }
      if (/ACCESS.REFUSED/i.test(errorMessage(err)) && firstStart)
        return new RabbitConfigError(`RabbitMQ refused the credentials in the URL: ${errorMessage(err)}`);
      return undefined;
    };
    try {
      await retry(
        async () => {
          if (!this.stopping) await this.connect();
        },
        {
          initialMs: 500,
          maxMs: 10_000,
          signal: this.signal,
          // A refused set-up fails the first start; later (a reconnect) it is logged and retried.
          giveUp: (err) => (firstStart && refusal(err) !== undefined) || this.stopping,
          onRetry: (err, _attempt, delay) => {
            const refused = refusal(err);
            if (refused) this.logger.error({ err: refused.message }, 'bridge.rabbitmq.refused');
            else this.logger.warn({ err: errorMessage(err), retryInMs: delay }, 'bridge.rabbitmq.connect_failed');
          },
        },
      );
    } catch (err) {
      if (this.stopping) return;
      throw refusal(err) ?? err;
    }
  }

  private async connect(): Promise<void> {
    const { opts } = this;
    const connection = await amqp.connect(opts.url, {
      clientProperties: { connection_name: `tributary-bridge ${opts.queue}` },
    });
    // Listeners first: a refused declaration errors the channel and the connection ('error' unheard would crash).
    connection.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'bridge.rabbitmq.connection_error'));
    try {
      const channel = await connection.createChannel();
      channel.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'bridge.rabbitmq.channel_error'));
      const dlx = opts.deadLetterExchange ?? `${opts.queue}.dlx`;
      await channel.assertExchange(dlx, 'fanout', { durable: true });
      await channel.assertQueue(`${opts.queue}.dead`, { durable: true });
      await channel.bindQueue(`${opts.queue}.dead`, dlx, '');
      await channel.assertQueue(opts.queue, { durable: true, arguments: { 'x-dead-letter-exchange': dlx } });
      if (opts.exchange) {
        await channel.assertExchange(opts.exchange, opts.exchangeType ?? 'direct', { durable: true });
        await channel.bindQueue(opts.queue, opts.exchange, opts.bindingKey ?? '');
      }
      await channel.prefetch(opts.prefetch);
      connection.on('close', () => this.onLost('connection closed'));
      channel.on('close', () => this.onLost('channel closed'));
      const { consumerTag } = await channel.consume(
        opts.queue,
        (msg) => {
          if (msg === null) this.onLost('consumer cancelled by the broker');
          else this.track(this.handle(channel, msg));
        },
        { noAck: false },
      );
      this.connection = connection;
      this.consumer = { channel, tag: consumerTag };
      this.connected = true;
      this.logger.info(
        { queue: opts.queue, prefetch: opts.prefetch, deadLetterExchange: dlx, exchange: opts.exchange },
        'bridge.rabbitmq.consuming',
      );
    } catch (err) {
      await connection.close().catch(() => undefined);
      throw err;
    }
  }

  private onLost(why: string): void {
    if (this.stopping || !this.connected) return;
    this.connected = false;
    this.logger.warn({ why }, 'bridge.rabbitmq.lost');
    const old = this.connection;
    this.connection = undefined;
    this.consumer = undefined;
    void old?.close().catch(() => undefined);
    this.reconnecting ??= this.connectWithRetry(false).finally(() => {
      this.reconnecting = undefined;
    });
  }

  private track(p: Promise<void>): void {
    const handled = p.catch((err: unknown) => {
      // Left unacknowledged: RabbitMQ redelivers it on the next connection.
      this.logger.error({ err }, 'bridge.rabbitmq.message_failed');
    });
    this.inflight.add(handled);
    void handled.finally(() => this.inflight.delete(handled));
  }

  private async handle(channel: Channel, msg: ConsumeMessage): Promise<void> {
    const prepared = this.core.prepare({
      id:
        typeof msg.properties.messageId === 'string' && msg.properties.messageId
          ? msg.properties.messageId
          : contentId(msg.content),
      body: msg.content,
      contentType: msg.properties.contentType as string | undefined,
      redelivered: msg.fields.redelivered,
    });
    let produced;
    try {
      produced = await this.core.produce(prepared);
    } catch (err) {
      if (err instanceof BridgeStopped) return; // unacked: RabbitMQ redelivers it
      throw err;
    }
    try {
      // Valid: done. Invalid: its dead letter is in Kafka; reject it to the dead-letter exchange.
      if (produced.outcome.ok) channel.ack(msg);
      else channel.nack(msg, false, false);
    } catch (err) {
      // The channel closed after the produce: RabbitMQ redelivers, dedup drops the copy.
      this.logger.debug({ err: errorMessage(err) }, 'bridge.rabbitmq.ack_lost');
    }
  }

  private async sampleDepth(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    try {
      // A channel of its own: a failed check closes the channel it runs on.
      const channel = await connection.createChannel();
      const { messageCount } = await channel.checkQueue(this.opts.queue);
      this.metrics.queueDepth.set({ source: this.core.source }, messageCount);
      await channel.close();
    } catch (err) {
      this.logger.debug({ err: errorMessage(err) }, 'bridge.rabbitmq.depth_failed');
    }
  }

  /** Stops consuming, lets the messages in hand finish (or abandons them unacked when `signal` aborts), closes. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.depthTimer);
    await this.consumer?.channel.cancel(this.consumer.tag).catch(() => undefined);
    await Promise.allSettled([...this.inflight]);
    await this.connection?.close().catch(() => undefined);
    this.connection = undefined;
    this.connected = false;
  }
}
