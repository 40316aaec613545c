/**
 * A row of a declared rollup as it travels on the `rollups` topic (avro/DeclaredRow.avsc) and
 * lands in the version's tables: the rollup and version, where its events came from (input
 * topic, partition, segment, chunk), its window, its dimension values in declaration order, and
 * either its cumulative values (count, sum, min, max measures in declaration order: replaced by
 * a higher `rowVersion` of the same key) or the distinct values first seen since its previous
 * delta (`sets`, one array per distinct measure: merged by union, never replaced).
 */
export interface DeclaredRow {
  rollup: string;
  version: number;
  topic: string;
  partition: number;
  segment: number;
  chunk: number;
  windowStart: number;
  dims: string[];
  values: Array<number | null>;
  sets: string[][];
  /** Offset of the last input record that changed the row (a delta: that added to it). */
  rowVersion: number;
  maxReceivedAt: number | null;
}

/**
 * The Kafka key of a row: compaction keeps the newest record per key. Values of one row share a
 * key; each set delta has its own (it never replaces another). Each dimension value is written
 * with its length, so no value can pass for two.
 */
export function declaredRowKey(
  row: Pick<DeclaredRow, 'rollup' | 'version' | 'topic' | 'partition' | 'segment' | 'chunk' | 'windowStart' | 'dims'>,
  delta?: number,
): string {
  const key = `decl|${row.rollup}|${row.version}|${row.topic}|${row.partition}|${row.segment}|${row.chunk}|${row.windowStart}|${encodeDims(row.dims)}`;
  return delta === undefined ? key : `${key}|v${delta}`;
}

export function encodeDims(dims: string[]): string {
  let out = '';
  for (const d of dims) out += `${d.length}:${d},`;
  return out;
}

/** A rollup version's name as the API, logs and commit metadata spell it. */
export const versionId = (name: string, version: number) => `${name}@${version}`;

/** A version's ClickHouse tables (consumers/declared-tables.ts makes them, the dashboard reads them). */
export const tableOf = (name: string, version: number) => `rollup_${name}_v${version}`;
export const setsTableOf = (name: string, version: number) => `${tableOf(name, version)}_sets`;
