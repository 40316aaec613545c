import { z } from 'zod';
import { ORDER_EVENT_TYPES, USER_EVENT_TYPES } from '../catalog';
import type { EventTypeDeclaration, PropertyType } from '../events/format';
import { issuesOf, type DeclarationIssue } from './issues';

/**
 * A declared rollup: data, not code (docs/rollups.md). Users keep these in their own repository
 * as YAML or JSON; `tributary rollups apply` validates them against this schema and registers
 * each as a version on the declarations topic, which the processor, the sink and the dashboard
 * read. The JSON Schema editors complete from (docs/rollups.schema.json) is generated from the
 * same zod schema.
 */

/** Where a rollup's events come from: each event once, or an order once per line. */
export const SOURCES = ['users', 'orders', 'order_lines'] as const;
/**
 * `events`: user and order events alike (their common fields). Only the built-in declarations
 * (rollups/builtin.yaml) may read it: a version's handover offsets are those of one input topic
 * (schemas/declarations/book.ts), and a built-in one has none (it was always computed).
 */
export const BUILTIN_SOURCES = [...SOURCES, 'events'] as const;
export type Source = (typeof BUILTIN_SOURCES)[number];
export type DeclaredSource = (typeof SOURCES)[number];

/** Which input topics a source reads (a declared source reads one: its version's handovers are that topic's). */
export const SOURCE_TOPICS = {
  users: ['users'],
  orders: ['orders'],
  order_lines: ['orders'],
  events: ['users', 'orders'],
} as const satisfies Record<Source, ReadonlyArray<'users' | 'orders'>>;
/** The input topics of any source: a declared event type's is the topic of the declared types (docs/events.md). */
export function sourceTopics(source: string): ReadonlyArray<'users' | 'orders' | 'custom'> {
  return Object.hasOwn(SOURCE_TOPICS, source) ? SOURCE_TOPICS[source as Source] : ['custom'];
}
/** A source that is a declared event type rather than a built-in one. */
export const isEventTypeSource = (source: string) => !Object.hasOwn(SOURCE_TOPICS, source);

/** The fields a source offers: text (dimensions, filters, distinct) or number (sum, min, max). */
const USER_TEXT = ['type', 'userId', 'country', 'device', 'page', 'sessionId'] as const;
const ORDER_TEXT = ['type', 'userId', 'orderId', 'currency', 'country'] as const;
const LINE_TEXT = [...ORDER_TEXT, 'sku', 'category'] as const;
export const FIELDS: Record<Source, { text: readonly string[]; number: readonly string[]; properties: boolean }> = {
  users: { text: USER_TEXT, number: [], properties: true },
  // units: the order's item quantities added up; lines: its number of items.
  orders: { text: ORDER_TEXT, number: ['amountCents', 'units', 'lines'], properties: false },
  // revenueCents: quantity × unitPriceCents of the line.
  order_lines: {
    text: LINE_TEXT,
    number: ['amountCents', 'quantity', 'unitPriceCents', 'revenueCents'],
    properties: false,
  },
  events: { text: ['type', 'userId', 'country'], number: [], properties: false },
};

