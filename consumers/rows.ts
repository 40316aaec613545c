import type { RollupRow } from '../schemas/rollup';
import { chTime } from '../platform/clickhouse/time';
import { TABLE_OF_KIND } from './tables';

/** Each table's dimension columns: only these are taken from a row's dims (never a metric column). */
const DIMENSION_COLUMNS = { orders: ['type', 'country', 'currency'], products: ['sku', 'category', 'currency'], users: ['type', 'country', 'device'] } as const;

/** A rollup row as a JSONEachRow record of its table. */
export function toTableRow(row: RollupRow): { table: string; record: Record<string, unknown> } {
  const table = TABLE_OF_KIND[row.kind];
  if (row.kind === 'active_users') return { table, record: { window_start: chTime(row.windowStart), users: row.users } };
  // A per-user row of a processor before #17, still on the topic: a set of one.
  if (row.kind === 'active_user') return { table, record: { window_start: chTime(row.windowStart), users: [row.dims.userId ?? ''] } };
  const dims = Object.fromEntries(DIMENSION_COLUMNS[row.kind].map((c) => [c, row.dims[c] ?? '']));
  return {
    table,
    record: {
      topic: row.topic,
      partition: row.partition,
      segment: row.segment,
      chunk: row.chunk,
      window_start: chTime(row.windowStart),
      count: row.count,
      amount_cents: row.amountCents,
      quantity: row.quantity,
      version: row.version,
      max_received_at: row.maxReceivedAt === null ? null : chTime(row.maxReceivedAt),
      ...dims,
    },
  };
}
