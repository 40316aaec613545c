import { Command } from 'commander';
import { loadConfig } from '../platform/config';
import { createLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { createKafka } from '../platform/kafka/client';
import { SchemaClient } from '../schemas/client';
import { startIngest } from '../producers/ingest/service';
import { onShutdown } from './shutdown';

export function ingestCommand(): Command {
  return new Command('ingest')
    .summary('run the ingestion endpoint: POST /v1/events on :8080')
    .description('Validates events against the registered Avro schemas and produces them to events.users / events.orders (acks=all), answering 202 with receipts once Kafka acknowledged. Needs a schema registry (SCHEMA_REGISTRY_URL, or `tributary registry`).')
    .action(async () => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel, 'ingest');
      const kafka = createKafka({ config: config.kafka, logger, clientId: 'tributary-ingest' });
      const ingest = await startIngest({ config, kafka, schemas: new SchemaClient(config.registry.url, logger), logger, metrics: createMetrics('ingest') });
      onShutdown(logger, () => ingest.close());
      process.stdout.write(`Ingestion endpoint: ${ingest.url}/v1/events${ingest.developmentKey ? `  write key: ${ingest.developmentKey}` : ''}\n`);
    });
}
