import { z } from 'zod';
import { ORDER_EVENT_TYPES, USER_EVENT_TYPES } from '../catalog';
import { fileJsonSchema } from '../declarations/format';
import { issuesOf, type DeclarationIssue } from '../declarations/issues';

/**
 * The largest magnitude of a declared event type's number property (a long, a decimal's unscaled
 * value: docs/events.md): like amountCents, a row adds up at most SEGMENT_SIZE of them.
 */
export const DECLARED_MAGNITUDE = 100_000_000_000;

/**
 * A declared event type of the tracking plan (docs/events.md): data, not code. Users keep these
 * in their own repository beside their rollup declarations, as YAML or JSON; `tributary events
 * apply` checks them against this schema, registers each type's Avro schema (avro.ts) under its
 * own subject and records the type on the declarations topic, which ingest, the bridges and the
 * processor follow.
 */

export const PROPERTY_TYPES = ['string', 'long', 'decimal', 'boolean', 'timestamp', 'enum'] as const;
export type PropertyType = (typeof PROPERTY_TYPES)[number];

/**
 * The largest magnitude of a long property, and of a decimal's unscaled value: a rollup row adds
 * at most SEGMENT_SIZE of them, and that sum must stay exact in a double (cli/config.ts
 * refuses a SEGMENT_SIZE that breaks this). The same bound as an order's amountCents.
 */
export const MAX_MAGNITUDE = DECLARED_MAGNITUDE;
/** A decimal's scale (digits after the point) at most, and a string's length when it declares none. */
export const MAX_SCALE = 9;
export const DEFAULT_MAX_LENGTH = 1000;
export const MAX_LENGTH = 10_000;
export const MAX_PROPERTIES = 64;
export const MAX_ENUM_VALUES = 1000;

/** Names the built-in families hold (their types, and the rollup sources): a declared type takes none of them. */
export const RESERVED_TYPE_NAMES: ReadonlySet<string> = new Set([
  ...USER_EVENT_TYPES,
  ...ORDER_EVENT_TYPES,
  'users',
  'orders',
  'order_lines',
  'events',
]);

const TYPE_NAME = /^[a-z][a-z0-9_]{0,62}$/;
/** An Avro field name (also the JSON property name); Avro names are case-sensitive. */
const PROPERTY_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const SYMBOL = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const DECIMAL_TEXT = /^-?\d{1,20}(\.\d{1,20})?$/;

const common = {
  description: z.string().max(500).optional(),
  optional: z
    .boolean()
    .optional()
    .describe('may be left out (then null, or its default); required when false or absent, unless it has a default'),
};
const decimalValue = z.union([z.string().regex(DECIMAL_TEXT, 'a decimal number such as "12.50"'), z.number()]);
const propertySchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('string'),
    ...common,
    maxLength: z
      .number()
      .int()
      .min(1)
      .max(MAX_LENGTH)
      .optional()
      .describe(`characters at most (default ${DEFAULT_MAX_LENGTH})`),
    default: z.string().optional(),
  }),
  z.strictObject({
    type: z.literal('long'),
    ...common,
    min: z.number().int().optional(),
    max: z.number().int().optional(),
    default: z.number().int().optional(),
  }),
  z.strictObject({
    type: z.literal('decimal'),
    ...common,
    scale: z.number().int().min(0).max(MAX_SCALE).describe('digits after the decimal point'),
    min: decimalValue.optional(),
    max: decimalValue.optional(),
    default: decimalValue.optional(),
  }),
  z.strictObject({ type: z.literal('boolean'), ...common, default: z.boolean().optional() }),
  z.strictObject({ type: z.literal('timestamp'), ...common }),
  z.strictObject({
    type: z.literal('enum'),
    ...common,
    values: z
      .array(z.string().regex(SYMBOL, 'letters, digits and _, not starting with a digit'))
      .min(1)
      .max(MAX_ENUM_VALUES),
    default: z.string().optional(),
  }),
]);

