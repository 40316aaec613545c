/**
 * A rollup row: what the stream processor emits to the rollups topic (its Avro twin is
 * avro/RollupRow.avsc) and the ClickHouse sink writes. Rows are keyed by (kind, topic, partition,
 * segment, chunk, window, dims); `version` is the offset of the last input record that changed the row.
 */
export type RollupKind = 'orders' | 'products' | 'users' | 'active_user' | 'active_users';

export interface RollupRow {
  kind: RollupKind;
  topic: string;
  partition: number;
  segment: number;
  /** Part of the segment (bounded memory: streams/partition.ts); 0 unless the segment had more distinct rows than the bound. */
  chunk: number;
  windowStart: number;
  dims: Record<string, string>;
  count: number;
  amountCents: number;
  quantity: number;
  version: number;
  /** `active_users` rows: the userIds first seen in the window since the previous such row (a set delta); empty otherwise. */
  users: string[];
  maxReceivedAt: number | null;
}

/**
 * The dimension value a row counts under when a window had more values of that dimension than
 * its bound (streams/partition.ts folds them; answers fold their smallest groups into it too).
 */
export const OTHER = '__other__';

/**
 * The row's identity: what the processor aggregates on and Kafka compacts on (ClickHouse orders
 * by the same fields as columns). Each dimension value is written with its length, so no value
 * can pass for another split differently (`x,currency=USD` is one category, never two fields).
 */
export function rowKey(
  row: Pick<RollupRow, 'kind' | 'topic' | 'partition' | 'segment' | 'chunk' | 'windowStart' | 'dims'> & {
    version?: number;
  },
): string {
  const dims = Object.keys(row.dims)
    .sort()
    .map((k) => `${k}=${row.dims[k]!.length}:${row.dims[k]}`)
    .join(',');
  const key = `${row.kind}|${row.topic}|${row.partition}|${row.segment}|${row.chunk}|${row.windowStart}|${dims}`;
  // Set deltas never replace one another (their union is the answer): each is its own key, by the offset that closed it.
  return row.kind === 'active_users' ? `${key}|v${row.version}` : key;
}

/**
 * Rows that travel in one `rollups` record (avro/RollupBlock.avsc): the rows of a chunk
 * whose latest change lies in one range of input offsets (streams/partition.ts), sent whole when
 * any of them changed, so kafkajs, the broker and the sink handle one record instead of hundreds.
 * Each row means what it means alone.
 */
export interface RollupBlock {
  rows: RollupRow[];
}

/** The rows a `rollups` record holds: a row alone, or a block's. */
export function rowsOf(record: RollupRow | RollupBlock): RollupRow[] {
  return 'kind' in record ? [record] : record.rows;
}
