import { z } from 'zod';
import { INTERVAL_MS, INTERVALS, METRICS, type Interval, type Metric } from './queries';
import { WINDOWS, type RollupDeclaration } from '../schemas/declarations/format';
import { TributaryError } from '../platform/errors';

/** Query parameters of the dashboard API, validated; a bad one is a 400 that names it. */
export class ParameterError extends TributaryError {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super('invalid_input', message);
    this.name = 'ParameterError';
  }
}

const MAX_RANGE_MS = 366 * 86_400_000;
const MAX_POINTS = 1500;

/** The times ClickHouse's DateTime64 holds: a bound outside them is the client's mistake (400), not a failed query. */
const EARLIEST_MS = Date.UTC(1900, 0, 1);
const LATEST_MS = Date.UTC(2299, 11, 31, 23, 59, 59, 999);

const time = (name: string) =>
  z
    .string()
    .optional()
    .describe(`ISO-8601 time or epoch milliseconds, 1900..2299`)
    .transform((v, ctx) => {
      if (v === undefined || v === '') return undefined;
      const ms = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
      if (Number.isNaN(ms)) {
        ctx.addIssue({ code: 'custom', message: `${name} must be an ISO-8601 time or epoch milliseconds` });
        return z.NEVER;
      }
      if (ms < EARLIEST_MS || ms > LATEST_MS) {
        ctx.addIssue({ code: 'custom', message: `${name} must be between 1900-01-01 and 2299-12-31` });
        return z.NEVER;
      }
      return ms;
    });

function parse<T extends z.ZodType>(schema: T, query: unknown): z.infer<T> {
  const result = schema.safeParse(query);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const parameter = String(issue.path[0] ?? 'query');
    throw new ParameterError(parameter, `${parameter}: ${issue.message}`);
  }
  return result.data;
}

export interface RangeParams {
  from: number;
  to: number;
}

function range(q: { from?: number; to?: number }, defaultSpanMs = 3_600_000): RangeParams {
  const to = q.to ?? Date.now() + 60_000;
  const from = q.from ?? to - defaultSpanMs - 60_000;
  if (from >= to) throw new ParameterError('from', 'from: must be before to');
  if (to - from > MAX_RANGE_MS) throw new ParameterError('to', 'to: the range from..to may span at most 366 days');
  return { from, to };
}

/** The query parameters of each endpoint: what they are checked with, and what the OpenAPI document says (dashboards/openapi.ts). */
export const QUERIES = {
  range: z.object({ from: time('from'), to: time('to') }),
  timeseries: z.object({
    metric: z.enum(Object.keys(METRICS) as [Metric, ...Metric[]], {
      message: `metric must be one of ${Object.keys(METRICS).join(', ')}`,
    }),
    from: time('from'),
    to: time('to'),
    interval: z
      .enum(Object.keys(INTERVALS) as [Interval, ...Interval[]], { message: 'interval must be one of 1m, 5m, 1h, 1d' })
      .default('1m'),
    groupBy: z
      .enum(['type', 'country', 'currency', 'device'], {
        message: 'groupBy must be one of type, country, currency, device',
      })
      .optional(),
  }),
  topProducts: z.object({
    from: time('from'),
    to: time('to'),
    limit: z.coerce
      .number({ message: 'limit must be a number' })
      .int('limit must be an integer')
      .min(1, 'limit must be at least 1')
      .max(100, 'limit must be at most 100')
      .default(10),
  }),
  rollup: z.object({
    from: time('from'),
    to: time('to'),
    measure: z.string().optional().describe('a measure column of the rollup (default: its first)'),
    interval: z
      .enum(Object.keys(INTERVALS) as [Interval, ...Interval[]], { message: 'interval must be one of 1m, 5m, 1h, 1d' })
      .optional()
      .describe("bucket; at least the rollup's window (default: the smallest that is)"),
    groupBy: z.string().optional().describe('dimensions, comma-separated'),
    filter: z
      .union([z.string(), z.array(z.string())])
      .optional()
      .describe('dimension:value or dimension:value1|value2; repeatable'),
  }),
};

