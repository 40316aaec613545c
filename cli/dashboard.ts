import { Command } from 'commander';
import { loadConfig } from '../platform/config';
import { createLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { createKafka } from '../platform/kafka/client';
import { createClickHouse } from '../platform/clickhouse/client';
import { startDashboard } from '../dashboards/service';
import { onShutdown } from './shutdown';

export function dashboardCommand(): Command {
  return new Command('dashboard')
    .summary('serve the dashboard API and live web page on :3000')
    .description('Reads ClickHouse (CLICKHOUSE_URL; the embedded engine only when no other process owns DATA_DIR/clickhouse, so prefer `tributary start` on one machine).')
    .action(async () => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel, 'dashboard');
      const clickhouse = createClickHouse(config.clickhouse, config.dataDir);
      const dashboard = await startDashboard({ config, clickhouse, kafka: createKafka({ config: config.kafka, logger, clientId: 'tributary-dashboard' }), logger, metrics: createMetrics('dashboard') });
      onShutdown(logger, () => clickhouse.close(), () => dashboard.close());
      process.stdout.write(`Dashboard: ${dashboard.url}\n`);
    });
}