export const eventTypeSchema = z.strictObject({
  name: z
    .string()
    .regex(TYPE_NAME, 'lower case letters, digits and _, starting with a letter, at most 63 characters')
    .describe('the event type: what senders put in "type"'),
  description: z.string().max(500).optional(),
  properties: z
    .record(
      z
        .string()
        .regex(
          PROPERTY_NAME,
          'a property name: letters, digits and _, not starting with a digit, at most 64 characters',
        ),
      propertySchema,
    )
    .default({})
    .refine((p) => Object.keys(p).length <= MAX_PROPERTIES, `at most ${MAX_PROPERTIES} properties`)
    .describe('the properties an event of this type carries'),
});

/** A property checked and normalized. Numbers of a decimal (bounds, default) are unscaled integers. */
export interface PropertyDeclaration {
  name: string;
  type: PropertyType;
  description?: string;
  /** Must be present in every event (no default). */
  required: boolean;
  /** What an event without it holds: null, or the declared default (a decimal's unscaled). */
  default: string | number | boolean | null;
  min?: number;
  max?: number;
  maxLength?: number;
  scale?: number;
  values?: string[];
}

export interface EventTypeDeclaration {
  name: string;
  description?: string;
  properties: PropertyDeclaration[];
}

/**
 * "12.5" with scale 2 → 1250 (exact, from the decimal digits; a JSON number is read from its
 * shortest decimal form). A string says what is wrong: more digits after the point than the
 * scale, or a magnitude past MAX_MAGNITUDE.
 */
export function parseDecimal(value: unknown, scale: number): number | string {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return 'expected a decimal number';
    text = numberText(value);
  } else if (typeof value === 'string' && value.length <= 60) text = value.trim();
  else
    return `expected a decimal number as a string ("12.50") or a JSON number, got ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`;
  const m = /^([+-]?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m) return `expected a decimal number such as "12.50", got ${JSON.stringify(text.slice(0, 40))}`;
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  if (fraction.length > scale)
    return `at most ${scale} digit(s) after the decimal point, got ${JSON.stringify(text.slice(0, 40))}`;
  const digits = (m[2]! + fraction.padEnd(scale, '0')).replace(/^0+(?=\d)/, '');
  if (digits.length > 15 || Number(digits) > MAX_MAGNITUDE)
    return `out of range: at most ${formatDecimal(MAX_MAGNITUDE, scale)} in magnitude`;
  const n = Number(digits);
  return m[1] === '-' && n !== 0 ? -n : n;
}

/** A JSON number's plain decimal text (no exponent): 1e-7 → "0.0000001". */
function numberText(n: number): string {
  const s = String(n);
  if (!/e/i.test(s)) return s;
  const [mantissa, exp] = s.split(/e/i) as [string, string];
  const e = Number(exp);
  const negative = mantissa.startsWith('-');
  const [int, frac = ''] = mantissa.replace('-', '').split('.') as [string, string?];
  const digits = int + frac;
  const point = int.length + e;
  const out =
    point <= 0
      ? `0.${'0'.repeat(-point)}${digits}`
      : point >= digits.length
        ? digits + '0'.repeat(point - digits.length)
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return negative ? `-${out}` : out;
}

/** An unscaled decimal as text: 1250, scale 2 → "12.50". */
export function formatDecimal(unscaled: number, scale: number): string {
  const negative = unscaled < 0;
  const digits = String(Math.abs(unscaled)).padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}

