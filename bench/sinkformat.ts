import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createClickHouse } from '../platform/clickhouse/client';
import { runMigrations } from '../platform/clickhouse/migrations';
import { silentLogger } from '../platform/logger';
import { loadConfig } from '../cli/config';
import { rollupMigrations } from '../consumers/tables';
import { INSERT_COLUMNS, toTableRow } from '../consumers/rows';
import type { RollupRow } from '../schemas/rollup';

export interface SinkFormatResult {
  rows: number;
  batchRows: number;
  target: string;
  formats: Array<{
    format: string;
    seconds: number;
    rowsPerSecond: number;
    nodeCpuSeconds: number;
    bytesPerRow: number;
  }>;
}

/**
 * The insert format that is cheapest for ClickHouse and for Node. Inserts the same product
 * rows (BENCH_SINKFORMAT_ROWS, 200,000, in batches of 20,000 as the sink does) into
 * `rollup_products` in each format the sink could use with @clickhouse/client, each into a fresh
 * database, twice (the faster kept), timing the wall clock and this process's CPU (serializing is Node's share; chDB runs
 * in this process too, so CPU includes its parsing — the wall clock is the figure that matters).
 */
export async function benchSinkFormat(): Promise<SinkFormatResult> {
  const total = Number(process.env.BENCH_SINKFORMAT_ROWS ?? 200_000);
  const batchRows = 20_000;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-format-'));
  const config = loadConfig({ ...process.env, DATA_DIR: dataDir });
  const clickhouse = createClickHouse(config.clickhouse, dataDir);
  const base = Date.UTC(2026, 10, 28, 12);
  const rows: RollupRow[] = Array.from({ length: total }, (_, i) => ({
    kind: 'products',
    topic: 'events.orders',
    partition: i % 6,
    segment: Math.floor(i / 9000),
    chunk: 0,
    windowStart: base + (i % 3) * 60_000,
    dims: { sku: `SKU-${i % 5000}`, category: `cat-${i % 40}`, currency: i % 3 ? 'EUR' : 'USD' },
    count: 1 + (i % 7),
    amountCents: 1999 * (1 + (i % 7)),
    quantity: 1 + (i % 7),
    version: i,
    users: [],
    maxReceivedAt: base + i,
  }));
  // The sink's own values (its compact form), as records for JSONEachRow.
  const columns = INSERT_COLUMNS.rollup_products;
  const records = rows.map((r) => Object.fromEntries(toTableRow(r).values.map((v, i) => [columns[i]!, v])));
  const tsv = (v: unknown) =>
    v === null ? '\\N' : String(v).replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
  const formats: Array<{
    format: string;
    batch: (b: Array<Record<string, unknown>>) => { values: unknown; format: string; bytes: number };
  }> = [
    {
      format: 'JSONEachRow',
      batch: (b) => ({
        values: b,
        format: 'JSONEachRow',
        bytes: b.reduce((n, r) => n + JSON.stringify(r).length + 1, 0),
      }),
    },
    {
      format: 'JSONCompactEachRow',
      batch: (b) => {
        const v = b.map((r) => columns.map((c) => r[c]));
        return {
          values: v,
          format: 'JSONCompactEachRow',
          bytes: v.reduce((n, r) => n + JSON.stringify(r).length + 1, 0),
        };
      },
    },
    {
      format: 'TabSeparated',
      batch: (b) => {
        const text = b.map((r) => columns.map((c) => tsv(r[c])).join('\t')).join('\n') + '\n';
        return {
          values: Readable.from([Buffer.from(text)], { objectMode: false }),
          format: 'TabSeparated',
          bytes: text.length,
        };
      },
    },
  ];
  const results: SinkFormatResult['formats'] = [];
  try {
    // Two rounds, formats interleaved, the faster of each kept: the first insert of a run also warms the engine up.
    for (const [round, f] of [...formats, ...formats].entries()) {
      const db = `format_${f.format.toLowerCase()}_${round}`;
      await runMigrations(clickhouse, db, rollupMigrations, silentLogger);
      const cpu = process.cpuUsage();
      const t0 = performance.now();
      let bytes = 0;
      for (let i = 0; i < records.length; i += batchRows) {
        const { values, format, bytes: b } = f.batch(records.slice(i, i + batchRows));
        bytes += b;
        const columnList = format === 'JSONEachRow' ? undefined : columns;
        await clickhouse.insert({
          table: `${db}.rollup_products`,
          values: values as never,
          format: format as never,
          ...(columnList ? { columns: columnList as never } : {}),
        });
      }
      const seconds = (performance.now() - t0) / 1000;
      const used = process.cpuUsage(cpu);
      const [count] = await (
        await clickhouse.query({ query: `SELECT count() AS n FROM ${db}.rollup_products`, format: 'JSONEachRow' })
      ).json<{ n: string }>();
      if (Number(count!.n) !== total) throw new Error(`${f.format}: ${count!.n} rows stored of ${total}`);
      const result = {
        format: f.format,
        seconds,
        rowsPerSecond: Math.round(total / seconds),
        nodeCpuSeconds: (used.user + used.system) / 1e6,
        bytesPerRow: Math.round(bytes / total),
      };
      const earlier = results.findIndex((x) => x.format === f.format);
      if (earlier < 0) results.push(result);
      else if (result.seconds < results[earlier]!.seconds) results[earlier] = result;
    }
  } finally {
    await clickhouse.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
  return { rows: total, batchRows, target: config.clickhouse.url ? 'ClickHouse server' : 'chDB', formats: results };
}
