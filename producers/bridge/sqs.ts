import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from '@aws-sdk/client-sqs';
import type { Logger } from '../../platform/logger';
import { errorMessage, TributaryError } from '../../platform/errors';
import { backoffDelay, retry, sleep } from '../../platform/retry';
import { BridgeStopped, type BridgeCore, type QueueSource } from './core';
import type { BridgeMetrics } from './metrics';

export interface SqsBridgeOptions {
  queueUrl: string;
  /** Receive loops running at once; each handles up to 10 messages per ReceiveMessage. */
  concurrency: number;
  /** Long-poll wait of ReceiveMessage (0–20 s). */
  waitSeconds: number;
  /** Seconds a received message stays invisible; extended while its batch is still being produced. */
  visibilityTimeout: number;
}

export interface SqsClientOptions {
  queueUrl: string;
  endpoint?: string | undefined;
  region?: string | undefined;
}

/**
 * An SQS client for a queue URL. The region comes from `region`, AWS_REGION, or the URL
 * (`sqs.<region>.amazonaws.com`); a URL that is not AWS's is its own endpoint (an SQS-compatible
 * server such as ElasticMQ), which also gets placeholder credentials when none are configured.
 */
export function sqsClient(opts: SqsClientOptions): SQSClient {
  const url = new URL(opts.queueUrl);
  const aws = /(^|\.)amazonaws\.com(\.cn)?$/.test(url.hostname);
  const endpoint = opts.endpoint ?? (aws ? undefined : url.origin);
  const region =
    opts.region ?? process.env.AWS_REGION ?? /sqs[.-]([a-z0-9-]+)\.amazonaws/.exec(url.hostname)?.[1] ?? 'us-east-1';
  const hasCredentials = Boolean(
    process.env.AWS_ACCESS_KEY_ID || process.env.AWS_PROFILE || process.env.AWS_WEB_IDENTITY_TOKEN_FILE,
  );
  return new SQSClient({
    region,
    ...(endpoint ? { endpoint } : {}),
    ...(endpoint && !hasCredentials ? { credentials: { accessKeyId: 'tributary', secretAccessKey: 'tributary' } } : {}),
  });
}

/** The queue does not exist or cannot be read with these credentials: retrying cannot help. */
export class SqsConfigError extends TributaryError {
  constructor(message: string) {
    super('config', message);
    this.name = 'SqsConfigError';
  }
}

/**
 * `tributary bridge sqs`: long-polls the queue in batches of up to 10, produces every valid
 * message's events to Kafka (one send per batch, so a FIFO message group keeps its order), and
 * deletes only the messages Kafka acknowledged. Invalid messages are recorded in events.dlq with
 * the reason, then deleted. While a batch waits for Kafka its messages' visibility is extended,
 * so a slow Kafka does not hand them to another consumer; a crashed bridge leaves them to
 * reappear after the visibility timeout, and the processor drops the copies by eventId.
 */
export class SqsBridge implements QueueSource {
  private readonly loops: Array<Promise<void>> = [];
  private depthTimer: NodeJS.Timeout | undefined;
  private receiving = false;
  /** Aborted by stop(): no new receives; the batches in hand still finish (until `signal` aborts). */
  private readonly stopReceiving = new AbortController();

  constructor(
    private readonly opts: SqsBridgeOptions,
    private readonly client: SQSClient,
    private readonly core: BridgeCore,
    private readonly metrics: BridgeMetrics,
    private readonly logger: Logger,
    private readonly signal: AbortSignal,
  ) {}

  /** True once a receive succeeded and until one fails. */
  get isConnected(): boolean {
    return this.receiving;
  }

  /** Waits (with backoff) until the queue answers; a queue that is missing or forbidden (a 4xx) fails the start. */
  async start(): Promise<void> {
    const clientError = (err: unknown) => {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      return status !== undefined && status >= 400 && status < 500;
    };
    try {
      await retry(() => this.sampleDepth(true), {
        initialMs: 500,
        maxMs: 10_000,
        signal: this.signal,
        giveUp: (err) => clientError(err) || this.signal.aborted,
        onRetry: (err, _attempt, delay) =>
          this.logger.warn({ err: errorMessage(err), retryInMs: delay }, 'bridge.sqs.unreachable'),
      });
    } catch (err) {
      if (clientError(err))
        throw new SqsConfigError(`cannot read SQS queue ${this.opts.queueUrl}: ${errorMessage(err)}`);
      throw err;
    }
    for (let i = 0; i < this.opts.concurrency; i++) this.loops.push(this.receiveLoop(i));
    this.depthTimer = setInterval(() => void this.sampleDepth(false).catch(() => undefined), 5000);
    this.depthTimer.unref();
    this.logger.info({ queueUrl: this.opts.queueUrl, concurrency: this.opts.concurrency }, 'bridge.sqs.receiving');
  }

