import { connectAdmin } from '../platform/kafka/client';
import type { BenchEnv } from './env';
import { spawnStage, stopStage } from './env';
import { freePort } from '../platform/local/ports';
import { metricValue } from '../platform/metrics';
import { sleep } from '../platform/retry';

export interface SinkResult {
  /** Records of the rollups topic: most hold a block of up to 500 rows. */
  records: number;
  /** Rows the sink inserted (its tributary_sink_rows_total): comparable with figures from before blocks. */
  rows: number;
  seconds: number;
  recordsPerSecond: number;
  rowsPerSecond: number;
  target: string;
  peakMemoryMiB: number | null;
}

/** Times `tributary sink` (a child process) over the rollup records already in the topic (left by the process benchmark). */
export async function benchSink(env: BenchEnv): Promise<SinkResult> {
  const admin = await connectAdmin(env.kafka);
  const ends = await admin.fetchTopicOffsets(env.config.topics.rollups);
  const records = ends.reduce((n, p) => n + Number(p.high), 0);
  const started = Date.now();
  const port = await freePort();
  const sink = spawnStage(env, ['sink'], { SINK_PORT: String(port) });
  let peak: number | null = null;
  let rows = NaN;
  try {
    for (;;) {
      const committed = await admin.fetchOffsets({
        groupId: env.config.sink.groupId,
        topics: [env.config.topics.rollups],
      });
      const done = ends.every(
        (e) =>
          Number(committed[0]?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1) >= Number(e.high) ||
          Number(e.high) === 0,
      );
      if (done) {
        rows = await insertedRows(`http://localhost:${port}/metrics`);
        break;
      }
      if (sink.exitCode !== null) throw new Error(`sink exited with ${sink.exitCode}`);
      await sleep(100);
    }
  } finally {
    peak = await stopStage(sink);
    await admin.disconnect();
  }
  const seconds = (Date.now() - started) / 1000;
  return {
    records,
    rows,
    seconds,
    recordsPerSecond: Math.round(records / seconds),
    rowsPerSecond: Math.round(rows / seconds),
    target: env.config.clickhouse.url ?? 'chDB (embedded)',
    peakMemoryMiB: peak,
  };
}

/** The sink's tributary_sink_rows_total, from its /metrics. */
async function insertedRows(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const value = metricValue(text, 'tributary_sink_rows_total');
  if (value === undefined) throw new Error(`no tributary_sink_rows_total at ${metricsUrl}`);
  return value;
}
