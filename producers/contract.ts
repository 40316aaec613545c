import {
  convertEvent,
  MAX_JSON_DEPTH,
  nestedDeeperThan,
  refusesUnknownName,
  type FieldError,
} from '../schemas/validation';
import type { PipelineEvent } from '../schemas/catalog';
import type { EventPlan } from '../schemas/events/plan';
import type { EventLimits } from '../schemas/limits';
import { recordBytes, type BatchLimits } from '../platform/kafka/batch-limit';
import type { OutgoingRecord } from '../platform/kafka/client';
import type { RejectionReason } from '../schemas/outcome';
import { TributaryError, type ErrorCode } from '../platform/errors';

/**
 * The JSON contract every way in shares (the HTTP endpoint and the RabbitMQ/SQS bridges): a body
 * is one event or `{"events": [...]}`; every event is validated against the Avro schemas and any
 * invalid event rejects the whole body with every error listed.
 */
export interface ContractLimits {
  /** Bytes of one event as JSON, measured on the decoded body (after gzip, deflate or br). */
  maxEventBytes: number;
  maxEvents: number;
  event: EventLimits;
}

export type IndexedError = FieldError & { index: number };

/**
 * A body the contract refuses: the HTTP status it maps to, a short reason (a metric label and
 * the DLQ reason), the JSON answer, and Retry-After for 429/503.
 */
export class Rejection extends TributaryError {
  constructor(
    readonly status: number,
    readonly reason: RejectionReason,
    readonly body: Record<string, unknown>,
    readonly retryAfter?: number,
  ) {
    super(codeOf(status), String(body.message ?? reason));
    this.name = 'Rejection';
  }
}

/** 429 and 503 ask the client to come back; 401 is a refusal; 500 our fault; any other 4xx the input's. */
function codeOf(status: number): ErrorCode {
  if (status === 429 || status === 503) return 'unavailable';
  if (status === 401) return 'refused';
  if (status >= 500) return 'internal';
  return 'invalid_input';
}

export function toEventList(body: unknown, limits: ContractLimits): unknown[] {
  const isBatch = typeof body === 'object' && body !== null && !Array.isArray(body) && 'events' in body;
  if (!isBatch) {
    if (Array.isArray(body))
      throw new Rejection(400, 'invalid_body', {
        error: 'invalid_body',
        message: 'send one event object, or {"events": [...]}',
      });
    return [body];
  }
  const events = (body as { events: unknown }).events;
  if (!Array.isArray(events))
    throw new Rejection(400, 'invalid_body', { error: 'invalid_body', message: '"events" must be an array' });
  if (events.length === 0)
    throw new Rejection(400, 'invalid_body', { error: 'invalid_body', message: '"events" is empty' });
  if (events.length > limits.maxEvents)
    throw new Rejection(413, 'too_many_events', {
      error: 'payload_too_large',
      message: `${events.length} events in one request, the limit is ${limits.maxEvents}`,
    });
  return events;
}

export interface ConvertAllOptions {
  /** The eventId of an event sent without one; `index` is its place in the body. */
  newEventId: (index: number) => string;
  receivedAt: number;
  /** Who accepts the events (a write key's id, a bridge's source): eventIds are unique per origin. */
  origin: string | null;
  /** The decoded body's size: events are measured only when it could hold a too-large one. */
  bodyBytes: number;
  /** The declared event types (docs/events.md). */
  plan?: Pick<EventPlan, 'latest'>;
}

/**
 * Refuses, with a 413 naming each, the encoded events that could never be written: alone in a
 * record batch they are over their topic's `max.message.bytes`. Checked before anything of the
 * body is produced.
 */
export function refuseUnsendable(records: OutgoingRecord[], limits: BatchLimits): void {
  const errors = unsendable(records, limits);
  if (errors.length > 0) {
    throw new Rejection(413, 'event_too_large', {
      error: 'payload_too_large',
      message: `${errors.length} event(s) can never be written to Kafka; nothing was accepted`,
      index: errors[0]!.index,
      errors,
    });
  }
}

/** The encoded events that are, alone in a record batch, over their topic's `max.message.bytes`. */
export function unsendable(records: OutgoingRecord[], limits: BatchLimits): IndexedError[] {
  return records.flatMap((r, index) =>
    limits.fits(r.topic, r)
      ? []
      : [
          {
            index,
            path: '',
            message: `encodes to a ${recordBytes(r)}-byte record; ${r.topic} takes record batches of at most ${limits.maxBatchBytes(r.topic)} bytes (its max.message.bytes)`,
          },
        ],
  );
}

/** Validates every event of a body; all valid → the events to produce, else a 400/413 Rejection. */
export function convertAll(events: unknown[], limits: ContractLimits, options: ConvertAllOptions): PipelineEvent[] {
  const converted: PipelineEvent[] = [];
  const errors: IndexedError[] = [];
  events.forEach((raw, index) => {
    if (nestedDeeperThan(raw, MAX_JSON_DEPTH)) {
      errors.push({ index, path: '', message: `nested deeper than ${MAX_JSON_DEPTH} levels: no event is` });
      return;
    }
    const size = options.bodyBytes > limits.maxEventBytes ? Buffer.byteLength(JSON.stringify(raw) ?? '') : 0;
    if (size > limits.maxEventBytes)
      throw new Rejection(413, 'event_too_large', {
        error: 'payload_too_large',
        message: `event ${index} is ${size} bytes, the limit is ${limits.maxEventBytes}`,
        index,
      });
    const result = convertEvent(raw, {
      newEventId: () => options.newEventId(index),
      receivedAt: options.receivedAt,
      origin: options.origin,
      limits: limits.event,
      plan: options.plan,
    });
    if (result.ok) {
      const { ok: _, ...event } = result;
      converted.push(event as PipelineEvent);
    } else errors.push(...result.errors.map((e) => ({ index, ...e })));
  });
  if (errors.length > 0) {
    throw new Rejection(400, 'invalid_event', {
      error: 'invalid_events',
      message: `${errors.length} problem(s) in ${new Set(errors.map((e) => e.index)).size} event(s); nothing was accepted`,
      errors,
    });
  }
  return converted;
}

/**
 * `convert()`, and once more after reading the declarations topic to its end when it refused an
 * event's type or a property as unknown: a type or a property applied before the request was
 * sent is never refused as unknown.
 */
export async function convertKnowingPlan<T>(convert: () => T, plan: Pick<EventPlan, 'sync'> | undefined): Promise<T> {
  try {
    return convert();
  } catch (err) {
    const unknownType =
      err instanceof Rejection && (err.body.errors as IndexedError[] | undefined)?.some(refusesUnknownName);
    if (!unknownType || !plan) throw err;
  }
  try {
    await plan.sync();
  } catch {
    // Kafka did not answer: whether the type exists is unknown, so not a 400.
    throw new Rejection(
      503,
      'kafka_unavailable',
      { error: 'unavailable', message: 'the declared event types could not be read from Kafka; retry' },
      2,
    );
  }
  return convert();
}
