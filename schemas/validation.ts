import type avro from 'avsc';
import { ORDER_EVENT_TYPES, SCHEMAS, USER_EVENT_TYPES, type OrderEvent, type UserEvent } from './catalog';

/**
 * JSON (as posted to the ingestion endpoint or published to a bridged queue) → an Avro record
 * of UserEvent or OrderEvent, or the list of everything wrong with it. Field names are the Avro
 * field names, so a service producing straight to Kafka and one posting JSON are treated alike.
 */
export interface FieldError {
  path: string;
  message: string;
}

export type Conversion =
  | { ok: true; kind: 'user'; record: UserEvent }
  | { ok: true; kind: 'order'; record: OrderEvent }
  | { ok: false; errors: FieldError[] };

export interface ConvertOptions {
  /** Used when the event has no eventId (the endpoint passes randomUUID). */
  newEventId?: () => string;
  /** Stamped as receivedAt. */
  receivedAt?: number;
}

const userTypes = new Set<string>(USER_EVENT_TYPES);
const orderTypes = new Set<string>(ORDER_EVENT_TYPES);
// Event time must be a plausible instant: after 2000-01-01 and at most a day in the future.
const MIN_TIME = Date.UTC(2000, 0, 1);
const MAX_FUTURE_MS = 24 * 3600 * 1000;

export function convertEvent(input: unknown, options: ConvertOptions = {}): Conversion {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ path: '', message: 'expected a JSON object' }] };
  }
  const raw = input as Record<string, unknown>;
  const type = raw.type;
  const kind = typeof type === 'string' && userTypes.has(type) ? 'user' : typeof type === 'string' && orderTypes.has(type) ? 'order' : undefined;
  if (!kind) {
    return { ok: false, errors: [{ path: 'type', message: `expected one of ${[...userTypes, ...orderTypes].join(', ')}, got ${JSON.stringify(type ?? null)}` }] };
  }
  const schema = kind === 'user' ? SCHEMAS.user.type : SCHEMAS.order.type;
  const errors: FieldError[] = [];
  const record: Record<string, unknown> = {};
  const fields = (schema as avro.types.RecordType).fields;
  const known = new Set(fields.map((f) => f.name));
  for (const name of Object.keys(raw)) {
    if (!known.has(name)) errors.push({ path: name, message: `unknown field for ${type} events` });
  }
  for (const field of fields) {
    let value = raw[field.name];
    if (field.name === 'eventId' && (value === undefined || value === null) && options.newEventId) value = options.newEventId();
    if (field.name === 'receivedAt' && options.receivedAt !== undefined) value = options.receivedAt;
    if (field.name === 'occurredAt' || (field.name === 'receivedAt' && value !== undefined && value !== null)) {
      const parsed = parseTimestamp(value);
      if (typeof parsed === 'string') {
        errors.push({ path: field.name, message: parsed });
        continue;
      }
      value = parsed;
    }
    if (value === undefined) {
      const fallback = field.defaultValue();
      if (fallback === undefined) {
        errors.push({ path: field.name, message: 'required' });
        continue;
      }
      value = fallback;
    }
    record[field.name] = value;
  }
  // Fast path: one check of the whole record. Only an invalid one is walked field by field, so
  // one request learns every wrong field at once.
  if (errors.length > 0 || !schema.isValid(record)) {
    for (const field of fields) {
      if (!(field.name in record)) continue;
      field.type.isValid(record[field.name], {
        errorHook: (path, v, t) => errors.push({ path: [field.name, ...path].join('.'), message: describeMismatch(t, v) }),
      });
    }
  }
  if (errors.length === 0) errors.push(...domainErrors(kind, record));
  if (errors.length > 0) return { ok: false, errors };
  return kind === 'user' ? { ok: true, kind, record: record as unknown as UserEvent } : { ok: true, kind, record: record as unknown as OrderEvent };
}

/** ISO-8601 with a zone, or epoch milliseconds → epoch milliseconds; a string says what is wrong. */
export function parseTimestamp(value: unknown): number | string {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return 'expected epoch milliseconds as an integer';
    ms = value;
  } else if (typeof value === 'string') {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(value)) {
      return `expected an ISO-8601 timestamp with a zone (2026-11-27T20:00:00Z) or epoch milliseconds, got ${JSON.stringify(value)}`;
    }
    ms = Date.parse(value);
    if (Number.isNaN(ms)) return `not a valid date: ${JSON.stringify(value)}`;
  } else if (value === undefined || value === null) {
    return 'required';
  } else {
    return 'expected an ISO-8601 string or epoch milliseconds';
  }
  if (ms < MIN_TIME || ms > Date.now() + MAX_FUTURE_MS) return `out of range: ${new Date(ms).toISOString()} is before 2000 or more than a day ahead`;
  return ms;
}

function describeMismatch(type: avro.Type, value: unknown): string {
  const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  const t = type as avro.Type & { symbols?: string[]; types?: avro.Type[] };
  if (t.symbols) return `expected one of ${t.symbols.join(', ')}, got ${JSON.stringify(value)}`;
  if (t.types) return `expected ${t.types.map((u) => u.typeName).join(' or ')}, got ${got}`;
  if (type.typeName === 'int' || type.typeName === 'long') return `expected an integer, got ${got === 'number' ? String(value) : got}`;
  if (type.typeName === 'map') return `expected an object of strings, got ${got}`;
  return `expected ${type.typeName}, got ${got}`;
}

/** Rules the schema cannot say: code formats, positive quantities, non-empty ids. */
function domainErrors(kind: 'user' | 'order', r: Record<string, unknown>): FieldError[] {
  const errors: FieldError[] = [];
  const nonEmpty = (name: string) => {
    if (typeof r[name] === 'string' && (r[name] as string).trim() === '') errors.push({ path: name, message: 'must not be empty' });
  };
  nonEmpty('eventId');
  nonEmpty('userId');
  if (typeof r.eventId === 'string' && r.eventId.length > 128) errors.push({ path: 'eventId', message: 'at most 128 characters' });
  if (typeof r.userId === 'string' && r.userId.length > 256) errors.push({ path: 'userId', message: 'at most 256 characters' });
  if (r.country !== null && !/^[A-Z]{2}$/.test(String(r.country))) errors.push({ path: 'country', message: 'expected an ISO 3166-1 alpha-2 code such as DE' });
  if (kind === 'order') {
    nonEmpty('orderId');
    if (r.currency !== null && !/^[A-Z]{3}$/.test(String(r.currency))) errors.push({ path: 'currency', message: 'expected an ISO 4217 code such as EUR' });
    if (r.amountCents !== null && (r.amountCents as number) < 0) errors.push({ path: 'amountCents', message: 'must not be negative' });
    if (r.amountCents !== null && r.currency === null) errors.push({ path: 'currency', message: 'required when amountCents is set' });
    (r.items as Array<{ quantity: number; unitPriceCents: number; sku: string }>).forEach((item, i) => {
      if (item.quantity < 1) errors.push({ path: `items.${i}.quantity`, message: 'must be at least 1' });
      if (item.unitPriceCents < 0) errors.push({ path: `items.${i}.unitPriceCents`, message: 'must not be negative' });
      if (item.sku.trim() === '') errors.push({ path: `items.${i}.sku`, message: 'must not be empty' });
    });
    if (r.type === 'order_placed' && (r.amountCents === null || (r.items as unknown[]).length === 0)) {
      errors.push({ path: r.amountCents === null ? 'amountCents' : 'items', message: 'required for order_placed' });
    }
  }
  return errors;
}
