import type { ClickHouseClient } from '@clickhouse/client';
import { OTHER } from '../schemas/rollup';
import { chTime } from '../platform/clickhouse/time';
import { setsTableOf, tableOf } from '../schemas/declarations/row';

/**
 * The built-in rollups' tables (rollups/builtin.yaml, version 1): the fixed endpoints read
 * them by the column names their declarations give (count, amount_cents, quantity, users).
 */
const ORDERS = tableOf('orders', 1);
const PRODUCTS = tableOf('products', 1);
const USERS = tableOf('users', 1);
const ACTIVE_USERS = setsTableOf('active_users', 1);

/**
 * Every read the dashboards make, in one place. Rollup tables are read with FINAL, so each row
 * key counts once at its highest version, then summed over segments and partitions. Values
 * always travel as query_params; identifiers (database, bucket expression, group column) come
 * from closed lists, never from the request.
 */
export interface Range {
  from: number;
  to: number;
}

export interface Totals {
  orders: Record<string, { count: number; amountCents: Record<string, number> }>;
  userEvents: Record<string, number>;
  activeUsers: number;
}

/**
 * Received → queryable latency of recent events: for each rollup row version inserted in the
 * last minute that advanced, its insert time minus the receivedAt of the newest event it counts
 * (the sink stores rows re-sent unchanged without max_received_at: consumers/advanced.ts). Null
 * when nothing was inserted in that minute (the pipeline is idle, not slow).
 */
export interface Freshness {
  p50Ms: number;
  p99Ms: number;
  /** Row versions it is measured on. */
  rows: number;
}

export const INTERVALS = {
  '1m': 'toStartOfMinute(window_start)',
  '5m': 'toStartOfFiveMinutes(window_start)',
  '1h': 'toStartOfHour(window_start)',
  '1d': 'toStartOfDay(window_start)',
} as const;
export const INTERVAL_MS = { '1m': 60_000, '5m': 300_000, '1h': 3_600_000, '1d': 86_400_000 } as const;
export type Interval = keyof typeof INTERVALS;

export const METRICS = {
  orders: { table: ORDERS, value: 'sum(count)', groups: ['type', 'country', 'currency'] },
  revenue: { table: ORDERS, value: 'sum(amount_cents)', groups: ['type', 'country', 'currency'] },
  user_events: { table: USERS, value: 'sum(count)', groups: ['type', 'country', 'device'] },
  active_users: { table: ACTIVE_USERS, value: 'uniqExactMerge(users)', groups: [] },
} as const;
export type Metric = keyof typeof METRICS;

export interface SeriesPoint {
  t: string;
  group: string;
  value: number;
}

/** A series answer: its points, and whether groups were folded into `__other__` or points cut at the row cap. */
export interface Series {
  points: SeriesPoint[];
  truncated: boolean;
}

/**
 * What one answer holds at most, whatever the data: series split by a dimension keep its
 * MAX_GROUPS largest groups (by their total over the range) and fold the rest into `__other__`
 * (revenue per currency: `__other__/<currency>`, amounts of two currencies are never added);
 * no answer has more than MAX_RESULT_ROWS rows. Each says `truncated: true` when it did either.
 */
export const MAX_GROUPS = 20;
export const MAX_RESULT_ROWS = 20_000;

/** How far back in event time /api/pipeline's `folded` looks. */
const FOLDED_WINDOWS_MS = 2 * 86_400_000;

const RANGE = `window_start >= {from:DateTime64(3, 'UTC')} AND window_start < {to:DateTime64(3, 'UTC')}`;

export class DashboardQueries {
  private readonly settings: string;

  /**
   * Every query runs at most `timeoutMs` in ClickHouse (max_execution_time, as a SETTINGS clause
   * of that query alone, so the same session's inserts are not limited) and is cancelled when
   * `signal` aborts (the client went away).
   */
  constructor(
    private readonly client: ClickHouseClient,
    private readonly db: string,
    timeoutMs = 10_000,
    private readonly signal?: AbortSignal,
    maxMemoryBytes = 256 * 2 ** 20,
  ) {
    // A memory cap too: past it ClickHouse stops the query (MEMORY_LIMIT_EXCEEDED, answered 422 by
    // the API), so no answer can take the memory of the process that also runs the sink.
    this.settings = ` SETTINGS max_execution_time = ${Math.max(1, Math.ceil(timeoutMs / 1000))}, timeout_overflow_mode = 'throw', max_memory_usage = ${Math.floor(maxMemoryBytes)}`;
  }

