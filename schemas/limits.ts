import type { OrderEvent, UserEvent } from './catalog';
import type { FieldError } from './field-error';
import { isCountry, isCurrency } from './codes';
import { decimalValue, type CustomEvent } from './events/avro';
import { DECLARED_MAGNITUDE, formatDecimal, type EventTypeDeclaration } from './events/format';

/**
 * The bounds every accepted event keeps (the rules: schemas/limits.ts). Anyone holding a write
 * key may be hostile: these bounds are what make the rollups' memory, their sums and their keys
 * safe whatever the values (docs/limits.md). EVENT_LIMITS overrides any of them as JSON.
 */
export interface EventLimits {
  /** Order lines per event. */
  items: number;
  /** Entries in a user event's `properties`. */
  properties: number;
  /** Units of one order line. */
  quantity: number;
  /** amountCents, one unitPriceCents, and the sum of an order's lines (quantity × unitPriceCents). */
  amountCents: number;
  /** Codes accepted besides ISO 4217's (currency) and ISO 3166-1's (country): EXTRA_CURRENCIES, EXTRA_COUNTRIES. */
  extraCurrencies?: readonly string[];
  extraCountries?: readonly string[];
  /** Maximum length (UTF-16 code units, as JavaScript counts) of each string field. */
  eventId: number;
  userId: number;
  orderId: number;
  sessionId: number;
  sku: number;
  category: number;
  device: number;
  page: number;
  propertyKey: number;
  propertyValue: number;
}

/** The numeric bounds (EVENT_LIMITS overrides them). */
export type NumericLimit = Exclude<keyof EventLimits, 'extraCurrencies' | 'extraCountries'>;

export const DEFAULT_EVENT_LIMITS: Readonly<EventLimits> = {
  items: 100,
  properties: 50,
  quantity: 1_000_000,
  // 10^11 minor units: a billion euros, dollars or yen in one order.
  amountCents: 100_000_000_000,
  eventId: 128,
  userId: 256,
  orderId: 128,
  sessionId: 128,
  sku: 128,
  category: 128,
  device: 64,
  page: 2048,
  propertyKey: 64,
  propertyValue: 1024,
};

/**
 * Why the processor's sums cannot overflow: a row of one segment sums at most S events, and one
 * event adds at most `amountCents` to a row's amount (an order's total, or the sum of its lines
 * for a product row) and at most items × quantity to its quantity. Both products must stay
 * within 2^53 − 1, where a JavaScript number (and so Avro's long in avsc) is still exact; the
 * config refuses a SEGMENT_SIZE or EVENT_LIMITS that breaks this. Returns what is wrong, if anything.
 */
export function overflowProblem(limits: EventLimits, segmentSize: number): string | undefined {
  const amount = segmentSize * limits.amountCents;
  const quantity = segmentSize * limits.items * limits.quantity;
  if (amount > Number.MAX_SAFE_INTEGER) {
    return `SEGMENT_SIZE (${segmentSize}) × amountCents limit (${limits.amountCents}) = ${amount} exceeds 2^53 − 1: a row's sum could lose precision; lower one of them`;
  }
  if (quantity > Number.MAX_SAFE_INTEGER) {
    return `SEGMENT_SIZE (${segmentSize}) × items (${limits.items}) × quantity (${limits.quantity}) exceeds 2^53 − 1; lower one of them`;
  }
  if (segmentSize * DECLARED_MAGNITUDE > Number.MAX_SAFE_INTEGER) {
    return `SEGMENT_SIZE (${segmentSize}) × the largest number a declared event property holds (${DECLARED_MAGNITUDE}) exceeds 2^53 − 1: a row's sum could lose precision; lower SEGMENT_SIZE`;
  }
  if (limits.quantity > 2 ** 31 - 1) return `the quantity limit (${limits.quantity}) exceeds Avro int (2^31 − 1)`;
  return undefined;
}

/**
 * The bounds every accepted event keeps, whichever way it came in (HTTP, a bridge, the producer
 * library, or a record produced straight to Kafka, which the processor checks after decoding).
 * Their numbers are configuration (EVENT_LIMITS, schemas/config.ts); the rules are here.
 */

// NOTE: Avro writes strings as UTF-8; a lone surrogate becomes U+FFFD, so two distinct ids
// could become one. Control characters in ids and dimensions make keys unreadable in logs.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const CONTROL = /\p{Cc}/u;
// eslint-disable-next-line no-control-regex -- control characters are exactly what this finds
const CONTROL_EXCEPT_WHITESPACE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;
/** Whitespace and invisible format characters (zero-width space, joiners, BOM…). */
const BLANK = /^[\s\p{Cf}]*$/u;