export const WINDOWS = { '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 } as const;
export type WindowName = keyof typeof WINDOWS;

export const MEASURE_FUNCTIONS = ['count', 'sum', 'min', 'max', 'distinct'] as const;
export type MeasureFunction = (typeof MEASURE_FUNCTIONS)[number];

/** Limits of one declaration: what a row and a window may cost (docs/rollups.md#limits). */
export const MAX_DIMENSIONS = 8;
export const MAX_MEASURES = 16;
export const MAX_DISTINCT = 4;
/** Distinct values a dimension may take per window and chunk before folding into `__other__`. */
export const MAX_BOUND = 100_000;
/** Bounds when a declaration names none, and the built-in rollups' (streams/partition.ts): the codes' list lengths, free text 1,000. */
export const DEFAULT_BOUNDS: Readonly<Record<string, number>> = {
  type: 100,
  country: 300,
  currency: 200,
  device: 1000,
  category: 1000,
  sku: 100_000,
};
export const DEFAULT_BOUND = 1000;

const NAME = /^[a-z][a-z0-9_]{0,62}$/;
const PROPERTY = /^properties\.[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const MEASURE =
  /^\s*(count|sum|min|max|distinct)\s*(?:\(\s*([A-Za-z_.][A-Za-z0-9_.]*)?\s*\))?\s*(?:\s+as\s+([a-z][a-z0-9_]*))?\s*$/;

const fieldName = z.string().min(1).max(80);
const measureObject = z.strictObject({
  fn: z.enum(MEASURE_FUNCTIONS).describe('count, sum, min, max or distinct (exact)'),
  field: fieldName.optional().describe('the field it reads; not for count'),
  as: z
    .string()
    .regex(NAME, 'a column name: lower case letters, digits, _')
    .optional()
    .describe('its column name (default fn_field in snake case)'),
});
const dimensionObject = z.strictObject({
  field: fieldName.describe(
    'an event field, an order line field (source order_lines) or properties.<name> (source users)',
  ),
  bound: z
    .number()
    .int()
    .min(1)
    .max(MAX_BOUND)
    .optional()
    .describe(`distinct values per window and chunk before the rest count under __other__ (at most ${MAX_BOUND})`),
});

/** A declaration as written (before its fields are checked against its source). */
export const declarationSchema = z.strictObject({
  name: z
    .string()
    .regex(NAME, 'lower case letters, digits and _, starting with a letter, at most 63 characters')
    .describe("the rollup's name: /api/rollups/<name>"),
  description: z.string().max(500).optional(),
  source: z
    .union([
      z.enum(SOURCES),
      z.string().regex(NAME, 'users, orders, order_lines, or the name of a declared event type'),
    ])
    .describe(
      'users (user events), orders (order events), order_lines (each line of an order event), or a declared event type (docs/events.md)',
    ),
  types: z.array(z.string().min(1)).min(1).optional().describe('only these event types (all when absent)'),
  filter: z
    .record(fieldName, z.union([z.string(), z.array(z.string()).min(1)]))
    .optional()
    .describe('only events whose field equals the value, or is one of the values'),
  dimensions: z
    .array(z.union([fieldName, dimensionObject]))
    .max(MAX_DIMENSIONS, `at most ${MAX_DIMENSIONS} dimensions`)
    .default([])
    .describe('the fields rows are grouped by (besides the window)'),
  measures: z
    .array(
      z.union([
        z
          .string()
          .regex(
            MEASURE,
            'count, sum(field), min(field), max(field) or distinct(field), optionally followed by "as name"',
          ),
        measureObject,
      ]),
    )
    .min(1, 'at least one measure')
    .max(MAX_MEASURES, `at most ${MAX_MEASURES} measures`)
    .describe('what each row holds'),
  window: z.enum(Object.keys(WINDOWS) as [WindowName, ...WindowName[]]).describe('event-time window: 1m, 1h or 1d'),
});
export type DeclarationInput = z.input<typeof declarationSchema>;
const builtinSchema = declarationSchema.extend({ source: z.enum(BUILTIN_SOURCES) });

/**
 * A declaration checked and normalized: what is stored, compared across versions and compiled.
 * Over a declared event type, `properties` pins what it reads of each property it names (its
 * type, scale and default) as the tracking plan said when it was applied: an event written
 * before the property existed counts under that default, on every recomputation alike.
 */
export interface RollupDeclaration {
  name: string;
  description?: string;
  /** A built-in source, or a declared event type's name. */
  source: string;
  types?: string[];
  filter?: Record<string, string[]>;
  dimensions: Array<{ field: string; column: string; bound: number }>;
  /** `scale`: a measure of a decimal property, in its unscaled units. */
  measures: Array<{ fn: MeasureFunction; field?: string; column: string; scale?: number }>;
  window: WindowName;
  properties?: Record<string, PinnedProperty>;
}

/** What a rollup reads of a declared property. */
export interface PinnedProperty {
  type: PropertyType;
  default: string | number | boolean | null;
  scale?: number;
}

const snake = (s: string) =>
  s
    .replace(/\./g, '_')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase();

/** Every column a table of a declaration holds besides its dimensions and measures. */
export const RESERVED_COLUMNS = [
  'topic',
  'partition',
  'segment',
  'chunk',
  'window_start',
  'version',
  'max_received_at',
  'inserted_at',
];

/**
 * Checks a parsed YAML/JSON value; the normalized declaration, or every problem with its path.
 * `builtin`: one of rollups/builtin.yaml, which may read source `events`.
 */
export function checkDeclaration(
  value: unknown,
  builtin = false,
  eventTypes?: (name: string) => EventTypeDeclaration | undefined,
): { ok: true; declaration: RollupDeclaration } | { ok: false; issues: DeclarationIssue[] } {
  const parsed = (builtin ? builtinSchema : declarationSchema).safeParse(value);
  if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error) };
  const d: z.output<typeof declarationSchema> = parsed.data;
  const issues: DeclarationIssue[] = [];
  const custom = isEventTypeSource(d.source);
  const eventType = custom ? eventTypes?.(d.source) : undefined;
  if (custom && !eventType) {
    return {
      ok: false,
      issues: [
        {
          path: ['source'],
          message: `${JSON.stringify(d.source)} is neither users, orders, order_lines nor a declared event type (tributary events list; declare it with tributary events apply first)`,
        },
      ],
    };
  }
  const declared = new Map(eventType?.properties.map((p) => [`properties.${p.name}`, p]) ?? []);
  const fields = eventType ? { text: ['userId'], number: [], properties: false } : FIELDS[d.source as Source];
  // A declared type's property: text (string, enum, boolean, and long as its digits) groups, filters and counts distinct; a number adds up; a time has a min and max.
  const propertyKind = (f: string) => {
    const p = declared.get(f);
    return p
      ? p.type === 'timestamp'
        ? 'time'
        : p.type === 'decimal'
          ? 'number'
          : p.type === 'long'
            ? 'both'
            : 'text'
      : undefined;
  };
  const isText = (f: string) =>
    fields.text.includes(f) ||
    (fields.properties && PROPERTY.test(f)) ||
    ['text', 'both'].includes(propertyKind(f) ?? '');
  const isNumber = (f: string) => fields.number.includes(f) || ['number', 'both'].includes(propertyKind(f) ?? '');
  const kindOf = (f: string) => (isText(f) ? 'text' : isNumber(f) ? 'number' : propertyKind(f));
  const unknown = (f: string) =>
    `unknown field ${JSON.stringify(f)} for source ${d.source}; known: ${[...fields.text, ...fields.number, ...declared.keys()].join(', ')}${fields.properties ? ', properties.<name>' : ''}`;
  if (custom && d.types)
    issues.push({
      path: ['types'],
      message: `source ${d.source} is one event type already: types are for the built-in sources`,
    });
  const types: readonly string[] =
    d.source === 'users'
      ? USER_EVENT_TYPES
      : d.source === 'events'
        ? [...USER_EVENT_TYPES, ...ORDER_EVENT_TYPES]
        : ORDER_EVENT_TYPES;
  if (!custom)
    d.types?.forEach((t, i) => {
      if (!types.includes(t))
        issues.push({
          path: ['types', i],
          message: `unknown event type ${JSON.stringify(t)}; one of ${types.join(', ')}`,
        });
    });
  const filter: Record<string, string[]> = {};
  for (const [field, v] of Object.entries(d.filter ?? {})) {
    if (kindOf(field) !== 'text')
      issues.push({
        path: ['filter', field],
        message: kindOf(field) ? `${field} is a number: filters compare text fields` : unknown(field),
      });
    filter[field] = typeof v === 'string' ? [v] : [...new Set(v)].sort();
  }
  const columns = new Map<string, Array<string | number>>();
  const claim = (column: string, path: Array<string | number>) => {
    if (RESERVED_COLUMNS.includes(column))
      issues.push({ path, message: `column ${column} is reserved; name it otherwise (as)` });
    else if (columns.has(column))
      issues.push({ path, message: `column ${column} is declared twice (also at ${columns.get(column)!.join('.')})` });
    else columns.set(column, path);
  };
  const dimensions = d.dimensions.map((dim, i) => {
    const { field, bound } = typeof dim === 'string' ? { field: dim, bound: undefined } : dim;
    const path = typeof dim === 'string' ? ['dimensions', i] : ['dimensions', i, 'field'];
    if (kindOf(field) !== 'text')
      issues.push({
        path,
        message: kindOf(field) ? `${field} is a number: a dimension is a text field` : unknown(field),
      });
    const column = snake(field);
    claim(column, path);
    return { field, column, bound: bound ?? DEFAULT_BOUNDS[field] ?? DEFAULT_BOUND };
  });
  let distinct = 0;
  const measures = d.measures.map((m, i) => {
    let fn: MeasureFunction;
    let field: string | undefined;
    let as: string | undefined;
    if (typeof m === 'string') {
      const match = MEASURE.exec(m)!;
      [fn, field, as] = [match[1] as MeasureFunction, match[2], match[3]];
    } else ({ fn, field, as } = m);
    const path = ['measures', i];
    if (fn === 'count' && field !== undefined) issues.push({ path, message: 'count takes no field' });
    if (fn !== 'count') {
      const fits =
        field === undefined
          ? false
          : fn === 'distinct'
            ? isText(field)
            : fn === 'sum'
              ? isNumber(field)
              : isNumber(field) || kindOf(field) === 'time';
      if (field === undefined) issues.push({ path, message: `${fn} needs a field: ${fn}(field)` });
      else if (!fits) {
        issues.push({
          path,
          message: kindOf(field)
            ? `${fn}(${field}): ${fn === 'distinct' ? 'distinct counts text fields' : `${field} is not a number`}`
            : unknown(field),
        });
      }
    }
    if (fn === 'distinct' && ++distinct > MAX_DISTINCT)
      issues.push({ path, message: `at most ${MAX_DISTINCT} distinct measures` });
    const column = as ?? (fn === 'count' ? 'count' : `${fn}_${snake(field ?? '')}`);
    claim(column, path);
    const scale = field !== undefined && fn !== 'distinct' ? declared.get(field)?.scale : undefined;
    return { fn, ...(field !== undefined ? { field } : {}), column, ...(scale !== undefined ? { scale } : {}) };
  });
  if (issues.length > 0) return { ok: false, issues };
  // The properties it reads, pinned as the plan declares them now.
  const read = new Set([
    ...Object.keys(filter),
    ...dimensions.map((x) => x.field),
    ...measures.flatMap((m) => (m.field ? [m.field] : [])),
  ]);
  const properties = Object.fromEntries(
    [...declared]
      .filter(([f]) => read.has(f))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([f, p]) => [
        f.slice('properties.'.length),
        { type: p.type, default: p.default, ...(p.scale !== undefined ? { scale: p.scale } : {}) },
      ]),
  );
  return {
    ok: true,
    declaration: {
      name: d.name,
      ...(d.description ? { description: d.description } : {}),
      source: d.source,
      ...(d.types ? { types: [...new Set(d.types)].sort() } : {}),
      ...(d.filter ? { filter } : {}),
      dimensions,
      measures,
      window: d.window,
      ...(custom ? { properties } : {}),
    },
  };
}

/** Two declarations mean the same rollup when these are equal (the description aside). */
export function declarationFingerprint(d: RollupDeclaration): string {
  const { description: _, ...meaning } = d;
  return JSON.stringify(meaning);
}

/** The JSON Schema of a declaration file (one declaration, or a list of them), for editors. */
export function declarationJsonSchema(): Record<string, unknown> {
  return fileJsonSchema(declarationSchema, {
    file: 'rollups.schema.json',
    title: 'Tributary rollup declarations',
    description: 'One rollup declaration, or a list of them (docs/rollups.md).',
    name: 'rollup',
  });
}

/** The JSON Schema of a file holding one value of `schema` or a list of them (docs/<file>). */
export function fileJsonSchema(
  schema: z.ZodType,
  meta: { file: string; title: string; description: string; name: string },
): Record<string, unknown> {
  const { $schema, ...body } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return {
    $schema,
    $id: `https://tributary.dev/schemas/${meta.file}`,
    title: meta.title,
    description: meta.description,
    anyOf: [{ $ref: `#/$defs/${meta.name}` }, { type: 'array', items: { $ref: `#/$defs/${meta.name}` } }],
    $defs: { [meta.name]: body },
  };
}
