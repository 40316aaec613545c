import { z } from 'zod';
import { QUERIES } from './params';
import { BUILTIN_SOURCES, MEASURE_FUNCTIONS, WINDOWS } from '../schemas/declarations/format';
import { PROPERTY_TYPES } from '../schemas/events/format';

/**
 * The dashboard API as an OpenAPI 3.1 document, served at /api/openapi.json. Its query
 * parameters are generated from the zod schemas the API checks them with (dashboards/params.ts);
 * its responses from the zod schemas below, which the tests check real responses against.
 */
const time = z.string().describe('ISO-8601, UTC');
const point = z.object({ t: time, group: z.string(), value: z.number() });
const coverage = z.object({
  from: z.string().describe('the --from time, or "earliest"'),
  complete: z.boolean(),
  progress: z.number().min(0).max(1),
  state: z.enum(['backfilling', 'writing', 'complete', 'dropped', 'superseded']),
});
const declaration = z.object({
  name: z.string(),
  description: z.string().optional(),
  source: z
    .union([z.enum(BUILTIN_SOURCES), z.string().regex(/^[a-z][a-z0-9_]{0,62}$/)])
    .describe(
      'a built-in source (events: user and order events, built-in rollups only) or a declared event type (docs/events.md)',
    ),
  types: z.array(z.string()).optional(),
  filter: z.record(z.string(), z.array(z.string())).optional(),
  dimensions: z.array(z.object({ field: z.string(), column: z.string(), bound: z.number().int() })),
  measures: z.array(
    z.object({
      fn: z.enum(MEASURE_FUNCTIONS),
      field: z.string().optional(),
      column: z.string(),
      scale: z
        .number()
        .int()
        .optional()
        .describe('a measure of a decimal property: its values have this many decimal places'),
    }),
  ),
  properties: z
    .record(
      z.string(),
      z.object({
        type: z.enum(PROPERTY_TYPES),
        default: z.union([z.string(), z.number(), z.boolean(), z.null()]),
        scale: z.number().int().optional(),
      }),
    )
    .optional()
    .describe(
      'over a declared event type: what it reads of each property, as the tracking plan declared it when the rollup was applied',
    ),
  window: z.enum(Object.keys(WINDOWS) as [keyof typeof WINDOWS, ...Array<keyof typeof WINDOWS>]),
});
const totals = z.object({
  from: time,
  to: time,
  asOf: time,
  orders: z.record(z.string(), z.object({ count: z.number().int(), amountCents: z.record(z.string(), z.number()) })),
  userEvents: z.record(z.string(), z.number().int()),
  activeUsers: z.number().int(),
});
const lag = z.object({
  topic: z.string(),
  partition: z.number().int(),
  committed: z.number().int(),
  processed: z.number().int(),
  end: z.number().int(),
  lag: z.number().int(),
});

export const RESPONSES = {
  error: z.object({ error: z.string(), message: z.string(), parameter: z.string().optional() }),
  totals,
  timeseries: z.object({
    metric: z.string(),
    interval: z.string(),
    groupBy: z.string().nullable(),
    from: time,
    to: time,
    points: z.array(point),
    truncated: z.boolean(),
  }),
  topProducts: z.object({
    from: time,
    to: time,
    products: z.array(
      z.object({
        sku: z.string(),
        category: z.string(),
        quantity: z.number().int(),
        revenueCents: z.record(z.string(), z.number()),
      }),
    ),
  }),
  pipeline: z.object({
    asOf: time,
    stages: z.array(
      z.object({ stage: z.string(), lag: z.number().int().optional(), partitions: z.array(lag).optional() }).loose(),
    ),
    deadLetters: z.number().int(),
    freshness: z.object({ p50Ms: z.number(), p99Ms: z.number(), rows: z.number().int() }).nullable(),
    clickhouse: z.object({
      tables: z.array(
        z.object({
          table: z.string(),
          activeParts: z.number().int(),
          inserts: z.number().int(),
          rows: z.number().int(),
        }),
      ),
    }),
    folded: z.record(z.string(), z.number().int()),
    supervisor: z
      .array(
        z.object({
          stage: z.string(),
          pid: z.number().int().nullable(),
          restarts: z.number().int(),
          lastExit: z.unknown(),
        }),
      )
      .nullable(),
  }),
  rollups: z.object({
    rollups: z.array(
      z.object({
        name: z.string(),
        builtin: z
          .boolean()
          .describe('one of rollups/builtin.yaml: computed from the first event on, never applied or dropped'),
        served: z.number().int().nullable(),
        declaration: declaration.optional(),
        versions: z.array(
          z.object({
            version: z.number().int(),
            appliedAt: time.nullable().describe('null for a built-in rollup'),
            declaration,
            coverage,
          }),
        ),
      }),
    ),
    upgrade: z
      .object({
        partitions: z.number().int().describe('input partitions that resumed from a commit of the per-kind rollups'),
        copied: z
          .number()
          .int()
          .describe('of those, the partitions whose old rows a sink copied into the declared tables'),
        waiting: z.array(z.string()).describe('topic/partition of the others'),
      })
      .nullable()
      .describe('an upgrade from the per-kind rollups; null when this pipeline never had them'),
  }),
  rollup: z.object({
    rollup: z.string(),
    version: z.number().int().nullable().describe('the version answering; null until one covers its history'),
    measure: z.string(),
    window: z.string(),
    interval: z.string(),
    groupBy: z.array(z.string()),
    filter: z.record(z.string(), z.array(z.string())),
    from: time,
    to: time,
    coverage,
    points: z.array(point),
    truncated: z.boolean(),
  }),
};

