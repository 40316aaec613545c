import { type Kafka, createKafka } from '../platform/kafka/client';
import { silentLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { startEmbeddedRegistry, type EmbeddedRegistry } from '../schemas/registry/embedded';
import { testConfig, unique } from './helpers';

/** An embedded registry on a free port with its own log topic, on the run's broker. */
export async function startTestRegistry(
  topic = unique('_schemas'),
  access?: Parameters<typeof startEmbeddedRegistry>[0]['access'],
): Promise<EmbeddedRegistry & { topic: string; kafka: Kafka }> {
  const config = testConfig();
  const kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'test-registry' });
  const registry = await startEmbeddedRegistry({
    kafka,
    logger: silentLogger,
    metrics: createMetrics('registry'),
    port: 0,
    host: '127.0.0.1',
    topic,
    access,
  });
  return Object.assign(registry, { topic, kafka });
}
