import type { Kafka } from '../platform/kafka/client';
import type { Registry } from 'prom-client';
import type { Config } from '../platform/config';
import type { Logger } from '../platform/logger';
import type { SchemaClient } from '../schemas/client';
import { processorMetrics } from './metrics';
import { StreamProcessor } from './processor';

/** Builds and starts the stream processor from config (topics, group, segment size, flush interval). */
export async function startProcessor(deps: { config: Config; kafka: Kafka; schemas: SchemaClient; logger: Logger; metrics: Registry }): Promise<StreamProcessor> {
  const { config } = deps;
  const processor = new StreamProcessor({
    kafka: deps.kafka,
    schemas: deps.schemas,
    logger: deps.logger,
    metrics: processorMetrics(deps.metrics),
    options: {
      groupId: config.processor.groupId,
      topics: { user: config.topics.users, order: config.topics.orders, rollups: config.topics.rollups, dlq: config.topics.dlq },
      segmentSize: config.processor.segmentSize,
      flushIntervalMs: config.processor.flushIntervalMs,
      maxDirtyRows: config.processor.maxPendingRows,
      maxRowsPerPartition: config.processor.maxRowsPerPartition,
      eventLimits: config.eventLimits,
    },
  });
  await processor.start();
  return processor;
}
