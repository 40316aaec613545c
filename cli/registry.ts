import { Command } from 'commander';
import { loadConfig } from '../platform/config';
import { createLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { createKafka } from '../platform/kafka/client';
import { startEmbeddedRegistry } from '../schemas/registry/embedded';
import { SCHEMAS_TOPIC } from '../schemas/registry/kafka-log';
import { intOption } from './options';
import { onShutdown } from './shutdown';

export function registryCommand(): Command {
  return new Command('registry')
    .summary('run the embedded Confluent-compatible Schema Registry (REST API on :8081)')
    .description(`Serves the Confluent Schema Registry REST API, storing schemas in the compacted ${SCHEMAS_TOPIC} topic of KAFKA_BROKERS. Run one instance that takes writes.`)
    .option('--port <port>', 'HTTP port (default REGISTRY_PORT, 8081)', intOption('--port', 0, 65535))
    .action(async (opts: { port?: number }) => {
      const config = loadConfig();
      const logger = createLogger(config.logLevel, 'registry');
      const kafka = createKafka({ config: config.kafka, logger, clientId: 'tributary-registry' });
      const registry = await startEmbeddedRegistry({ kafka, logger, metrics: createMetrics('registry'), port: opts.port ?? config.registry.port });
      onShutdown(logger, () => registry.close());
      process.stdout.write(`Schema Registry ready: SCHEMA_REGISTRY_URL=${registry.url} (Ctrl-C to stop)\n`);
    });
}
