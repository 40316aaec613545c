import { silentLogger } from '../platform/logger';
import { createClickHouse, type ClickHouseClient } from '../platform/clickhouse/client';
import { runMigrations } from '../platform/clickhouse/migrations';
import { chTime } from '../platform/clickhouse/time';
import { DashboardQueries } from '../dashboards/queries';
import { testConfig } from '../test/helpers';
import { rollupMigrations } from './tables';
import { INSERT_COLUMNS, toTableRow, type SinkTable } from './rows';
import type { RollupRow } from '../schemas/rollup';

/**
 * #17: distinct users as per-window sets in ClickHouse (uniqExact states merged by union), on
 * the real engine (chDB, or a server with CLICKHOUSE_URL): a re-inserted delta, deltas split
 * otherwise, and the rows of the old per-user form all leave the count exact.
 */
describe('active users as per-window sets in ClickHouse (#17)', () => {
  const config = testConfig({ CLICKHOUSE_DATABASE: `au_${Date.now()}_${process.pid}` });
  const db = config.clickhouse.database;
  let client: ClickHouseClient;
  const W = Date.UTC(2026, 10, 28, 9, 0);

  beforeAll(() => { client = createClickHouse(config.clickhouse, config.dataDir); });
  afterAll(async () => {
    await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    await client.close();
  });

  const delta = (windowStart: number, users: string[], version: number): RollupRow => ({
    kind: 'active_users', topic: 'events.users', partition: 0, segment: 0, chunk: 0, windowStart, dims: {}, count: users.length,
    amountCents: 0, quantity: 0, version, users, maxReceivedAt: null,
  });
  async function insert(rows: RollupRow[]): Promise<void> {
    // As the sink inserts them.
    const byTable = new Map<SinkTable, unknown[][]>();
    for (const r of rows) {
      const { table, values } = toTableRow(r);
      byTable.set(table, [...(byTable.get(table) ?? []), values]);
    }
    for (const [table, values] of byTable) await client.insert({ table: `${db}.${table}`, values, format: 'JSONCompactEachRow', columns: INSERT_COLUMNS[table] });
  }

  it('folds the per-user rows of before #17 in at the upgrade, then counts unions of deltas exactly, re-inserted or split otherwise', async () => {
    // A database as the version before left it: migrations 1–3 and per-user rows.
    await runMigrations(client, db, rollupMigrations.filter((m) => m.id <= 3), silentLogger);
    await client.insert({ table: `${db}.active_users`, format: 'JSONEachRow', values: ['old-1', 'old-2', 'shared'].map((u) => ({ window_start: chTime(W), user_id: u })) });
    expect(await runMigrations(client, db, rollupMigrations, silentLogger)).toEqual([4]);
    const queries = new DashboardQueries(client, db);
    const range = { from: W, to: W + 3 * 60_000 };
    expect((await queries.totals(range)).activeUsers).toBe(3);

    // A processor's deltas for two windows; then the same segment recomputed with other flush
    // points (other deltas, overlapping), and the first batch re-inserted by a sink retry.
    const first = [delta(W, ['shared', 'a', 'b'], 10), delta(W, ['c'], 20), delta(W + 60_000, ['a', 'd'], 15)];
    await insert(first);
    await insert([delta(W, ['a'], 11), delta(W, ['b', 'c', 'shared'], 20), delta(W + 60_000, ['d', 'a'], 15)]);
    await insert(first);
    // An old-form row still on the rollups topic (a processor before #17) is a set of one.
    await insert([{ ...delta(W + 60_000, [], 3), kind: 'active_user', dims: { userId: 'e' } }]);

    const totals = await queries.totals(range);
    // Window W: old-1, old-2, shared, a, b, c; window W+1: a, d, e — and over both: 8 distinct.
    expect(totals.activeUsers).toBe(8);
    const series = await queries.timeseries('active_users', range, '1m');
    expect(series.points.map((p) => [p.t, p.value])).toEqual([[new Date(W).toISOString(), 6], [new Date(W + 60_000).toISOString(), 3]]);
    // One state row per window and insert, not a row per user.
    await client.command({ query: `OPTIMIZE TABLE ${db}.active_users_sets FINAL` });
    const stored = await (await client.query({ query: `SELECT count() AS n FROM ${db}.active_users_sets`, format: 'JSONEachRow' })).json<{ n: string }>();
    expect(Number(stored[0]!.n)).toBe(2);
  });
});
