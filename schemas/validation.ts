import type avro from 'avsc';
import type { FieldError } from './field-error';
import { ORDER_EVENT_TYPES, SCHEMAS, USER_EVENT_TYPES, type OrderEvent, type UserEvent } from './catalog';
import { customEventErrors, DEFAULT_EVENT_LIMITS, EARLIEST_TIME, eventLimitErrors, type EventLimits } from './limits';
import { decimalBytes, type CustomEvent, type PropertyValue } from './events/avro';
import { parseDecimal, type PropertyDeclaration } from './events/format';
import type { EventPlan, EventTypeVersion } from './events/plan';

/**
 * JSON (as posted to the ingestion endpoint or published to a bridged queue) → an Avro record
 * of UserEvent or OrderEvent, or the list of everything wrong with it. Field names are the Avro
 * field names, so a service producing straight to Kafka and one posting JSON are treated alike.
 */
export type { FieldError };

/** How an unknown property of a declared type is refused (its message starts so). */
const NOT_DECLARED = 'not a property of';

/**
 * True for a refusal that names something the plan may not have had yet: an unknown event type
 * or a property its type does not declare (ingest reads the declarations again before it says so).
 */
export function refusesUnknownName(e: FieldError): boolean {
  return e.path === 'type' || e.message.startsWith(NOT_DECLARED);
}

export type Conversion =
  | { ok: true; kind: 'user'; record: UserEvent }
  | { ok: true; kind: 'order'; record: OrderEvent }
  | { ok: true; kind: 'custom'; type: string; schemaId: number; record: CustomEvent }
  | { ok: false; errors: FieldError[] };

export interface ConvertOptions {
  /** Used when the event has no eventId (the endpoint passes randomUUID). */
  newEventId?: () => string;
  /** Stamped as receivedAt. */
  receivedAt?: number;
  /** Stamped as origin: who accepted the event (a write key's id, a bridge's source). eventIds are unique per origin. */
  origin?: string | null;
  limits?: EventLimits;
  /** The declared event types (docs/events.md): a type of none of the built-in families is looked up here. */
  plan?: Pick<EventPlan, 'latest'>;
}

/** Nesting deeper than any event can be (a batch → an order → items → an item). */
export const MAX_JSON_DEPTH = 6;

const userTypes = new Set<string>(USER_EVENT_TYPES);
const orderTypes = new Set<string>(ORDER_EVENT_TYPES);
/** Each kind's Avro field names, for the unknown-field check (once, not per event). */
const FIELD_NAMES = {
  user: new Set((SCHEMAS.user.type as avro.types.RecordType).fields.map((f) => f.name)),
  order: new Set((SCHEMAS.order.type as avro.types.RecordType).fields.map((f) => f.name)),
};
// Event time must be a plausible instant: after 2000-01-01 and at most a day in the future.
const MAX_FUTURE_MS = 24 * 3600 * 1000;