type Kind = 'user' | 'order';
/** Fast paths (the processor checks every event): printable ASCII, for a name also not blank, is well-formed. */
const ASCII_NAME = /^ *[\x21-\x7e][\x20-\x7e]*$/;
const ASCII_TEXT = /^[\x20-\x7e]*$/;

/** An identifier or a dimension: bounded, well-formed, no control characters; ids also non-blank. */
function checkName(
  errors: FieldError[],
  path: string,
  value: string | null | undefined,
  max: number,
  required: boolean,
): void {
  if (value === null || value === undefined) return; // undefined: an optional field of a nested record left out (Avro writes its default)
  if (value.length > max) errors.push({ path, message: `at most ${max} characters, got ${value.length}` });
  else if (ASCII_NAME.test(value)) return;
  else if (required && BLANK.test(value)) errors.push({ path, message: 'must not be empty or blank' });
  else if (LONE_SURROGATE.test(value)) errors.push({ path, message: 'contains a lone surrogate (not valid Unicode)' });
  else if (CONTROL.test(value)) errors.push({ path, message: 'contains a control character' });
}

/** Free text: bounded and well-formed; tabs and line breaks allowed. */
function checkText(errors: FieldError[], path: string, value: string | null | undefined, max: number): void {
  if (value === null || value === undefined) return;
  if (value.length > max) errors.push({ path, message: `at most ${max} characters, got ${value.length}` });
  else if (ASCII_TEXT.test(value)) return;
  else if (LONE_SURROGATE.test(value)) errors.push({ path, message: 'contains a lone surrogate (not valid Unicode)' });
  else if (CONTROL_EXCEPT_WHITESPACE.test(value)) errors.push({ path, message: 'contains a control character' });
}

/** Event times Tributary stores: ClickHouse's DateTime64 holds them, and a window of them is a plausible one. */
export const EARLIEST_TIME = Date.UTC(2000, 0, 1);
export const LATEST_TIME = Date.UTC(2100, 0, 1);

/**
 * Rules the Avro schema cannot say: bounds, code formats, non-empty ids, well-formed strings.
 * `record` has already matched its schema.
 */
