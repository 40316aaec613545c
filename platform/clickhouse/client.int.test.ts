import { silentLogger } from '../logger';
import { testConfig } from '../../test/helpers';
import { createClickHouse, type ClickHouseClient } from './client';
import { runMigrations, baseMigrations, type Migration } from './migrations';

/** Runs on embedded chDB by default, on a ClickHouse server when CLICKHOUSE_URL is set. */
describe(`ClickHouse client (${process.env.CLICKHOUSE_URL ? 'server' : 'chDB'})`, () => {
  const config = testConfig({ CLICKHOUSE_DATABASE: `t_${Date.now()}_${process.pid}` });
  const db = config.clickhouse.database;
  let client: ClickHouseClient;

  beforeAll(() => {
    client = createClickHouse(config.clickhouse, config.dataDir);
  });
  afterAll(async () => {
    await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    await client.close();
  });

  const migrations: Migration[] = [
    ...baseMigrations,
    {
      id: 2,
      name: 'orders table',
      statements: (d) => [
        `CREATE TABLE IF NOT EXISTS ${d}.orders (id String, country LowCardinality(String), amount_cents Int64, version UInt64)
        ENGINE = ReplacingMergeTree(version) ORDER BY id`,
      ],
    },
  ];

  it('runs numbered migrations once, then inserts and answers parameterized queries', async () => {
    expect(await runMigrations(client, db, migrations, silentLogger)).toEqual([1, 2]);
    expect(await runMigrations(client, db, migrations, silentLogger)).toEqual([]);

    const rows = [
      { id: 'o-1', country: 'DE', amount_cents: 1999, version: 1 },
      { id: 'o-1', country: 'DE', amount_cents: 2999, version: 2 }, // supersedes version 1
      { id: 'o-2', country: 'FR', amount_cents: 500, version: 1 },
      { id: 'o-3', country: "D'E", amount_cents: 7, version: 1 },
    ];
    await client.insert({ table: `${db}.orders`, values: rows, format: 'JSONEachRow' });
    const result = await client.query({
      query: `SELECT country, sum(amount_cents) AS total, count() AS n FROM ${db}.orders FINAL WHERE country IN {countries:Array(String)} GROUP BY country ORDER BY country`,
      query_params: { countries: ['DE', "D'E"] },
      format: 'JSONEachRow',
    });
    const got = (await result.json<{ country: string; total: string; n: string }>()).map((r) => [
      r.country,
      Number(r.total),
      Number(r.n),
    ]);
    expect(got).toEqual([
      ["D'E", 7, 1],
      ['DE', 2999, 1],
    ]);
  });
});