export function convertEvent(input: unknown, options: ConvertOptions = {}): Conversion {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { ok: false, errors: [{ path: '', message: 'expected a JSON object' }] };
  }
  const raw = input as Record<string, unknown>;
  const type = raw.type;
  const kind =
    typeof type === 'string' && userTypes.has(type)
      ? 'user'
      : typeof type === 'string' && orderTypes.has(type)
        ? 'order'
        : undefined;
  if (!kind) {
    const declared = typeof type === 'string' ? options.plan?.latest(type) : undefined;
    if (declared) return convertCustom(raw, declared, options);
    return {
      ok: false,
      errors: [
        {
          path: 'type',
          message: `expected one of ${[...userTypes, ...orderTypes].join(', ')} or a declared event type (tributary events list), got ${typeof type === 'string' ? JSON.stringify(type.slice(0, 64)) : JSON.stringify(type ?? null)}`,
        },
      ],
    };
  }
  const schema = kind === 'user' ? SCHEMAS.user.type : SCHEMAS.order.type;
  const errors: FieldError[] = [];
  const record: Record<string, unknown> = {};
  const fields = (schema as avro.types.RecordType).fields;
  const known = FIELD_NAMES[kind];
  for (const name in raw) {
    if (!Object.hasOwn(raw, name)) continue;
    if (name === 'origin')
      errors.push({
        path: name,
        message: 'set by Tributary (the write key or bridge that accepted the event), not by the sender',
      });
    else if (!known.has(name)) errors.push({ path: name.slice(0, 64), message: `unknown field for ${type} events` });
  }
  for (const field of fields) {
    let value = raw[field.name];
    if (field.name === 'eventId' && (value === undefined || value === null) && options.newEventId)
      value = options.newEventId();
    if (field.name === 'receivedAt' && options.receivedAt !== undefined) value = options.receivedAt;
    if (field.name === 'origin') value = options.origin ?? null;
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
        errorHook: (path, v, t) =>
          errors.push({ path: [field.name, ...path].join('.'), message: describeMismatch(t, v) }),
      });
    }
  }
  if (errors.length === 0)
    errors.push(
      ...eventLimitErrors(kind, record as unknown as UserEvent | OrderEvent, options.limits ?? DEFAULT_EVENT_LIMITS),
    );
  if (errors.length > 0) return { ok: false, errors };
  return kind === 'user'
    ? { ok: true, kind, record: record as unknown as UserEvent }
    : { ok: true, kind, record: record as unknown as OrderEvent };
}

/** The fields a declared event may carry besides its properties. */
const CUSTOM_FIELDS = new Set(['type', 'eventId', 'userId', 'occurredAt', 'receivedAt', 'properties']);

/** JSON → a declared event of `version`'s type: the envelope, then each property converted to its Avro value. */
function convertCustom(raw: Record<string, unknown>, version: EventTypeVersion, options: ConvertOptions): Conversion {
  const { declaration } = version.record;
  const errors: FieldError[] = [];
  for (const name in raw) {
    if (!Object.hasOwn(raw, name)) continue;
    if (name === 'origin')
      errors.push({
        path: name,
        message: 'set by Tributary (the write key or bridge that accepted the event), not by the sender',
      });
    else if (!CUSTOM_FIELDS.has(name))
      errors.push({
        path: name.slice(0, 64),
        message: `unknown field for ${declaration.name} events: properties go under "properties"`,
      });
  }
  const eventId = raw.eventId ?? options.newEventId?.();
  if (typeof eventId !== 'string')
    errors.push({
      path: 'eventId',
      message: eventId === undefined || eventId === null ? 'required' : `expected string, got ${typeof eventId}`,
    });
  if (typeof raw.userId !== 'string')
    errors.push({
      path: 'userId',
      message:
        raw.userId === undefined || raw.userId === null ? 'required' : `expected string, got ${typeof raw.userId}`,
    });
  const occurredAt = parseTimestamp(raw.occurredAt);
  if (typeof occurredAt === 'string') errors.push({ path: 'occurredAt', message: occurredAt });
  let receivedAt: number | string | null = options.receivedAt ?? null;
  if (options.receivedAt === undefined && raw.receivedAt !== undefined && raw.receivedAt !== null)
    receivedAt = parseTimestamp(raw.receivedAt);
  if (typeof receivedAt === 'string') errors.push({ path: 'receivedAt', message: receivedAt });
  const given = raw.properties ?? {};
  const properties: Record<string, PropertyValue> = {};
  if (typeof given !== 'object' || given === null || Array.isArray(given))
    errors.push({ path: 'properties', message: 'expected an object of the declared properties' });
  else {
    const input = given as Record<string, unknown>;
    const declared = new Set(declaration.properties.map((p) => p.name));
    for (const name in input) {
      if (Object.hasOwn(input, name) && !declared.has(name)) {
        errors.push({
          path: `properties.${name.slice(0, 64)}`,
          message: `${NOT_DECLARED} ${declaration.name} (declared: ${[...declared].join(', ') || 'none'})`,
        });
      }
    }
    for (const p of declaration.properties) {
      const converted = convertProperty(p, input[p.name]);
      if (typeof converted === 'object' && converted !== null && 'error' in converted)
        errors.push({ path: `properties.${p.name}`, message: converted.error });
      else properties[p.name] = converted;
    }
  }
  if (errors.length > 0) return { ok: false, errors };
  const record: CustomEvent = {
    eventId: eventId as string,
    userId: raw.userId as string,
    occurredAt: occurredAt as number,
    receivedAt: receivedAt as number | null,
    origin: options.origin ?? null,
    properties,
  };
  errors.push(...customEventErrors(record, declaration, options.limits ?? DEFAULT_EVENT_LIMITS));
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, kind: 'custom', type: declaration.name, schemaId: version.record.schemaId, record };
}