export function rangeParams(query: unknown): RangeParams {
  return range(parse(QUERIES.range, query));
}

export function timeseriesParams(
  query: unknown,
): RangeParams & { metric: Metric; interval: Interval; groupBy: string | undefined } {
  const q = parse(QUERIES.timeseries, query);
  const r = range(q);
  if (q.groupBy && !(METRICS[q.metric].groups as readonly string[]).includes(q.groupBy)) {
    throw new ParameterError(
      'groupBy',
      `groupBy: ${q.groupBy} is not available for ${q.metric}; use ${METRICS[q.metric].groups.join(', ') || 'none'}`,
    );
  }
  const points = Math.ceil((r.to - r.from) / INTERVAL_MS[q.interval]);
  if (points > MAX_POINTS)
    throw new ParameterError(
      'interval',
      `interval: ${points} points at ${q.interval}; at most ${MAX_POINTS}: choose a longer interval or a shorter range`,
    );
  return { ...r, metric: q.metric, interval: q.interval, groupBy: q.groupBy };
}

export function topProductsParams(query: unknown): RangeParams & { limit: number } {
  const q = parse(QUERIES.topProducts, query);
  return { ...range(q), limit: q.limit };
}

/** Parameters of /api/rollups/<name>, checked against its declaration: measure, interval no finer than its window, groupBy and filter over its dimensions. */
export function declaredParams(
  query: unknown,
  d: RollupDeclaration,
): RangeParams & {
  measure: RollupDeclaration['measures'][number];
  interval: Interval;
  groupBy: string[];
  filter: Record<string, string[]>;
} {
  const q = parse(QUERIES.rollup, query);
  const columns = d.dimensions.map((x) => x.column);
  const column = (name: string, parameter: string) => {
    const dim = d.dimensions.find((x) => x.column === name || x.field === name);
    if (!dim)
      throw new ParameterError(
        parameter,
        `${parameter}: ${name} is not a dimension of ${d.name}; use ${columns.join(', ') || 'none (it has no dimensions)'}`,
      );
    return dim.column;
  };
  const measure = q.measure === undefined ? d.measures[0]! : d.measures.find((m) => m.column === q.measure);
  if (!measure)
    throw new ParameterError('measure', `measure: ${d.name} has ${d.measures.map((m) => m.column).join(', ')}`);
  const windowMs = WINDOWS[d.window];
  const interval = q.interval ?? (Object.keys(INTERVAL_MS) as Interval[]).find((i) => INTERVAL_MS[i] >= windowMs)!;
  if (INTERVAL_MS[interval] < windowMs)
    throw new ParameterError('interval', `interval: ${d.name} has ${d.window} windows; ask for ${d.window} or coarser`);
  const groupBy = q.groupBy ? [...new Set(q.groupBy.split(',').map((g) => column(g.trim(), 'groupBy')))] : [];
  const filter: Record<string, string[]> = {};
  for (const f of typeof q.filter === 'string' ? [q.filter] : (q.filter ?? [])) {
    const at = f.indexOf(':');
    if (at <= 0) throw new ParameterError('filter', 'filter: dimension:value, or dimension:value1|value2');
    const dim = column(f.slice(0, at), 'filter');
    filter[dim] = [...(filter[dim] ?? []), ...f.slice(at + 1).split('|')];
  }
  const r = range(q, 24 * 3_600_000);
  const points = Math.ceil((r.to - r.from) / INTERVAL_MS[interval]);
  if (points > MAX_POINTS)
    throw new ParameterError(
      'interval',
      `interval: ${points} points at ${interval}; at most ${MAX_POINTS}: choose a longer interval or a shorter range`,
    );
  return { ...r, measure, interval, groupBy, filter };
}
