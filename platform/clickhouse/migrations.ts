import type { ClickHouseClient } from '@clickhouse/client';
import type { Logger } from '../logger';

/**
 * Numbered, idempotent DDL run at start-up. Each migration is safe to run again (IF NOT
 * EXISTS), and the ones applied are recorded in `<db>.schema_migrations` so an operator can
 * see which ran. Stages append theirs to the list they pass in; numbers are unique and only grow.
 */
export interface Migration {
  id: number;
  name: string;
  /** Statements for database `db` (an identifier validated by the config schema). */
  statements: (db: string) => string[];
}

export const baseMigrations: Migration[] = [
  {
    id: 1,
    name: 'create database and migration log',
    statements: (db) => [
      `CREATE DATABASE IF NOT EXISTS ${db}`,
      `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (id UInt32, name String, applied_at DateTime64(3) DEFAULT now64(3))
       ENGINE = ReplacingMergeTree ORDER BY id`,
    ],
  },
];

export async function runMigrations(
  client: ClickHouseClient,
  db: string,
  migrations: Migration[],
  logger: Logger,
): Promise<number[]> {
  const ids = migrations.map((m) => m.id);
  if (new Set(ids).size !== ids.length) throw new RangeError(`duplicate migration ids: ${ids.join(', ')}`);
  // The log table must exist before it can be read; its DDL is idempotent, so run it every time.
  for (const statement of baseMigrations[0]!.statements(db)) await client.command({ query: statement });
  const result = await client.query({ query: `SELECT id FROM ${db}.schema_migrations FINAL`, format: 'JSONEachRow' });
  const applied = new Set((await result.json<{ id: number }>()).map((row) => Number(row.id)));
  const ran: number[] = [];
  for (const migration of [...migrations].sort((a, b) => a.id - b.id)) {
    if (applied.has(migration.id)) continue;
    for (const statement of migration.statements(db)) await client.command({ query: statement });
    await client.insert({
      table: `${db}.schema_migrations`,
      values: [{ id: migration.id, name: migration.name }],
      format: 'JSONEachRow',
    });
    ran.push(migration.id);
    logger.info({ id: migration.id, migration: migration.name }, 'clickhouse.migration.applied');
  }
  return ran;
}
