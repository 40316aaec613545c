import {
  Kafka,
  Partitioners,
  logLevel,
  type Admin,
  type LogEntry,
  type Producer,
  type RecordMetadata,
  type SASLOptions,
} from 'kafkajs';
import { TributaryError } from '../errors';
import type { Config } from '../config';
import type { Logger } from '../logger';

/**
 * Our thin adapter over kafkajs. Stages get Kafka clients from here, configured the one way
 * Tributary needs them, so a faster client can replace kafkajs behind these functions later.
 */

// The kafkajs types the stages handle, so that nothing outside platform/kafka/ imports kafkajs.
export type {
  Admin,
  Consumer,
  EachBatchPayload,
  ITopicConfig,
  Kafka,
  KafkaMessage,
  Producer,
  RecordMetadata,
} from 'kafkajs';

/** acks=all: a write is acknowledged once every in-sync replica has it. */
export const ACKS_ALL = -1;

export interface KafkaDeps {
  config: Pick<Config['kafka'], 'brokers' | 'ssl' | 'sasl'> & Partial<Pick<Config['kafka'], 'sslCa'>>;
  logger: Logger;
  clientId: string;
}

export function createKafka({ config, logger, clientId }: KafkaDeps): Kafka {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers: config.brokers,
    // A CA file (KAFKA_SSL_CA_FILE) is trusted instead of Node's default CAs; the host name is still verified.
    ssl: config.sslCa ? { ca: [config.sslCa] } : config.ssl,
    sasl: saslOptions(config.sasl),
    logLevel: logLevel.INFO,
    logCreator: () => (entry) => routeLog(kafkaLogger, entry),
    // kafkajs' backoff doubles up to maxRetryTime (30 s by default): after a broker came back, a
    // send could sit out a 17 s wait (fault suite, broker phase). Capped at 2 s, with more retries
    // for about the same budget (~17 s) before a send fails to its caller, which retries again.
    retry: { initialRetryTime: 100, maxRetryTime: 2000, retries: 12 },
  });
}

const TRANSIENT =
  /coordinator is loading|coordinator is not available|not the correct coordinator|group is rebalancing|There is no leader|does not host this topic-partition|leadership election|Connection error|ECONNREFUSED|Connection timeout|Closed connection|write after end|Broker not available|The group member needs to have a valid member id|Restarting the consumer/i;

/** kafkajs log entries land in our pino logger at the same level, with their fields. */
function routeLog(logger: Logger, { level, label, log }: LogEntry): void {
  const {
    message,
    timestamp: _t,
    logger: _l,
    ...fields
  } = log as { message: string; timestamp?: string; logger?: string };
  // kafkajs logs each failed request at ERROR even while it retries it; what it gives up on
  // reaches our code as an exception, which is where we decide how bad it is.
  // Expected while a broker starts, a group forms or leadership moves: kafkajs retries them, so
  // they are states, not errors (debug); what kafkajs gives up on still reaches our code.
  const transient = TRANSIENT.test(`${message} ${String((fields as { error?: unknown }).error ?? '')}`);
  const pinoLevel = transient
    ? 'debug'
    : level === logLevel.ERROR || level === logLevel.WARN
      ? 'warn'
      : level === logLevel.DEBUG
        ? 'debug'
        : 'info';
  // kafkajs logs every connection and group join at INFO; at our `info` those are noise.
  if (pinoLevel === 'info' && !logger.isLevelEnabled('debug')) return;
  logger[pinoLevel]({ kafkaLevel: label, ...fields }, message);
}

/**
 * A producer with acks=all, one request in flight per broker and the Java-compatible murmur2
 * partitioner, so a key lands on the same partition as it would from a Java, librdkafka
 * (murmur2_random) or Go client.
 *
 * Deliberately NOT kafkajs' idempotent producer: kafkajs 2.2 advances a partition's sequence
 * number before a produce request and rolls it back when the request fails, even when the broker
 * wrote it (a request timeout, a connection closed before the answer). The next batch then
 * reuses the written batch's sequence numbers, and the broker acknowledges it as a duplicate
 * without writing it: an acknowledged event that is not in Kafka. Seen as 5 lost events in the
 * fault suite (a broker SIGKILLed under load) and reproduced on demand by
 * client.int.test.ts (requests that time out). Tributary's delivery is at-least-once by design:
 * a retried send may write a record twice, and the processor drops repeated eventIds, while a
 * send that resolves has always been written by every in-sync replica.
 */
export async function connectProducer(kafka: Kafka): Promise<Producer> {
  const producer = kafka.producer({
    idempotent: false,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return producer;
}

/**
 * Runs `work` (a flush the batch handler waits for) and heartbeats the consumer group every
 * `intervalMs`, through `heartbeat` (the latest batch's), while the work shows progress: `work`
 * calls `progressed()` whenever it finishes an attempt (an insert or a send, failed or not).
 * kafkajs only heartbeats between batches, so a flush that waits on a slow or unavailable
 * ClickHouse or Kafka for longer than the session timeout would otherwise cost the member its
 * partitions and the group a rebalance, for nothing: the next owner would wait on the same
 * outage. NOTE: never a bare timer heartbeat (kafkajs maintainers: it disables failure
 * detection): a flush stuck in one attempt for `staleAfterMs` stops heartbeating, and its member
 * expires like a dead one.
 */
export async function keepingMembership<T>(
  heartbeat: () => Promise<void> | undefined,
  timing: { intervalMs: number; staleAfterMs: number },
  work: (progressed: () => void) => Promise<T>,
): Promise<T> {
  let lastProgress = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - lastProgress < timing.staleAfterMs) void heartbeat()?.catch(() => undefined);
  }, timing.intervalMs);
  try {
    return await work(() => {
      lastProgress = Date.now();
    });
  } finally {
    clearInterval(timer);
  }
}