  /** The same queries, cancelled when `signal` aborts. */
  withSignal(signal: AbortSignal): DashboardQueries {
    return Object.assign(Object.create(DashboardQueries.prototype) as DashboardQueries, this, { signal });
  }

  private async rows<T>(query: string, params: Record<string, unknown>): Promise<T[]> {
    const result = await this.client.query({
      query: query + this.settings,
      query_params: params,
      format: 'JSONEachRow',
      abort_signal: this.signal,
    });
    return result.json<T>();
  }

  private range(r: Range) {
    return { from: chTime(r.from), to: chTime(r.to) };
  }

  /** Figures over the minute windows whose start is in [from, to). */
  async totals(r: Range): Promise<Totals> {
    const p = this.range(r);
    const [orders, users, active] = await Promise.all([
      this.rows<{ type: string; currency: string; count: string; amount: string }>(
        `SELECT type, currency, sum(count) AS count, sum(amount_cents) AS amount FROM ${this.db}.${ORDERS} FINAL WHERE ${RANGE} GROUP BY type, currency`,
        p,
      ),
      this.rows<{ type: string; count: string }>(
        `SELECT type, sum(count) AS count FROM ${this.db}.${USERS} FINAL WHERE ${RANGE} GROUP BY type`,
        p,
      ),
      this.rows<{ n: string }>(`SELECT uniqExactMerge(users) AS n FROM ${this.db}.${ACTIVE_USERS} WHERE ${RANGE}`, p),
    ]);
    const totals: Totals = { orders: {}, userEvents: {}, activeUsers: Number(active[0]?.n ?? 0) };
    for (const o of orders) {
      const entry = (totals.orders[o.type] ??= { count: 0, amountCents: {} });
      entry.count += Number(o.count);
      if (o.currency && Number(o.amount) !== 0)
        entry.amountCents[o.currency] = (entry.amountCents[o.currency] ?? 0) + Number(o.amount);
    }
    for (const u of users) totals.userEvents[u.type] = Number(u.count);
    return totals;
  }

  /** See Freshness: over the row versions inserted in the last `windowMs`. */
  async freshness(windowMs = 60_000, now = Date.now()): Promise<Freshness | null> {
    const latency = (
      table: string,
    ) => `SELECT toUnixTimestamp64Milli(inserted_at) - toUnixTimestamp64Milli(max_received_at) AS ms
      FROM ${this.db}.${table} WHERE inserted_at >= {since:DateTime64(3, 'UTC')} AND max_received_at >= {recent:DateTime64(3, 'UTC')}`;
    const [row] = await this.rows<{ n: string; p50: number | null; p99: number | null }>(
      `SELECT count() AS n, quantile(0.5)(ms) AS p50, quantile(0.99)(ms) AS p99 FROM (${latency(ORDERS)} UNION ALL ${latency(USERS)})`,
      // Rows a restarted processor re-emits for old events are not recent events: received in the last 10 minutes only.
      { since: chTime(now - windowMs), recent: chTime(now - 10 * windowMs) },
    );
    const rows = Number(row?.n ?? 0);
    return rows === 0
      ? null
      : { p50Ms: Math.max(0, Math.round(Number(row!.p50))), p99Ms: Math.max(0, Math.round(Number(row!.p99))), rows };
  }

