import { silentLogger } from '../platform/logger';
import { createClickHouse, type ClickHouseClient } from '../platform/clickhouse/client';
import { runMigrations } from '../platform/clickhouse/migrations';
import { chTime } from '../platform/clickhouse/time';
import { DashboardQueries } from '../dashboards/queries';
import { testConfig } from './helpers';
import { legacyCopyStatements, rollupMigrations } from '../consumers/tables';
import { INSERT_COLUMNS, toTableRow, type SinkTable } from '../consumers/rows';
import { declaredTableRow } from '../consumers/declared-tables';
import { builtin } from '../schemas/declarations/builtin';
import type { RollupRow } from '../schemas/rollup';
import type { DeclaredRow } from '../schemas/declarations/row';

/**
 * A ClickHouse store as the versions before left it, upgraded: the old per-kind tables
 * (migrations 2–4, with rows of before distinct users were sets, and set deltas), then the
 * built-in rollups' tables (migration 5) and the copy of an upgraded partition's old rows
 * (legacyCopyStatements), on the real engine (chDB, or a server with CLICKHOUSE_URL). The
 * dashboard's answers, which now read the built-in rollups' tables, count every event once.
 */
describe('upgrading a store of the per-kind rollup tables', () => {
  const config = testConfig({ CLICKHOUSE_DATABASE: `up_${Date.now()}_${process.pid}` });
  const db = config.clickhouse.database;
  let client: ClickHouseClient;
  const W = Date.UTC(2026, 10, 28, 9, 0);

  beforeAll(() => {
    client = createClickHouse(config.clickhouse, config.dataDir);
  });
  afterAll(async () => {
    await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    await client.close();
  });

  const old = (
    kind: RollupRow['kind'],
    partition: number,
    segment: number,
    windowStart: number,
    dims: Record<string, string>,
    count: number,
    amountCents = 0,
    users: string[] = [],
  ): RollupRow => ({
    kind,
    topic: kind === 'users' ? 'events.users' : 'events.orders',
    partition,
    segment,
    chunk: 0,
    windowStart,
    dims,
    count,
    amountCents,
    quantity: count,
    version: segment * 100 + count,
    users,
    maxReceivedAt: null,
  });
  /** As the sink of before inserted them. */
  async function insertOld(rows: RollupRow[]): Promise<void> {
    const byTable = new Map<SinkTable, unknown[][]>();
    for (const r of rows) {
      const { table, values } = toTableRow(r);
      byTable.set(table, [...(byTable.get(table) ?? []), values]);
    }
    for (const [table, values] of byTable)
      await client.insert({
        table: `${db}.${table}`,
        values,
        format: 'JSONCompactEachRow',
        columns: INSERT_COLUMNS[table],
      });
  }
  async function insertDeclared(rows: DeclaredRow[]): Promise<void> {
    for (const r of rows) {
      const line = declaredTableRow(r, builtin(r.rollup as 'orders'));
      await client.insert({
        table: `${db}.${line.table}`,
        values: [line.values],
        format: 'JSONCompactEachRow',
        columns: line.columns,
      });
    }
  }

  it("copies the rows counted before each partition's handover, once however often it runs; distinct users stay a union", async () => {
    await runMigrations(
      client,
      db,
      rollupMigrations.filter((m) => m.id <= 3),
      silentLogger,
    );
    // Before sets (migration 4): one row per user and window.
    await client.insert({
      table: `${db}.active_users`,
      format: 'JSONEachRow',
      values: ['old-1', 'shared'].map((u) => ({ window_start: chTime(W), user_id: u })),
    });
    expect(
      await runMigrations(
        client,
        db,
        rollupMigrations.filter((m) => m.id <= 4),
        silentLogger,
      ),
    ).toEqual([4]);
    // Rows of the old processor: orders partition 0 counted up to segment 3 (its commit), segment 3
    // open (2 orders of it emitted); users partition 1 up to segment 1.
    const paid = { type: 'order_paid', country: 'DE', currency: 'EUR' };
    await insertOld([
      old('orders', 0, 1, W, paid, 5, 500),
      old('orders', 0, 2, W, paid, 7, 700),
      old('orders', 0, 3, W, paid, 2, 200),
      old('orders', 1, 0, W, paid, 100, 1), // partition 1 is not upgraded in this test: never copied
      old('products', 0, 2, W, { sku: 'S1', category: 'books', currency: 'EUR' }, 4, 40),
      old('users', 1, 0, W, { type: 'login', country: 'FR', device: 'mobile' }, 3),
      old('users', 1, 1, W, { type: 'login', country: 'FR', device: 'mobile' }, 9),
      old('active_users', 0, 2, W + 60_000, {}, 2, 0, ['a', 'shared']),
    ]);
    expect(await runMigrations(client, db, rollupMigrations, silentLogger)).toEqual([5]);
    const queries = new DashboardQueries(client, db);
    const range = { from: W, to: W + 3 * 60_000 };
    expect(await queries.totals(range)).toEqual({ orders: {}, userEvents: {}, activeUsers: 0 });

    const copy = async (topic: string, partition: number, segment: number) => {
      for (const query of legacyCopyStatements(db, topic, partition, segment)) await client.command({ query });
    };
    await copy('events.orders', 0, 3);
    await copy('events.users', 1, 1);
    await copy('events.orders', 0, 3); // a sink restarted before it recorded the copy
    // The new processor counts segment 3 of orders/0 and segment 1 of users/1 from their starts.
    const dims = (name: 'orders' | 'users', values: Record<string, string>) =>
      builtin(name).dimensions.map((d) => values[d.column]!);
    const row = (
      rollup: string,
      topic: string,
      partition: number,
      segment: number,
      d: string[],
      values: number[],
    ): DeclaredRow => ({
      rollup,
      version: 1,
      topic,
      partition,
      segment,
      chunk: 0,
      windowStart: W,
      dims: d,
      values,
      sets: [],
      rowVersion: segment * 100 + 50,
      maxReceivedAt: null,
    });
    await insertDeclared([
      row('orders', 'events.orders', 0, 3, dims('orders', paid), [3, 300, 3]),
      row('users', 'events.users', 1, 1, dims('users', { type: 'login', country: 'FR', device: 'mobile' }), [10]),
      { ...row('active_users', 'events.orders', 0, 3, [], []), windowStart: W + 60_000, sets: [['shared', 'b']] },
    ]);
    const totals = await queries.totals(range);
    // orders/0: segments 1 and 2 copied (5 + 7), segment 3 recounted (3), the old open segment's 2 not copied; orders/1 not upgraded.
    expect(totals.orders).toEqual({ order_paid: { count: 15, amountCents: { EUR: 1500 } } });
    expect(totals.userEvents).toEqual({ login: 13 });
    // Window W: old-1, shared; W+1: a, shared, b: 4 distinct over both.
    expect(totals.activeUsers).toBe(4);
    const top = await queries.topProducts(range, 5);
    expect(top).toEqual([{ sku: 'S1', category: 'books', quantity: 4, revenueCents: { EUR: 40 } }]);
    const series = await queries.timeseries('active_users', range, '1m');
    expect(series.points.map((p) => [p.t, p.value])).toEqual([
      [new Date(W).toISOString(), 2],
      [new Date(W + 60_000).toISOString(), 3],
    ]);
  });
});
