import { connectAdmin } from '../platform/kafka/client';
import { createClickHouse } from '../platform/clickhouse/client';
import { createMetrics } from '../platform/metrics';
import { SchemaClient } from '../schemas/client';
import { startSink } from '../consumers/service';
import type { BenchEnv } from './env';
import { logger } from './env';

export interface SinkResult {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  target: string;
}

/** Times the sink over the rollup rows already in the topic (left by the process benchmark). */
export async function benchSink(env: BenchEnv): Promise<SinkResult> {
  const admin = await connectAdmin(env.kafka);
  const ends = await admin.fetchTopicOffsets(env.config.topics.rollups);
  const rows = ends.reduce((n, p) => n + Number(p.high), 0);
  const clickhouse = createClickHouse(env.config.clickhouse, env.config.dataDir);
  const started = Date.now();
  const sink = await startSink({ config: env.config, kafka: env.kafka, clickhouse, schemas: new SchemaClient(env.registry.url, logger), logger, metrics: createMetrics('sink') });
  try {
    for (;;) {
      const committed = await admin.fetchOffsets({ groupId: env.config.sink.groupId, topics: [env.config.topics.rollups] });
      const done = ends.every((e) => Number(committed[0]?.partitions.find((p) => p.partition === e.partition)?.offset ?? -1) >= Number(e.high) || Number(e.high) === 0);
      if (done) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await sink.stop();
    await clickhouse.close();
    await admin.disconnect();
  }
  const seconds = (Date.now() - started) / 1000;
  return { rows, seconds, rowsPerSecond: Math.round(rows / seconds), target: env.config.clickhouse.url ?? 'chDB (embedded)' };
}
