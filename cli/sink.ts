import { Command } from 'commander';
import { loadConfig } from '../platform/config';
import { createLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { createKafka } from '../platform/kafka/client';
import { createClickHouse, describeClickHouse } from '../platform/clickhouse/client';
import { faultyClickHouse } from '../test/faulty-clickhouse';
import { SchemaClient } from '../schemas/client';
import { startSink } from '../consumers/service';
import { onShutdown } from './shutdown';

export function sinkCommand(): Command {
  return new Command('sink')
    .summary('run the ClickHouse sink: rollups topic → ClickHouse tables, committed after insert')
    .description('Consumer group SINK_GROUP_ID (tributary-clickhouse-sink). Runs the migrations first. With the embedded engine (no CLICKHOUSE_URL) this process owns DATA_DIR/clickhouse: use `tributary start` to serve the dashboard from the same data.')
    .action(async () => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel, 'sink');
      const kafka = createKafka({ config: config.kafka, logger, clientId: 'tributary-sink' });
      let clickhouse = createClickHouse(config.clickhouse, config.dataDir);
      if (process.env.TRIBUTARY_FAULT_SIGNALS === '1') {
        // Fault suite only: SIGUSR2 makes ClickHouse unavailable, the next SIGUSR2 restores it.
        const faulty = faultyClickHouse(clickhouse);
        process.on('SIGUSR2', () => { faulty.down = !faulty.down; logger.warn({ down: faulty.down }, 'sink.fault.clickhouse'); });
        clickhouse = faulty;
      }
      const sink = await startSink({ config, kafka, clickhouse, schemas: new SchemaClient(config.registry.url, logger), logger, metrics: createMetrics('sink') });
      onShutdown(logger, () => clickhouse.close(), () => sink.stop());
      process.stdout.write(`ClickHouse sink running into ${describeClickHouse(config.clickhouse, config.dataDir)} (group ${config.sink.groupId})\n`);
    });
}
