import { z } from 'zod';
import {
  PLACEHOLDERS,
  commaSeparated,
  optional,
  placeholderError,
  port,
  positiveInt,
  refusePlaceholder,
  section,
  url,
} from '../platform/config';

/** Ingest's and the bridges' settings. */
export const producersSection = section(
  {
    INGEST_PORT: optional(port).default(8080),
    /** Comma-separated write keys for the ingestion endpoint. */
    WRITE_KEYS: optional(commaSeparated),
    /** `off` turns ingestion auth off explicitly (required to run without WRITE_KEYS on an external Kafka). */
    INGEST_AUTH: optional(z.enum(['on', 'off'])).default('on'),
    INGEST_MAX_EVENT_BYTES: optional(positiveInt).default(32 * 1024),
    INGEST_MAX_BODY_BYTES: optional(positiveInt).default(1024 * 1024),
    INGEST_MAX_EVENTS: optional(positiveInt).default(1000),
    /** Bytes accepted but not yet acknowledged by Kafka; above it requests get 429. */
    INGEST_MAX_INFLIGHT_BYTES: optional(positiveInt).default(64 * 1024 * 1024),
    /** How long concurrent requests are gathered into one Kafka send. */
    INGEST_LINGER_MS: optional(z.coerce.number().int().min(0).max(1000)).default(2),
    /** How long a request waits for Kafka before it is answered 503. */
    INGEST_PRODUCE_TIMEOUT_MS: optional(positiveInt).default(10_000),
    /** `on`: ingest answers 503 while DATA_DIR (where the local broker writes) is below DATA_DIR_MIN_FREE_MB; `tributary start` turns it on with its own broker. */
    INGEST_DISK_GUARD: optional(z.enum(['on', 'off'])).default('off'),
    /** Port of a bridge's /healthz, /readyz and /metrics. */
    BRIDGE_PORT: optional(port).default(8090),
    /** RabbitMQ of `tributary bridge rabbitmq` (and `demo --via rabbitmq`); unset with `start --via rabbitmq`: a local node. */
    RABBITMQ_URL: optional(z.string().regex(/^amqps?:\/\//, 'expected amqp://… or amqps://…')),
    /** Queue of `tributary bridge sqs` (and `demo --via sqs`); unset with `start --via sqs`: a local ElasticMQ. */
    SQS_QUEUE_URL: optional(url),
    /** SQS endpoint when it is not the queue URL's own origin (AWS) — e.g. a VPC endpoint. */
    SQS_ENDPOINT: optional(url),
  },
  (e) => {
    refusePlaceholder('WRITE_KEYS', e.WRITE_KEYS);
    // amqp://user:@host is an unset password interpolated (compose). (guest:guest stays allowed: RabbitMQ
    // accepts it from loopback only, which is how the local node of `start --via rabbitmq` is reached.)
    const amqpPassword = e.RABBITMQ_URL ? /^amqps?:\/\/[^:/@]*:([^@]*)@/.exec(e.RABBITMQ_URL)?.[1] : undefined;
    if (
      amqpPassword !== undefined &&
      (amqpPassword === '' || PLACEHOLDERS.has(decodeURIComponent(amqpPassword).toLowerCase()))
    )
      throw placeholderError("RABBITMQ_URL's password");
    return {
      ingestPort: e.INGEST_PORT,
      ingest: {
        writeKeys: e.WRITE_KEYS ?? [],
        authOff: e.INGEST_AUTH === 'off',
        maxEventBytes: e.INGEST_MAX_EVENT_BYTES,
        maxBodyBytes: e.INGEST_MAX_BODY_BYTES,
        maxEvents: e.INGEST_MAX_EVENTS,
        maxInflightBytes: e.INGEST_MAX_INFLIGHT_BYTES,
        diskGuard: e.INGEST_DISK_GUARD === 'on',
        lingerMs: e.INGEST_LINGER_MS,
        produceTimeoutMs: e.INGEST_PRODUCE_TIMEOUT_MS,
      },
      bridge: {
        port: e.BRIDGE_PORT,
        rabbitmqUrl: e.RABBITMQ_URL,
        sqsQueueUrl: e.SQS_QUEUE_URL,
        sqsEndpoint: e.SQS_ENDPOINT,
      },
    };
  },
);

declare module '../platform/config' {
  interface Config extends ReturnType<typeof producersSection.build> {}
}
