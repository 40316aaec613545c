/**
 * What became of one input record, as a value rather than an exception: taken (`ok`), or
 * dead-lettered with a short `reason` (also the metric label and the DLQ reason) and the detail.
 * The processor, the sink and the bridges all speak it. A fault that retrying can fix (the
 * registry or Kafka unreachable) is not an outcome: it is a retriable error, and the stage retries.
 * @see https://github.com/PostHog/posthog/blob/master/plugin-server/src/ingestion/pipelines/results.ts
 */
export type RecordOutcome<T> = { ok: true; value: T } | ({ ok: false } & DeadLetterDraft);

/**
 * Why an input was refused, over HTTP (ingest's 4xx/5xx `reason`, a metric label) or from a
 * queue (a bridge's dead letter). Closed: a new reason is added here, with its meaning.
 */
export const REJECTION_REASONS = {
  invalid_body: 'the body is not one event object or {"events": [...]}',
  invalid_json: 'the body is not JSON',
  invalid_event: 'an event breaks the contract; the message lists each field',
  unauthorized: 'no write key, or a wrong one',
  conflicting_event_id: 'an eventId sent again with other content',
  body_too_large: 'the body is over INGEST_MAX_BODY_BYTES',
  event_too_large: 'one event is over the size bound',
  too_many_events: 'more events in one request than allowed',
  unsupported_media_type: 'not application/json',
  unsupported_charset: 'a charset other than UTF-8',
  unsupported_encoding: 'a Content-Encoding other than gzip, deflate, br or identity',
  backpressure: 'more bytes in flight than INGEST_MAX_INFLIGHT_BYTES (429, retry shortly)',
  insufficient_storage: 'DATA_DIR is nearly full beside a local broker',
  kafka_unavailable: 'Kafka did not acknowledge the events in time (retry with the same eventIds)',
  internal: 'a fault of ours',
} as const;
export type RejectionReason = keyof typeof REJECTION_REASONS;

/**
 * Every reason a dead letter (events.dlq) can carry, with what it means: what the processor, the
 * sink and the bridges write, and `tributary dlq list --reason` filters on. Closed, like
 * REJECTION_REASONS (which a bridge's dead letters use too).
 */
export const DEAD_LETTER_REASONS = {
  ...REJECTION_REASONS,
  undecodable: 'not the Confluent wire format, or an Avro body that does not decode',
  unknown_schema: 'a schema id the registry does not have',
  wrong_schema: 'a record of another type than the topic carries',
  incompatible_schema: "a writer's schema that cannot be read as the topic's",
  unknown_event_type: 'a schema id no declared event type has',
  conflicting_duplicate: "an eventId seen before in the partition's window with other content (the first counts)",
  unsendable_row: 'a rollup row the broker refused or that could not be encoded (isolated, no payload)',
  refused_by_clickhouse: 'a row ClickHouse refuses whatever the retry',
  kafka_refused: 'a queue message whose events the broker refused for themselves (too large)',
} as const;
export type DeadLetterReason = keyof typeof DEAD_LETTER_REASONS;

/** Why a record was dead-lettered: a reason from the closed list (also a metric label) and the detail. */
export interface DeadLetterDraft {
  reason: DeadLetterReason;
  message: string;
}

export const taken = <T>(value: T): RecordOutcome<T> => ({ ok: true, value });
export const deadLettered = (reason: DeadLetterReason, message: string): RecordOutcome<never> => ({
  ok: false,
  reason,
  message,
});