export function eventLimitErrors(kind: Kind, record: UserEvent | OrderEvent, limits: EventLimits): FieldError[] {
  const errors: FieldError[] = [];
  const add = (path: string, message: string) => errors.push({ path, message });
  const name = (path: string, value: string | null | undefined, max: number, required: boolean) =>
    checkName(errors, path, value, max, required);
  const text = (path: string, value: string | null | undefined, max: number) => checkText(errors, path, value, max);
  // Deterministic bounds (never "now"): the processor re-checks records on every recomputation.
  if (!(record.occurredAt >= EARLIEST_TIME && record.occurredAt < LATEST_TIME))
    add('occurredAt', 'out of range: before 2000 or after 2099');
  if (record.receivedAt !== null && !(record.receivedAt >= EARLIEST_TIME && record.receivedAt < LATEST_TIME))
    add('receivedAt', 'out of range: before 2000 or after 2099');
  name('eventId', record.eventId, limits.eventId, true);
  name('userId', record.userId, limits.userId, true);
  if (record.country !== null && !isCountry(record.country, limits.extraCountries)) {
    add(
      'country',
      /^[A-Z]{2}$/.test(record.country)
        ? `${record.country} is not an ISO 3166-1 alpha-2 code (EXTRA_COUNTRIES adds codes)`
        : 'expected an ISO 3166-1 alpha-2 code such as DE',
    );
  }
  if (kind === 'user') {
    const u = record as UserEvent;
    name('sessionId', u.sessionId, limits.sessionId, false);
    name('device', u.device, limits.device, false);
    text('page', u.page, limits.page);
    const keys = Object.keys(u.properties);
    if (keys.length > limits.properties) add('properties', `at most ${limits.properties} entries, got ${keys.length}`);
    else {
      for (const key of keys) {
        name(`properties.${key.slice(0, 64)}`, key, limits.propertyKey, true);
        text(`properties.${key.slice(0, 64)}`, u.properties[key]!, limits.propertyValue);
      }
    }
    return errors;
  }
  const o = record as OrderEvent;
  name('orderId', o.orderId, limits.orderId, true);
  if (o.currency !== null && !isCurrency(o.currency, limits.extraCurrencies)) {
    add(
      'currency',
      /^[A-Z]{3}$/.test(o.currency)
        ? `${o.currency} is not an ISO 4217 code (EXTRA_CURRENCIES adds codes)`
        : 'expected an ISO 4217 code such as EUR',
    );
  }
  if (o.amountCents !== null) {
    if (o.amountCents < 0) add('amountCents', 'must not be negative');
    else if (o.amountCents > limits.amountCents) add('amountCents', `at most ${limits.amountCents}`);
    if (o.currency === null) add('currency', 'required when amountCents is set');
  }
  if (o.items.length > limits.items) {
    add('items', `at most ${limits.items} lines, got ${o.items.length}`);
    return errors;
  }
  let itemsTotal = 0;
  o.items.forEach((item, i) => {
    // Paths built only for a line that fails: this runs for every line of every order.
    if (item.sku.length > limits.sku || !ASCII_NAME.test(item.sku)) name(`items.${i}.sku`, item.sku, limits.sku, true);
    if (
      item.category !== null &&
      item.category !== undefined &&
      (item.category.length > limits.category || !ASCII_TEXT.test(item.category))
    ) {
      name(`items.${i}.category`, item.category, limits.category, false);
    }
    if (item.quantity < 1) add(`items.${i}.quantity`, 'must be at least 1');
    else if (item.quantity > limits.quantity) add(`items.${i}.quantity`, `at most ${limits.quantity}`);
    if (item.unitPriceCents < 0) add(`items.${i}.unitPriceCents`, 'must not be negative');
    else if (item.unitPriceCents > limits.amountCents)
      add(`items.${i}.unitPriceCents`, `at most ${limits.amountCents}`);
    // Inexact above 2^53, but then far above the limit all the same.
    itemsTotal += Math.max(0, item.quantity) * Math.max(0, item.unitPriceCents);
  });
  if (itemsTotal > limits.amountCents)
    add('items', `the lines' total (quantity × unitPriceCents) is above ${limits.amountCents}`);
  if (o.type === 'order_placed' && (o.amountCents === null || o.items.length === 0)) {
    add(o.amountCents === null ? 'amountCents' : 'items', 'required for order_placed');
  }
  return errors;
}

/**
 * The rules of a declared event type (schemas/events/format.ts) and of every event's envelope,
 * checked on a record that has already matched its type's Avro schema: bounded, well-formed ids,
 * plausible times, each property within its declared bounds. Deterministic: the processor
 * re-checks a record by the version it was written with, on every recomputation.
 */
export function customEventErrors(
  record: CustomEvent,
  declaration: EventTypeDeclaration,
  limits: EventLimits,
): FieldError[] {
  const errors: FieldError[] = [];
  const add = (path: string, message: string) => errors.push({ path, message });
  if (!(record.occurredAt >= EARLIEST_TIME && record.occurredAt < LATEST_TIME))
    add('occurredAt', 'out of range: before 2000 or after 2099');
  if (record.receivedAt !== null && !(record.receivedAt >= EARLIEST_TIME && record.receivedAt < LATEST_TIME))
    add('receivedAt', 'out of range: before 2000 or after 2099');
  checkName(errors, 'eventId', record.eventId, limits.eventId, true);
  checkName(errors, 'userId', record.userId, limits.userId, true);
  for (const p of declaration.properties) {
    const value = record.properties[p.name];
    if (value === null || value === undefined) continue;
    const path = `properties.${p.name}`;
    switch (p.type) {
      case 'string':
        checkText(errors, path, value as string, p.maxLength!);
        break;
      case 'long':
        if (!((value as number) >= p.min! && (value as number) <= p.max!))
          add(path, `out of bounds: ${String(value)} is not within ${p.min}..${p.max}`);
        break;
      case 'decimal': {
        const n = Buffer.isBuffer(value) ? decimalValue(value) : NaN;
        if (!(n >= p.min! && n <= p.max!))
          add(
            path,
            `out of bounds: ${Number.isNaN(n) ? 'too large' : formatDecimal(n, p.scale!)} is not within ${formatDecimal(p.min!, p.scale!)}..${formatDecimal(p.max!, p.scale!)}`,
          );
        break;
      }
      case 'timestamp':
        if (!((value as number) >= EARLIEST_TIME && (value as number) < LATEST_TIME))
          add(path, 'out of range: before 2000 or after 2099');
        break;
      default:
        break; // boolean, enum: the schema says it all
    }
  }
  return errors;
}