  /**
   * Events counted under `__other__` (a window had more values of that dimension than its bound,
   * streams/partition.ts) in rows written in the last `windowMs`, per `kind.dimension`; only
   * those with any. Windows of the last FOLDED_WINDOWS_MS only: window_start leads the tables'
   * order, so /api/pipeline (polled every 2 s by the status line) never reads a whole table.
   */
  async folded(windowMs = 3_600_000, now = Date.now()): Promise<Record<string, number>> {
    const tables = {
      users: [USERS, ['type', 'country', 'device']],
      orders: [ORDERS, ['type', 'country', 'currency']],
      products: [PRODUCTS, ['sku', 'category', 'currency']],
    } as const;
    const out: Record<string, number> = {};
    await Promise.all(
      Object.entries(tables).map(async ([kind, [table, dims]]) => {
        const [row] = await this.rows<Record<string, string>>(
          `SELECT ${dims.map((d) => `sumIf(count, ${d} = '${OTHER}') AS ${d}`).join(', ')} FROM ${this.db}.${table} FINAL WHERE window_start >= {windows:DateTime64(3, 'UTC')} AND inserted_at >= {since:DateTime64(3, 'UTC')}`,
          { since: chTime(now - windowMs), windows: chTime(now - FOLDED_WINDOWS_MS) },
        );
        for (const d of dims) if (Number(row?.[d] ?? 0) > 0) out[`${kind}.${d}`] = Number(row![d]);
      }),
    );
    return out;
  }

  /**
   * ClickHouse's part health per table of this database: active parts (merges keep this small; a
   * number in the hundreds means inserts outrun merges, "too many parts") and the inserts since the
   * table was created (every insert writes one new part and takes the next block number, so the
   * highest block number counts them; the difference over time is parts created per hour).
   */
  async parts(): Promise<Array<{ table: string; activeParts: number; inserts: number; rows: number }>> {
    const rows = await this.rows<{ table: string; parts: string; inserts: string; rows: string }>(
      `SELECT table, countIf(active) AS parts, max(max_block_number) AS inserts, sumIf(rows, active) AS rows
       FROM system.parts WHERE database = {db:String} GROUP BY table ORDER BY table`,
      { db: this.db },
    );
    return rows.map((r) => ({
      table: r.table,
      activeParts: Number(r.parts),
      inserts: Number(r.inserts),
      rows: Number(r.rows),
    }));
  }

  /** One metric bucketed by `interval`, split by `groupBy` (revenue is always split by currency). */
  async timeseries(metric: Metric, r: Range, interval: Interval, groupBy?: string): Promise<Series> {
    const m = METRICS[metric];
    const final = metric === 'active_users' ? '' : 'FINAL';
    const from = `${this.db}.${m.table} ${final} WHERE ${RANGE}`;
    if (groupBy && !(m.groups as readonly string[]).includes(groupBy))
      throw new RangeError(`groupBy ${groupBy} is not available for ${metric}`);
    // Revenue is always split by currency; the groups folded are those of `groupBy`.
    const currency = metric === 'revenue' && groupBy !== 'currency';
    let group = `''`;
    let truncated = false;
    const params: Record<string, unknown> = this.range(r);
    // Currencies are never folded (two currencies' amounts are not added); their list is bounded (ISO 4217).
    if (groupBy && !(metric === 'revenue' && groupBy === 'currency')) {
      const top = await this.rows<{ g: string }>(
        `SELECT toString(${groupBy}) AS g FROM ${from} GROUP BY g ORDER BY abs(${m.value}) DESC, g LIMIT ${MAX_GROUPS + 1}`,
        params,
      );
      truncated = top.length > MAX_GROUPS;
      params.top = top.slice(0, MAX_GROUPS).map((t) => t.g);
      group = truncated
        ? `if(toString(${groupBy}) IN {top:Array(String)}, toString(${groupBy}), '${OTHER}')`
        : `toString(${groupBy})`;
    }
    if (groupBy && !params.top) group = `toString(${groupBy})`;
    if (currency) group = groupBy ? `concat(${group}, '/', toString(currency))` : 'toString(currency)';
    const rows = await this.rows<{ t: string; g: string; v: string }>(
      `SELECT formatDateTime(${INTERVALS[interval]}, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS t, ${group} AS g, ${m.value} AS v
       FROM ${from} GROUP BY t, g ORDER BY t, g LIMIT ${MAX_RESULT_ROWS + 1}`,
      params,
    );
    if (rows.length > MAX_RESULT_ROWS) {
      truncated = true;
      rows.length = MAX_RESULT_ROWS;
    }
    return {
      points: rows.map((row) => ({ t: new Date(row.t).toISOString(), group: row.g, value: Number(row.v) })),
      truncated,
    };
  }

