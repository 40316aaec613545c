import { baseMigrations, type Migration } from '../platform/clickhouse/migrations';
import { BUILTIN_ROLLUPS, builtin } from '../schemas/declarations/builtin';
import { setsTableOf, tableOf } from '../schemas/declarations/row';
import { declaredTableStatements } from './declared-tables';

/**
 * The rollup tables of before the built-in rollups were declarations (migrations 2 to 4), kept
 * for the upgrade: the rows they hold are copied into the built-in rollups' tables (migration 5,
 * legacyCopyStatements), and rows of an old processor still on the rollups topic land here first.
 *
 * Old rollup tables. Each keeps the highest `version` per row key (ReplacingMergeTree(version)
 * ordered by the full key: window, dimensions, topic, partition, segment), so a row emitted
 * again — by a restarted processor or a re-delivered sink batch — replaces itself instead of
 * adding. Reads use FINAL. Active users are per-window sets merged by union (migration 4):
 * re-inserting changes nothing.
 */
const rollupColumns = `
  topic LowCardinality(String),
  partition UInt16,
  segment UInt64,
  window_start DateTime64(3, 'UTC'),
  count UInt64,
  amount_cents Int64,
  quantity Int64,
  version UInt64,
  max_received_at Nullable(DateTime64(3, 'UTC')),
  inserted_at DateTime64(3, 'UTC') DEFAULT now64(3)`;

export const rollupMigrations: Migration[] = [
  ...baseMigrations,
  {
    id: 2,
    name: 'rollup tables',
    statements: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.rollup_orders (${rollupColumns},
        type LowCardinality(String), country LowCardinality(String), currency LowCardinality(String))
       ENGINE = ReplacingMergeTree(version)
       ORDER BY (window_start, type, country, currency, topic, partition, segment)`,
      `CREATE TABLE IF NOT EXISTS ${db}.rollup_products (${rollupColumns},
        sku String, category LowCardinality(String), currency LowCardinality(String))
       ENGINE = ReplacingMergeTree(version)
       ORDER BY (window_start, sku, category, currency, topic, partition, segment)`,
      `CREATE TABLE IF NOT EXISTS ${db}.rollup_users (${rollupColumns},
        type LowCardinality(String), country LowCardinality(String), device LowCardinality(String))
       ENGINE = ReplacingMergeTree(version)
       ORDER BY (window_start, type, country, device, topic, partition, segment)`,
      `CREATE TABLE IF NOT EXISTS ${db}.active_users (
        window_start DateTime64(3, 'UTC'), user_id String, inserted_at DateTime64(3, 'UTC') DEFAULT now64(3))
       ENGINE = ReplacingMergeTree
       ORDER BY (window_start, user_id)`,
    ],
  },
  {
    // Rows of one segment may come in chunks (bounded processor memory), so `chunk`
    // joins each rollup key. ClickHouse grows a sorting key only by a column added in the same
    // ALTER, without a default expression; existing rows read chunk 0, which is what the
    // processor emits for them, so a recomputed row still replaces its earlier version.
    id: 3,
    name: 'chunk in the rollup keys',
    statements: (db) => [
      `ALTER TABLE ${db}.rollup_orders ADD COLUMN IF NOT EXISTS chunk UInt32 AFTER segment,
         MODIFY ORDER BY (window_start, type, country, currency, topic, partition, segment, chunk)`,
      `ALTER TABLE ${db}.rollup_products ADD COLUMN IF NOT EXISTS chunk UInt32 AFTER segment,
         MODIFY ORDER BY (window_start, sku, category, currency, topic, partition, segment, chunk)`,
      `ALTER TABLE ${db}.rollup_users ADD COLUMN IF NOT EXISTS chunk UInt32 AFTER segment,
         MODIFY ORDER BY (window_start, type, country, device, topic, partition, segment, chunk)`,
    ],
  },
  {
    // Distinct users as one set per window instead of a row per (window, user). The sink
    // inserts set deltas (window, users[]) into a Null table; a materialized view folds each
    // insert into uniqExact states of an AggregatingMergeTree, which merges them by union — so a
    // re-inserted delta, or one a recomputation split differently, changes nothing. The old
    // per-user rows are folded in once (a union too: running it again changes nothing); the old
    // table is left in place, unread (drop it when every sink runs this version).
    id: 4,
    name: 'active users as per-window sets',
    statements: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.active_users_sets (
        window_start DateTime64(3, 'UTC'), users AggregateFunction(uniqExact, String))
       ENGINE = AggregatingMergeTree
       ORDER BY window_start`,
      `CREATE TABLE IF NOT EXISTS ${db}.active_users_input (window_start DateTime64(3, 'UTC'), users Array(String)) ENGINE = Null`,
      `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.active_users_fold TO ${db}.active_users_sets AS
       SELECT window_start, uniqExactState(user_id) AS users
       FROM (SELECT window_start, arrayJoin(users) AS user_id FROM ${db}.active_users_input) GROUP BY window_start`,
      `INSERT INTO ${db}.active_users_sets SELECT window_start, uniqExactState(user_id) FROM ${db}.active_users GROUP BY window_start`,
    ],
  },
  {
    // The built-in rollups became declarations (rollups/builtin.yaml): version 1 of each has the
    // tables of any declared version. The old tables' rows join them per input partition once the
    // processor records where it took over (legacyCopyStatements); docs/rollups.md#upgrading.
    id: 5,
    name: 'built-in rollups as declared tables',
    statements: (db) => BUILTIN_ROLLUPS.flatMap((d) => declaredTableStatements(db, d, 1)),
  },
];

/**
 * What a sink runs once the rollups topic was read up to an upgraded partition's LegacyRecord:
 * the old rows of `topic`/`partition` counted before `segment` (the built-in rollups count it
 * from there on) go into the built-in tables, columns by name, and the old distinct-user sets
 * whole (a union: users of later segments are counted again from the events, the union holds
 * them once). Running it twice changes nothing (same keys and versions; a union again).
 */
export function legacyCopyStatements(db: string, topic: string, partition: number, segment: number): string[] {
  const where = `topic = '${topic.replace(/[\\']/g, '\\$&')}' AND partition = ${Math.trunc(partition)} AND segment < ${Math.trunc(segment)}`;
  const copy = (name: 'orders' | 'products' | 'users', legacy: string) => {
    const d = builtin(name);
    const columns = [
      'topic',
      'partition',
      'segment',
      'chunk',
      'window_start',
      ...d.dimensions.map((x) => x.column),
      ...d.measures.map((m) => m.column),
      'version',
      'max_received_at',
    ];
    return `INSERT INTO ${db}.${tableOf(name, 1)} (${columns.join(', ')}) SELECT ${columns.join(', ')} FROM ${db}.${legacy} FINAL WHERE ${where}`;
  };
  return [
    copy('orders', 'rollup_orders'),
    copy('products', 'rollup_products'),
    copy('users', 'rollup_users'),
    `INSERT INTO ${db}.${setsTableOf('active_users', 1)} (window_start, ${builtin('active_users').measures[0]!.column}) SELECT window_start, users FROM ${db}.active_users_sets`,
  ];
}

export const TABLE_OF_KIND = {
  orders: 'rollup_orders',
  products: 'rollup_products',
  users: 'rollup_users',
  // Rows of either form of distinct users go through the Null table into the sets.
  active_user: 'active_users_input',
  active_users: 'active_users_input',
} as const;