/** One property's JSON value as its Avro value; absent or null: its default (an error when required). */
function convertProperty(p: PropertyDeclaration, value: unknown): PropertyValue | { error: string } {
  if (value === undefined || value === null) {
    if (p.required) return { error: 'required' };
    return p.type === 'decimal' && p.default !== null ? decimalBytes(p.default as number) : p.default;
  }
  const got = Array.isArray(value) ? 'array' : typeof value;
  switch (p.type) {
    case 'string':
      return typeof value === 'string' ? value : { error: `expected a string, got ${got}` };
    case 'boolean':
      return typeof value === 'boolean' ? value : { error: `expected true or false, got ${got}` };
    case 'long':
      if (typeof value !== 'number' || !Number.isSafeInteger(value))
        return { error: `expected an integer, got ${got === 'number' ? String(value) : got}` };
      return value;
    case 'decimal': {
      const n = parseDecimal(value, p.scale!);
      return typeof n === 'string' ? { error: n } : decimalBytes(n);
    }
    case 'timestamp': {
      const t = parseTimestamp(value);
      return typeof t === 'string' ? { error: t } : t;
    }
    case 'enum':
      return typeof value === 'string' && p.values!.includes(value)
        ? value
        : {
            error: `expected one of ${p.values!.slice(0, 20).join(', ')}${p.values!.length > 20 ? '…' : ''}, got ${JSON.stringify(typeof value === 'string' ? value.slice(0, 64) : value)}`,
          };
  }
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * ISO-8601 with a zone, or epoch milliseconds → epoch milliseconds; a string says what is wrong.
 * Dates are strict: 2026-02-30 is refused, not read as 2 March.
 */
export function parseTimestamp(value: unknown, now = Date.now()): number | string {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return 'expected epoch milliseconds as an integer';
    ms = value;
  } else if (typeof value === 'string') {
    const m = value.length <= 40 ? ISO.exec(value) : null;
    if (!m)
      return `expected an ISO-8601 timestamp with a zone (2026-11-27T20:00:00Z) or epoch milliseconds, got ${JSON.stringify(value.slice(0, 40))}`;
    const [year, month, day, hour, minute, second] = m.slice(1, 7).map((n) => Number(n ?? 0)) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const calendar = new Date(Date.UTC(year, month - 1, day));
    if (month < 1 || month > 12 || calendar.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59)
      return `not a calendar date and time: ${JSON.stringify(value)}`;
    ms = Date.parse(value);
    if (Number.isNaN(ms)) return `not a valid date: ${JSON.stringify(value)}`;
  } else if (value === undefined || value === null) {
    return 'required';
  } else {
    return 'expected an ISO-8601 string or epoch milliseconds';
  }
  if (ms < EARLIEST_TIME || ms > now + MAX_FUTURE_MS)
    return `out of range: ${ms} is before 2000 or more than a day ahead`;
  return ms;
}

/** True when `value` nests objects or arrays deeper than `max` (checked without recursion). */
export function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(v))
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

function describeMismatch(type: avro.Type, value: unknown): string {
  const got = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  const t = type as avro.Type & { symbols?: string[]; types?: avro.Type[] };
  if (t.symbols) return `expected one of ${t.symbols.join(', ')}, got ${JSON.stringify(value)}`;
  if (t.types) return `expected ${t.types.map((u) => u.typeName).join(' or ')}, got ${got}`;
  if (type.typeName === 'int' || type.typeName === 'long')
    return `expected an integer, got ${got === 'number' ? String(value) : got}`;
  if (type.typeName === 'map') return `expected an object of strings, got ${got}`;
  return `expected ${type.typeName}, got ${got}`;
}
