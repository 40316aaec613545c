import { Kafka, Partitioners, logLevel, type Admin, type LogEntry, type Producer, type SASLOptions } from 'kafkajs';
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
