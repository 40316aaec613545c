import type { Kafka } from '../platform/kafka/client';
import type { Registry } from 'prom-client';
import type { Config } from '../platform/config';
import type { Logger } from '../platform/logger';
import type { SchemaClient } from '../schemas/client';
import { openDeclarations } from '../schemas/declarations/log';
import { processorMetrics } from './metrics';
import { StreamProcessor, type ProcessorOptions } from './processor';
import { Backfills } from './backfill';

export interface ProcessorService {
  checkProgress(): void;
  stop(): Promise<void>;
}

/**
 * Builds and starts the stream processor from config (topics, group, segment size, flush
 * interval), with the declared rollups of the declarations topic and their backfills.
 */
export async function startProcessor(deps: {
  config: Config;
  kafka: Kafka;
  schemas: SchemaClient;
  logger: Logger;
  metrics: Registry;
}): Promise<ProcessorService> {
  const { config } = deps;
  const options: ProcessorOptions = {
    groupId: config.processor.groupId,
    topics: {
      user: config.topics.users,
      order: config.topics.orders,
      custom: config.topics.custom,
      rollups: config.topics.rollups,
      dlq: config.topics.dlq,
    },
    segmentSize: config.processor.segmentSize,
    flushIntervalMs: config.processor.flushIntervalMs,
    maxPendingRows: config.processor.maxPendingRows,
    maxRowsPerPartition: config.processor.maxRowsPerPartition,
    backfillFetchBytes: config.processor.backfillFetchBytes,
    eventLimits: config.eventLimits,
  };
  const declarations = await openDeclarations({
    kafka: deps.kafka,
    logger: deps.logger,
    rollupsTopic: config.topics.rollups,
    replicationFactor: config.kafka.replicationFactor,
  });
  const processor = new StreamProcessor({
    kafka: deps.kafka,
    schemas: deps.schemas,
    logger: deps.logger,
    metrics: processorMetrics(deps.metrics),
    options,
    declarations: declarations.book,
    declarationsLog: declarations.log,
  });
  const backfills = new Backfills({
    kafka: deps.kafka,
    schemas: deps.schemas,
    logger: deps.logger,
    options,
    declarations: declarations.book,
    log: declarations.log,
  });
  try {
    await processor.start();
    backfills.start();
  } catch (err) {
    await processor.stop().catch(() => undefined);
    await declarations.log.close();
    throw err;
  }
  return {
    checkProgress: () => processor.checkProgress(),
    async stop() {
      await backfills.stop();
      await processor.stop();
      await declarations.log.close();
    },
  };
}
