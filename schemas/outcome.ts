/**
 * What became of one input record, as a value rather than an exception: taken (`ok`), or
 * dead-lettered with a short `reason` (also the metric label and the DLQ reason) and the detail.
 * The processor, the sink and the bridges all speak it. A fault that retrying can fix (the
 * registry or Kafka unreachable) is not an outcome: it is a retriable error, and the stage retries.
 * @see https://github.com/PostHog/posthog/blob/master/plugin-server/src/ingestion/pipelines/results.ts
 */
export type RecordOutcome<T> = { ok: true; value: T } | ({ ok: false } & DeadLetterDraft);

/** Why a record was dead-lettered: a short reason (also a metric label) and the detail. */
export interface DeadLetterDraft {
  reason: string;
  message: string;
}

export const taken = <T>(value: T): RecordOutcome<T> => ({ ok: true, value });
export const deadLettered = (reason: string, message: string): RecordOutcome<never> => ({ ok: false, reason, message });
