import { Kafka, Partitioners, logLevel, type Admin, type LogEntry, type Producer, type RecordMetadata, type SASLOptions } from 'kafkajs';
import { TributaryError } from '../errors';
import type { Config } from '../config';
import type { Logger } from '../logger';

/**
 * Our thin adapter over kafkajs. Stages get Kafka clients from here, configured the one way
 * Tributary needs them, so a faster client can replace kafkajs behind these functions later.
 */

export type { Admin, Producer };

/** acks=all: a write is acknowledged once every in-sync replica has it. */
export const ACKS_ALL = -1;

export interface KafkaDeps {
  config: Pick<Config['kafka'], 'brokers' | 'ssl' | 'sasl'>;
  logger: Logger;
  clientId: string;
}

export function createKafka({ config, logger, clientId }: KafkaDeps): Kafka {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId,
    brokers: config.brokers,
    ssl: config.ssl,
    sasl: config.sasl as SASLOptions | undefined,
    logLevel: logLevel.INFO,
    logCreator: () => (entry) => routeLog(kafkaLogger, entry),
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

/** kafkajs log entries land in our pino logger at the same level, with their fields. */
function routeLog(logger: Logger, { level, label, log }: LogEntry): void {
  const { message, timestamp: _t, logger: _l, ...fields } = log as { message: string; timestamp?: string; logger?: string };
  // kafkajs logs each failed request at ERROR even while it retries it; what it gives up on
  // reaches our code as an exception, which is where we decide how bad it is.
  const pinoLevel = level === logLevel.ERROR || level === logLevel.WARN ? 'warn' : level === logLevel.DEBUG ? 'debug' : 'info';
  // kafkajs logs every connection and group join at INFO; at our `info` those are noise.
  if (pinoLevel === 'info' && !logger.isLevelEnabled('debug')) return;
  // Bounded producer retries are deliberate (ingest answers 503 rather than hang).
  if (message.startsWith('Limiting retries for the idempotent producer')) return;
  logger[pinoLevel]({ kafkaLevel: label, ...fields }, message);
}

/**
 * The idempotent producer with acks=all and the Java-compatible murmur2 partitioner, so a key
 * lands on the same partition as it would from a Java, librdkafka (murmur2_random) or Go client.
 */
export async function connectProducer(kafka: Kafka, options: { transactionalId?: string } = {}): Promise<Producer> {
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    ...(options.transactionalId ? { transactionalId: options.transactionalId } : {}),
  });
  await producer.connect();
  return producer;
}

export async function connectAdmin(kafka: Kafka): Promise<Admin> {
  const admin = kafka.admin();
  await admin.connect();
  return admin;
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
  const answered = new Set(results.filter((r) => r.errorCode === 0).map((r) => `${r.topicName}\u0000${r.partition}`));
  const missing = new Set<string>();
  for (const { topic, messages } of topicMessages) {
    for (const m of messages) if (!answered.has(`${topic}\u0000${m.partition}`)) missing.add(`${topic}/${m.partition}`);
  }
  if (missing.size > 0) {
    throw new TributaryError(`Kafka acknowledged the send without partition(s) ${[...missing].join(', ')}; not treating it as written`, { retriable: true });
  }
  return results;
}

/** Broker answers that mean the idempotent producer's id or sequence state is broken for good. */
const PRODUCER_STATE_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_EPOCH', 'INVALID_PRODUCER_ID_MAPPING']);

/** True when `err` (or what caused it, or one of its aggregated errors) is a producer-state error. */
export function isProducerStateError(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  const e = err as { type?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.type === 'string' && PRODUCER_STATE_ERRORS.has(e.type)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isProducerStateError(x, depth + 1))) return true;
  return isProducerStateError(e.cause, depth + 1);
}

/**
 * The idempotent producer, replaced by a new one (new producer id, sequences from 0) when the
 * broker rejects its state. After a leader change under load kafkajs can get its sequence
 * numbers out of step with the broker's, which then answers OUT_OF_ORDER_SEQUENCE_NUMBER to every
 * later send: a producer that never recovers (seen in the fault suite, a broker SIGKILLed). The
 * failed send still fails (retriable); the caller's retry goes out on the new producer, and its
 * records' eventIds make any copy of an earlier attempt harmless.
 */
export class RecoveringProducer {
  private producer: Producer | undefined;
  private connecting: Promise<Producer> | undefined;
  /** How many times the producer was replaced. */
  replacements = 0;

  private constructor(private readonly kafka: Kafka, private readonly logger: Logger) {}

  static async connect(kafka: Kafka, logger: Logger): Promise<RecoveringProducer> {
    const recovering = new RecoveringProducer(kafka, logger);
    await recovering.get();
    return recovering;
  }

  private get(): Promise<Producer> {
    if (this.producer) return Promise.resolve(this.producer);
    this.connecting ??= connectProducer(this.kafka)
      .then((p) => { this.producer = p; return p; })
      .finally(() => { this.connecting = undefined; });
    return this.connecting;
  }

  /** sendChecked on the current producer; a producer-state error replaces it before rethrowing (retriable). */
  async send(topicMessages: PartitionedMessages[]): Promise<RecordMetadata[]> {
    const producer = await this.get();
    try {
      return await sendChecked(producer, topicMessages);
    } catch (err) {
      if (!isProducerStateError(err)) throw err;
      if (this.producer === producer) {
        this.producer = undefined;
        this.replacements += 1;
        this.logger.warn({ err: (err as Error).message }, 'kafka.producer.replaced');
        void producer.disconnect().catch(() => undefined);
      }
      throw new TributaryError(`Kafka rejected the producer's state (${(err as Error).message}); a new producer takes the retry`, { retriable: true, cause: err });
    }
  }

  async disconnect(): Promise<void> {
    const producer = this.producer ?? (await this.connecting?.catch(() => undefined));
    this.producer = undefined;
    await producer?.disconnect();
  }
}
