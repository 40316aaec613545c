import type { RollupDeclaration } from '../schemas/declarations/format';
import { setsTableOf, tableOf, type DeclaredRow } from '../schemas/declarations/row';
import { chTime } from '../platform/clickhouse/time';
import { formatDecimal } from '../schemas/events/format';

/**
 * The tables of a declared rollup version (docs/rollups.md#tables), one set per version so a
 * changed declaration never mixes with the old one:
 *
 * - `rollup_<name>_v<version>`: the count, sum, min and max measures, one row per (window,
 *   dimensions, input topic, partition, segment, chunk), ReplacingMergeTree(version) like the
 *   built-in rollups: a row emitted again replaces itself. Read with FINAL.
 * - with distinct measures, `…_sets`: per (window, dimensions) one uniqExact state per measure,
 *   AggregatingMergeTree, fed through a Null table and a materialized view from set deltas:
 *   merged by union, so a delta inserted twice changes nothing.
 */
const inputOf = (name: string, version: number) => `${tableOf(name, version)}_sets_input`;
const viewOf = (name: string, version: number) => `${tableOf(name, version)}_sets_fold`;

const valueMeasures = (d: RollupDeclaration) => d.measures.filter((m) => m.fn !== 'distinct');
const distinctMeasures = (d: RollupDeclaration) => d.measures.filter((m) => m.fn === 'distinct');

export function declaredTableStatements(db: string, d: RollupDeclaration, version: number): string[] {
  const t = `${db}.${tableOf(d.name, version)}`;
  const dims = d.dimensions.map((x) => `\`${x.column}\` String`);
  const dimNames = d.dimensions.map((x) => `\`${x.column}\``);
  const out: string[] = [];
  if (valueMeasures(d).length > 0) {
    // A measure of a decimal property keeps its scale (its rows carry the unscaled value).
    const measures = valueMeasures(d).map((m) => {
      const type = m.scale !== undefined ? `Decimal(18, ${m.scale})` : 'Int64';
      return `\`${m.column}\` ${m.fn === 'min' || m.fn === 'max' ? `Nullable(${type})` : type}`;
    });
    out.push(`CREATE TABLE IF NOT EXISTS ${t} (
      topic LowCardinality(String), partition UInt16, segment UInt64, chunk UInt32, window_start DateTime64(3, 'UTC'),
      ${[...dims, ...measures].join(', ')}${dims.length + measures.length > 0 ? ',' : ''}
      version UInt64, max_received_at Nullable(DateTime64(3, 'UTC')), inserted_at DateTime64(3, 'UTC') DEFAULT now64(3))
     ENGINE = ReplacingMergeTree(version)
     ORDER BY (window_start, ${[...dimNames, 'topic', 'partition', 'segment', 'chunk'].join(', ')})`);
  }
  const distinct = distinctMeasures(d);
  if (distinct.length > 0) {
    const sets = `${db}.${setsTableOf(d.name, version)}`;
    out.push(`CREATE TABLE IF NOT EXISTS ${sets} (window_start DateTime64(3, 'UTC'), ${[...dims, ...distinct.map((m) => `\`${m.column}\` AggregateFunction(uniqExact, String)`)].join(', ')})
       ENGINE = AggregatingMergeTree ORDER BY (${['window_start', ...dimNames].join(', ')})`);
    out.push(
      `CREATE TABLE IF NOT EXISTS ${db}.${inputOf(d.name, version)} (window_start DateTime64(3, 'UTC'), ${[...dims, 'sets Array(Array(String))'].join(', ')}) ENGINE = Null`,
    );
    out.push(`CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${viewOf(d.name, version)} TO ${sets} AS
       SELECT ${['window_start', ...dimNames, ...distinct.map((m, i) => `uniqExactArrayState(sets[${i + 1}]) AS \`${m.column}\``)].join(', ')}
       FROM ${db}.${inputOf(d.name, version)} GROUP BY ${['window_start', ...dimNames].join(', ')}`);
  }
  return out;
}

export function dropDeclaredStatements(db: string, name: string, version: number): string[] {
  return [viewOf(name, version), inputOf(name, version), setsTableOf(name, version), tableOf(name, version)].map(
    (t) => `DROP TABLE IF EXISTS ${db}.${t}`,
  );
}

/** A row's values as their columns take them: a decimal measure's unscaled value as its exact decimal text. */
function measureValues(row: DeclaredRow, d: RollupDeclaration): Array<number | string | null> {
  const measures = valueMeasures(d);
  if (!measures.some((m) => m.scale !== undefined)) return row.values;
  return row.values.map((v, i) => {
    const scale = measures[i]?.scale;
    return v === null || scale === undefined ? v : formatDecimal(v, scale);
  });
}

/** A declared row as one JSONCompactEachRow line: its table, the columns and their values. */
export function declaredTableRow(
  row: DeclaredRow,
  d: RollupDeclaration,
): { table: string; columns: [string, ...string[]]; values: unknown[] } {
  const dims = d.dimensions.map((x) => x.column);
  if (row.sets.length > 0) {
    return {
      table: inputOf(row.rollup, row.version),
      columns: ['window_start', ...dims, 'sets'],
      values: [chTime(row.windowStart), ...row.dims, row.sets],
    };
  }
  return {
    table: tableOf(row.rollup, row.version),
    columns: [
      'topic',
      'partition',
      'segment',
      'chunk',
      'window_start',
      ...dims,
      ...valueMeasures(d).map((m) => m.column),
      'version',
      'max_received_at',
    ],
    values: [
      row.topic,
      row.partition,
      row.segment,
      row.chunk,
      chTime(row.windowStart),
      ...row.dims,
      ...measureValues(row, d),
      row.rowVersion,
      row.maxReceivedAt === null ? null : chTime(row.maxReceivedAt),
    ],
  };
}
