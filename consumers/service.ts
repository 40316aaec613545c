import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka } from '../platform/kafka/client';
import type { Registry } from 'prom-client';
import type { Config } from '../platform/config';
import type { Logger } from '../platform/logger';
import { runMigrations } from '../platform/clickhouse/migrations';
import type { SchemaClient } from '../schemas/client';
import { sinkMetrics } from './metrics';
import { ClickHouseSink } from './sink';
import { rollupMigrations } from './tables';
import { openDeclarations } from '../schemas/declarations/log';

/** Runs the migrations, then starts the sink (group SINK_GROUP_ID over TOPIC_ROLLUPS). */
export async function startSink(deps: {
  config: Config;
  kafka: Kafka;
  clickhouse: ClickHouseClient;
  schemas: SchemaClient;
  logger: Logger;
  metrics: Registry;
}): Promise<ClickHouseSink> {
  const { config } = deps;
  await runMigrations(deps.clickhouse, config.clickhouse.database, rollupMigrations, deps.logger);
  const { book, log } = await openDeclarations({
    kafka: deps.kafka,
    logger: deps.logger,
    rollupsTopic: config.topics.rollups,
    replicationFactor: config.kafka.replicationFactor,
  });
  const sink = new ClickHouseSink({
    kafka: deps.kafka,
    clickhouse: deps.clickhouse,
    schemas: deps.schemas,
    logger: deps.logger,
    metrics: sinkMetrics(deps.metrics),
    options: {
      groupId: config.sink.groupId,
      topics: { rollups: config.topics.rollups, dlq: config.topics.dlq },
      database: config.clickhouse.database,
      batchRows: config.sink.batchRows,
      batchDelayMs: config.sink.batchDelayMs,
    },
    declarations: { book, log, clickhouse: deps.clickhouse, dropGraceMs: config.rollups.dropGraceMs },
  });
  await sink.start();
  return sink;
}
