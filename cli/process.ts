import { Command } from 'commander';
import { loadConfig } from '../platform/config';
import { createLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { createKafka } from '../platform/kafka/client';
import { SchemaClient } from '../schemas/client';
import { startProcessor } from '../streams/service';
import { onShutdown } from './shutdown';

export function processCommand(): Command {
  return new Command('process')
    .summary('run the stream processor: per-partition 1-minute rollups to the rollups topic')
    .description('Consumer group PROCESS_GROUP_ID (tributary-rollups) over events.users and events.orders; emits rollup rows every FLUSH_INTERVAL_MS and commits segment starts (SEGMENT_SIZE). Run more instances to spread partitions.')
    .action(async () => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel, 'process');
      const kafka = createKafka({ config: config.kafka, logger, clientId: 'tributary-process' });
      const processor = await startProcessor({ config, kafka, schemas: new SchemaClient(config.registry.url, logger), logger, metrics: createMetrics('process') });
      onShutdown(logger, () => processor.stop());
      process.stdout.write(`Stream processor running (group ${config.processor.groupId})\n`);
    });
}