/** Checks a parsed YAML/JSON value; the normalized event type, or every problem with its path. */
export function checkEventType(
  value: unknown,
): { ok: true; declaration: EventTypeDeclaration } | { ok: false; issues: DeclarationIssue[] } {
  const parsed = eventTypeSchema.safeParse(value);
  if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error) };
  const d = parsed.data;
  const issues: DeclarationIssue[] = [];
  if (RESERVED_TYPE_NAMES.has(d.name))
    issues.push({
      path: ['name'],
      message: `${d.name} is a built-in event type or rollup source; give yours another name`,
    });
  const properties: PropertyDeclaration[] = [];
  for (const [name, p] of Object.entries(d.properties)) {
    const path = (k: string) => ['properties', name, k];
    // A JavaScript object's own names (__proto__, constructor, toString…) would read as present in every event.
    if (name in Object.prototype || name === '__proto__')
      issues.push({ path: ['properties', name], message: `${name} is reserved; name the property otherwise` });
    const prop: PropertyDeclaration = {
      name,
      type: p.type,
      ...(p.description ? { description: p.description } : {}),
      required: false,
      default: null,
    };
    const hasDefault = 'default' in p && p.default !== undefined;
    if (p.optional === false && hasDefault)
      issues.push({
        path: path('optional'),
        message: 'a property with a default is optional: events without it hold the default',
      });
    prop.required = !hasDefault && p.optional !== true;
    const bound = (key: 'min' | 'max', v: number | undefined, fallback: number): number => {
      if (v === undefined) return fallback;
      if (Math.abs(v) > MAX_MAGNITUDE)
        issues.push({ path: path(key), message: `at most ${MAX_MAGNITUDE} in magnitude` });
      return v;
    };
    switch (p.type) {
      case 'string':
        prop.maxLength = p.maxLength ?? DEFAULT_MAX_LENGTH;
        if (p.default !== undefined) {
          if (p.default.length > prop.maxLength)
            issues.push({ path: path('default'), message: `longer than maxLength ${prop.maxLength}` });
          prop.default = p.default;
        }
        break;
      case 'long':
        prop.min = bound('min', p.min, -MAX_MAGNITUDE);
        prop.max = bound('max', p.max, MAX_MAGNITUDE);
        if (p.default !== undefined) prop.default = p.default;
        break;
      case 'decimal': {
        prop.scale = p.scale;
        const read = (key: 'min' | 'max' | 'default', v: string | number | undefined): number | undefined => {
          if (v === undefined) return undefined;
          const n = parseDecimal(v, p.scale);
          if (typeof n === 'string') {
            issues.push({ path: path(key), message: n });
            return undefined;
          }
          return n;
        };
        prop.min = read('min', p.min) ?? -MAX_MAGNITUDE;
        prop.max = read('max', p.max) ?? MAX_MAGNITUDE;
        const fallback = read('default', p.default);
        if (fallback !== undefined) prop.default = fallback;
        break;
      }
      case 'boolean':
        if (p.default !== undefined) prop.default = p.default;
        break;
      case 'enum':
        prop.values = p.values;
        if (new Set(p.values).size !== p.values.length)
          issues.push({ path: path('values'), message: 'a value is listed twice' });
        if (p.default !== undefined) {
          if (!p.values.includes(p.default))
            issues.push({ path: path('default'), message: `not one of the values (${p.values.join(', ')})` });
          prop.default = p.default;
        }
        break;
      case 'timestamp':
        break;
    }
    if (prop.min !== undefined && prop.max !== undefined && prop.min > prop.max)
      issues.push({ path: path('min'), message: 'above max' });
    if (typeof prop.default === 'number' && (prop.default < prop.min! || prop.default > prop.max!))
      issues.push({ path: path('default'), message: 'outside min..max' });
    properties.push(prop);
  }
  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    declaration: { name: d.name, ...(d.description ? { description: d.description } : {}), properties },
  };
}

/** What a rollup may do with a property: group and count distinct (text), add up (number), or min/max only (time). */
export function propertyKind(p: Pick<PropertyDeclaration, 'type'>): 'text' | 'number' | 'time' {
  return p.type === 'long' || p.type === 'decimal' ? 'number' : p.type === 'timestamp' ? 'time' : 'text';
}

/** The JSON Schema of an event-type file (one type, or a list of them), for editors. */
export function eventTypeJsonSchema(): Record<string, unknown> {
  return fileJsonSchema(eventTypeSchema, {
    file: 'events.schema.json',
    title: 'Tributary event types',
    description: 'One declared event type, or a list of them (docs/events.md).',
    name: 'event',
  });
}
