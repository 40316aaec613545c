/**
 * A rollup row: what the stream processor emits to the rollups topic (its Avro twin is
 * avro/RollupRow.avsc) and the ClickHouse sink writes. Rows are keyed by (kind, topic, partition,
 * segment, window, dims); `version` is the offset of the last input record that changed the row.
 */
export type RollupKind = 'orders' | 'products' | 'users' | 'active_user';

export interface RollupRow {
  kind: RollupKind;
  topic: string;
  partition: number;
  segment: number;
  windowStart: number;
  dims: Record<string, string>;
  count: number;
  amountCents: number;
  quantity: number;
  version: number;
  maxReceivedAt: number | null;
}

/** The row's identity: what ClickHouse orders by and Kafka compacts on. */
export function rowKey(row: Pick<RollupRow, 'kind' | 'topic' | 'partition' | 'segment' | 'windowStart' | 'dims'>): string {
  const dims = Object.keys(row.dims).sort().map((k) => `${k}=${row.dims[k]}`).join(',');
  return `${row.kind}|${row.topic}|${row.partition}|${row.segment}|${row.windowStart}|${dims}`;
}