  /**
   * One measure of a declared rollup version bucketed by `interval`, split by `groupBy` (its
   * dimension columns, joined by `/`), only rows whose dimensions match `filter`. The
   * MAX_GROUPS largest groups are kept and the rest folded into `__other__` (sums add, min and
   * max take theirs, distinct counts merge their sets: each is exact for the folded group).
   */
  async declaredSeries(q: {
    table: string;
    setsTable: string;
    measure: { fn: string; column: string };
    range: Range;
    interval: Interval;
    groupBy: string[];
    filter: Record<string, string[]>;
  }): Promise<Series> {
    const distinct = q.measure.fn === 'distinct';
    const col = `\`${q.measure.column}\``;
    const value = distinct
      ? `uniqExactMerge(${col})`
      : q.measure.fn === 'min'
        ? `min(${col})`
        : q.measure.fn === 'max'
          ? `max(${col})`
          : `sum(${col})`;
    const params: Record<string, unknown> = this.range(q.range);
    const where = [
      RANGE,
      ...Object.keys(q.filter).map((d, i) => {
        params[`f${i}`] = q.filter[d];
        return `\`${d}\` IN {f${i}:Array(String)}`;
      }),
    ].join(' AND ');
    const from = `${this.db}.${distinct ? q.setsTable : `${q.table} FINAL`} WHERE ${where}`;
    let group = `''`;
    let truncated = false;
    if (q.groupBy.length > 0) {
      const g =
        q.groupBy.length === 1 ? `\`${q.groupBy[0]}\`` : `concat(${q.groupBy.map((d) => `\`${d}\``).join(`, '/', `)})`;
      const top = await this.rows<{ g: string }>(
        `SELECT ${g} AS g FROM ${from} GROUP BY g ORDER BY abs(${value}) DESC, g LIMIT ${MAX_GROUPS + 1}`,
        params,
      );
      truncated = top.length > MAX_GROUPS;
      params.top = top.slice(0, MAX_GROUPS).map((t) => t.g);
      group = truncated ? `if(${g} IN {top:Array(String)}, ${g}, '${OTHER}')` : g;
    }
    const rows = await this.rows<{ t: string; g: string; v: string | null }>(
      `SELECT formatDateTime(${INTERVALS[q.interval]}, '%Y-%m-%dT%H:%i:%SZ', 'UTC') AS t, ${group} AS g, ${value} AS v
       FROM ${from} GROUP BY t, g ORDER BY t, g LIMIT ${MAX_RESULT_ROWS + 1}`,
      params,
    );
    if (rows.length > MAX_RESULT_ROWS) {
      truncated = true;
      rows.length = MAX_RESULT_ROWS;
    }
    return {
      points: rows
        .filter((r) => r.v !== null)
        .map((row) => ({ t: new Date(row.t).toISOString(), group: row.g, value: Number(row.v) })),
      truncated,
    };
  }

  /** The `limit` products that sold the most units in the range, ranked and cut in ClickHouse. */
  async topProducts(
    r: Range,
    limit: number,
  ): Promise<Array<{ sku: string; category: string; quantity: number; revenueCents: Record<string, number> }>> {
    const rows = await this.rows<{ sku: string; category: string; q: string; revenue: Array<[string, string]> }>(
      `SELECT sku, any(category) AS category, sum(q) AS q, groupArray((currency, rev)) AS revenue
       FROM (SELECT sku, any(category) AS category, currency, sum(quantity) AS q, sum(amount_cents) AS rev
             FROM ${this.db}.${PRODUCTS} FINAL WHERE ${RANGE} GROUP BY sku, currency)
       GROUP BY sku ORDER BY q DESC, sku ASC LIMIT {limit:UInt32}`,
      { ...this.range(r), limit },
    );
    return rows.map((row) => ({
      sku: row.sku,
      category: row.category,
      quantity: Number(row.q),
      revenueCents: Object.fromEntries(row.revenue.map(([currency, rev]) => [currency, Number(rev)])),
    }));
  }
}