  private async receiveLoop(loop: number): Promise<void> {
    let failures = 0;
    const stopped = AbortSignal.any([this.signal, this.stopReceiving.signal]);
    while (!stopped.aborted) {
      let messages: Message[];
      try {
        const out = await this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.opts.queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: this.opts.waitSeconds,
            VisibilityTimeout: this.opts.visibilityTimeout,
            MessageSystemAttributeNames: ['ApproximateReceiveCount', 'MessageGroupId'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: stopped },
        );
        messages = out.Messages ?? [];
        this.receiving = true;
        failures = 0;
      } catch (err) {
        if (stopped.aborted) return;
        this.receiving = false;
        const delay = backoffDelay(failures++, { initialMs: 500, maxMs: 10_000 });
        this.logger.warn({ loop, err: errorMessage(err), retryInMs: delay }, 'bridge.sqs.receive_failed');
        await sleep(delay, stopped);
        continue;
      }
      if (messages.length > 0) {
        await this.handleBatch(messages).catch((err: unknown) => {
          // Not deleted: the messages reappear after the visibility timeout.
          this.logger.error({ err }, 'bridge.sqs.batch_failed');
        });
      }
    }
  }

  private async handleBatch(messages: Message[]): Promise<void> {
    const prepared = messages.map((m) =>
      this.core.prepare({
        id: m.MessageId!,
        body: Buffer.from(m.Body ?? '', 'utf8'),
        contentType:
          m.MessageAttributes?.['content-type']?.StringValue ?? m.MessageAttributes?.contentType?.StringValue,
        redelivered: Number(m.Attributes?.ApproximateReceiveCount ?? '1') > 1,
      }),
    );
    const heartbeat = setInterval(
      () => void this.extendVisibility(messages),
      Math.max(1, this.opts.visibilityTimeout / 2) * 1000,
    );
    try {
      // Valid events and dead letters, submitted together (one send, unless the topics' batch limits
      // split it); a message Kafka refuses for good is dead-lettered alone, the others go through.
      await Promise.all(prepared.map((p) => this.core.produce(p)));
    } catch (err) {
      if (err instanceof BridgeStopped) return; // not deleted: SQS hands them out again
      throw err;
    } finally {
      clearInterval(heartbeat);
    }
    await this.deleteAll(messages);
  }

  private async extendVisibility(messages: Message[]): Promise<void> {
    try {
      await this.client.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: this.opts.queueUrl,
          Entries: messages.map((m, i) => ({
            Id: String(i),
            ReceiptHandle: m.ReceiptHandle!,
            VisibilityTimeout: this.opts.visibilityTimeout,
          })),
        }),
      );
      this.metrics.visibilityExtensions.inc({ source: this.core.source }, messages.length);
    } catch (err) {
      this.logger.warn({ err: errorMessage(err) }, 'bridge.sqs.visibility_failed');
    }
  }

  /** Deletes the produced messages, retrying failures a few times; what stays undeleted reappears and is deduplicated. */
  private async deleteAll(messages: Message[]): Promise<void> {
    let pending = messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! }));
    for (let attempt = 0; pending.length > 0 && attempt < 5 && !this.signal.aborted; attempt++) {
      try {
        const out = await this.client.send(
          new DeleteMessageBatchCommand({ QueueUrl: this.opts.queueUrl, Entries: pending }),
        );
        const failed = new Set((out.Failed ?? []).filter((f) => !f.SenderFault).map((f) => f.Id));
        for (const f of out.Failed ?? [])
          if (f.SenderFault)
            this.logger.warn({ id: f.Id, code: f.Code, message: f.Message }, 'bridge.sqs.delete_refused');
        pending = pending.filter((e) => failed.has(e.Id));
      } catch (err) {
        this.logger.warn({ err: errorMessage(err), attempt }, 'bridge.sqs.delete_failed');
      }
      if (pending.length > 0) await sleep(backoffDelay(attempt, { initialMs: 250, maxMs: 4000 }), this.signal);
    }
  }

  private async sampleDepth(throwErrors: boolean): Promise<void> {
    try {
      const out = await this.client.send(
        new GetQueueAttributesCommand({
          QueueUrl: this.opts.queueUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      );
      this.metrics.queueDepth.set(
        { source: this.core.source },
        Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
      );
    } catch (err) {
      if (throwErrors) throw err;
      this.logger.debug({ err: errorMessage(err) }, 'bridge.sqs.depth_failed');
    }
  }

  /** Stops receiving and waits for the batches in hand (abort the bridge's signal to abandon them). */
  async stop(): Promise<void> {
    clearInterval(this.depthTimer);
    this.stopReceiving.abort();
    await Promise.allSettled(this.loops);
    this.client.destroy();
  }
}
