import type { RollupRow } from '../schemas/rollup';
import { chTime } from '../platform/clickhouse/time';
import { TABLE_OF_KIND } from './tables';

/** Each table's dimension columns: only these are taken from a row's dims (never a metric column). */
const DIMENSION_COLUMNS = {
  orders: ['type', 'country', 'currency'],
  products: ['sku', 'category', 'currency'],
  users: ['type', 'country', 'device'],
} as const;
const ROLLUP_COLUMNS = [
  'topic',
  'partition',
  'segment',
  'chunk',
  'window_start',
  'count',
  'amount_cents',
  'quantity',
  'version',
  'max_received_at',
] as const;

export type SinkTable = (typeof TABLE_OF_KIND)[keyof typeof TABLE_OF_KIND];

/** The columns the sink inserts into each table, in the order toTableRow gives the values. */
export const INSERT_COLUMNS: Record<SinkTable, [string, ...string[]]> = {
  rollup_orders: [...ROLLUP_COLUMNS, ...DIMENSION_COLUMNS.orders],
  rollup_products: [...ROLLUP_COLUMNS, ...DIMENSION_COLUMNS.products],
  rollup_users: [...ROLLUP_COLUMNS, ...DIMENSION_COLUMNS.users],
  active_users_input: ['window_start', 'users'],
};

/**
 * A rollup row as one JSONCompactEachRow line of its table: the values of INSERT_COLUMNS[table]
 * in order. (Compact rather than JSONEachRow: measured 17% faster into chDB with half the bytes,
 * `npm run bench -- sinkformat`, docs/benchmarks.md.)
 */
export function toTableRow(row: RollupRow): { table: SinkTable; values: unknown[] } {
  const table = TABLE_OF_KIND[row.kind];
  if (row.kind === 'active_users') return { table, values: [chTime(row.windowStart), row.users] };
  // A per-user row of a processor from before rows travelled in blocks, still on the topic: a set of one.
  if (row.kind === 'active_user') return { table, values: [chTime(row.windowStart), [row.dims.userId ?? '']] };
  const values: unknown[] = [
    row.topic,
    row.partition,
    row.segment,
    row.chunk,
    chTime(row.windowStart),
    row.count,
    row.amountCents,
    row.quantity,
    row.version,
    row.maxReceivedAt === null ? null : chTime(row.maxReceivedAt),
  ];
  for (const c of DIMENSION_COLUMNS[row.kind]) values.push(row.dims[c] ?? '');
  return { table, values };
}