/**
 * How many brokers a one-shot, silent admin connection to `brokers` sees; rejects when none
 * answers. For readiness probes (the local broker's start-up), not for the stages.
 */
/** A copy: kafkajs adds its authentication provider (holding the credentials) to the object it is given. */
function saslOptions(sasl: Config['kafka']['sasl']): SASLOptions | undefined {
  return sasl ? ({ ...sasl } as SASLOptions) : undefined;
}

export async function countBrokers(
  brokers: string[],
  security: Partial<Pick<Config['kafka'], 'ssl' | 'sslCa' | 'sasl'>> = {},
): Promise<number> {
  const admin = new Kafka({
    clientId: 'tributary-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    ssl: security.sslCa ? { ca: [security.sslCa] } : security.ssl,
    sasl: saslOptions(security.sasl),
  }).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function connectAdmin(kafka: Kafka): Promise<Admin> {
  const admin = kafka.admin();
  await admin.connect();
  return admin;
}

/** One record to produce, its partition chosen by the caller (so a send can be checked per partition). */
export interface OutgoingRecord {
  topic: string;
  partition: number;
  key: string | Buffer | null;
  value: Buffer | null;
}

export interface PartitionedMessages {
  topic: string;
  messages: Array<{ key: string | Buffer | null; value: Buffer | string | null; partition: number }>;
}

/**
 * producer.sendBatch with acks=all, checked. kafkajs can resolve a send without having sent the
 * messages of a partition whose leader moved, during a retry, to a broker that had already
 * answered (its retry only re-sends to brokers without a response). Seen with a broker
 * SIGKILLed under load. A result that lacks a partition we sent to is a retriable error here,
 * never a silent success. Messages carry explicit partitions so the check knows what to expect.
 * @see node_modules/kafkajs/src/producer/sendMessages.js (responsePerBroker)
 */
export async function sendChecked(producer: Producer, topicMessages: PartitionedMessages[]): Promise<RecordMetadata[]> {
  const results = await producer.sendBatch({ acks: ACKS_ALL, topicMessages });
  const key = (topic: string, partition: number) => `${topic}\u0000${partition}`;
  const answered = new Set(results.filter((r) => r.errorCode === 0).map((r) => key(r.topicName, r.partition)));
  const unsent = topicMessages
    .map(({ topic, messages }) => ({ topic, messages: messages.filter((m) => !answered.has(key(topic, m.partition))) }))
    .filter(({ messages }) => messages.length > 0);
  if (unsent.length > 0)
    throw new PartialSendError(
      results.filter((r) => r.errorCode === 0),
      unsent,
    );
  return results;
}

/** A send Kafka acknowledged without some of its partitions: those were not written, the others were. */
export class PartialSendError extends TributaryError {
  constructor(
    readonly acknowledged: RecordMetadata[],
    readonly unsent: PartitionedMessages[],
  ) {
    const partitions = [
      ...new Set(unsent.flatMap(({ topic, messages }) => messages.map((m) => `${topic}/${m.partition}`))),
    ];
    super(
      'partial_send',
      `Kafka acknowledged the send without partition(s) ${partitions.join(', ')}; not treating it as written`,
      { retriable: true },
    );
    this.name = 'PartialSendError';
  }
}

/**
 * Kafka answered a produce with an error that no retry changes (a record batch over the topic's
 * `max.message.bytes`, a corrupt or invalid record, a topic policy): kafkajs' protocol errors it
 * does not retry, also when wrapped in its retry errors. An outage is never this.
 */
export function refusedByKafka(err: unknown): boolean {
  for (
    let e = err as { name?: unknown; retriable?: unknown; cause?: unknown; originalError?: unknown } | undefined,
      depth = 0;
    e && depth < 5;
    depth++
  ) {
    if (e.name === 'KafkaJSProtocolError') return e.retriable === false;
    e = (e.cause ?? e.originalError) as typeof e;
  }
  return false;
}

/** How many times CheckedProducer re-sends the partitions kafkajs left out before failing the send. */
const PARTIAL_RESENDS = 5;

/**
 * A connected producer whose every send goes through sendChecked: what the stages that write
 * events and rollups hold (ingest, the bridges, TributaryProducer, the processor).
 */
export class CheckedProducer {
  private constructor(private readonly producer: Producer) {}

  static async connect(kafka: Kafka): Promise<CheckedProducer> {
    return new CheckedProducer(await connectProducer(kafka));
  }

  /**
   * sendChecked, and when kafkajs left partitions out, a re-send of only those (what its own
   * retry should have done): the caller sees one send, and the partitions already written are
   * not written again. Fails, retriably, if they are still left out after PARTIAL_RESENDS.
   */
  async send(topicMessages: PartitionedMessages[]): Promise<RecordMetadata[]> {
    const written: RecordMetadata[] = [];
    let pending = topicMessages;
    for (let resend = 0; ; resend++) {
      try {
        return [...written, ...(await sendChecked(this.producer, pending))];
      } catch (err) {
        if (!(err instanceof PartialSendError) || resend >= PARTIAL_RESENDS) throw err;
        written.push(...err.acknowledged);
        pending = err.unsent;
      }
    }
  }

  /** `send` for records of any topics, grouped by topic in the order given. */
  sendRecords(records: OutgoingRecord[]): Promise<RecordMetadata[]> {
    const byTopic = new Map<string, PartitionedMessages['messages']>();
    for (const { topic, key, value, partition } of records) {
      let messages = byTopic.get(topic);
      if (!messages) byTopic.set(topic, (messages = []));
      messages.push({ key, value, partition });
    }
    return this.send([...byTopic].map(([topic, messages]) => ({ topic, messages })));
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}