const schema = (s: z.ZodType) => {
  const { $schema: _, ...body } = z.toJSONSchema(s, { io: 'output', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return body;
};
const parameters = (q: z.ZodObject) => {
  const js = z.toJSONSchema(q, { io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, Record<string, unknown>>;
    required?: string[];
  };
  return Object.entries(js.properties).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: 'query',
      required: js.required?.includes(name) ?? false,
      ...(description ? { description } : {}),
      schema: rest,
      ...(name === 'filter' ? { explode: true } : {}),
    };
  });
};
const json = (s: z.ZodType, description: string) => ({
  description,
  content: { 'application/json': { schema: schema(s) } },
});
const errors = {
  400: json(RESPONSES.error, 'a parameter is wrong: `parameter` names it'),
  401: json(RESPONSES.error, 'no or wrong read key (when READ_KEYS is set)'),
  422: json(RESPONSES.error, 'the query needs more memory than a dashboard query may use'),
  503: json(RESPONSES.error, 'ClickHouse or Kafka could not answer; retry'),
};
const get = (summary: string, query: z.ZodObject | undefined, ok: z.ZodType, extra: Record<string, unknown> = {}) => ({
  get: {
    summary,
    ...(query ? { parameters: parameters(query) } : {}),
    responses: { 200: json(ok, 'the answer'), ...errors, ...extra },
  },
});

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tributary dashboard API',
      version: '1',
      description: "Rollups of the pipeline's events, read from ClickHouse (docs/dashboard.md, docs/rollups.md).",
    },
    components: {
      securitySchemes: {
        readKey: { type: 'http', scheme: 'bearer', description: 'a read key (READ_KEYS); not needed when none is set' },
      },
    },
    security: [{ readKey: [] }, {}],
    paths: {
      '/api/totals': get('figures over the 1-minute windows starting in [from, to)', QUERIES.range, RESPONSES.totals),
      '/api/timeseries': get(
        'one built-in metric bucketed by interval, split by groupBy',
        QUERIES.timeseries,
        RESPONSES.timeseries,
      ),
      '/api/top-products': get('the products that sold the most units', QUERIES.topProducts, RESPONSES.topProducts),
      '/api/pipeline': get(
        'lag, throughput, dead letters, freshness and ClickHouse parts per stage',
        undefined,
        RESPONSES.pipeline,
      ),
      '/api/rollups': get('every declared rollup, its versions and their coverage', undefined, RESPONSES.rollups),
      '/api/rollups/{name}': {
        get: {
          summary: 'one measure of the version of a declared rollup that covers its history',
          parameters: [
            { name: 'name', in: 'path', required: true, schema: { type: 'string' } },
            ...parameters(QUERIES.rollup),
          ],
          responses: {
            200: json(RESPONSES.rollup, 'the answer (no points until a version is complete)'),
            404: json(RESPONSES.error, 'no such rollup'),
            ...errors,
          },
        },
      },
      '/api/stream': {
        get: {
          summary: 'the live figures as server-sent events',
          responses: {
            200: { description: 'text/event-stream', content: { 'text/event-stream': {} } },
            429: json(RESPONSES.error, 'too many streams'),
          },
        },
      },
      '/api/session': {
        post: {
          summary: 'trade a read key for a session cookie (the page)',
          responses: { 204: { description: 'cookie set' }, 401: errors[401] },
        },
      },
    },
  };
}
