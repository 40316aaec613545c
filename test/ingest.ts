import { type Admin, type Kafka, connectAdmin, createKafka } from '../platform/kafka/client';
import { startTestRegistry } from './registry';
import { silentLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import type { Config } from '../platform/config';
import { startIngest, type IngestService } from '../producers/ingest/service';
import { SchemaClient } from '../schemas/client';
import { createTopics } from './kafka';
import { unique } from './helpers';

export interface TestPipelineTopics {
  user: string;
  order: string;
}

/** Creates unique events topics (6 partitions) for one test. */
export async function createEventTopics(admin: Admin, partitions = 6): Promise<TestPipelineTopics> {
  const topics = { user: unique('events.users'), order: unique('events.orders') };
  await createTopics(
    admin,
    [topics.user, topics.order].map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
  );
  return topics;
}

export async function startTestIngest(
  config: Config,
  kafka: Kafka,
  registryUrl: string,
  topics: TestPipelineTopics,
): Promise<IngestService & { schemas: SchemaClient }> {
  const schemas = new SchemaClient(registryUrl, silentLogger);
  const ingest = await startIngest({
    config,
    kafka,
    schemas,
    logger: silentLogger,
    metrics: createMetrics('ingest'),
    port: 0,
    topics,
  });
  return Object.assign(ingest, { schemas });
}

/** Sum of end offsets of the topics: what Kafka holds, to prove a rejected request produced nothing. */
export async function endOffsetSum(admin: Admin, topics: string[]): Promise<number> {
  let sum = 0;
  for (const t of topics) for (const p of await admin.fetchTopicOffsets(t)) sum += Number(p.high);
  return sum;
}

export interface IngestFixture {
  registry: Awaited<ReturnType<typeof startTestRegistry>>;
  kafka: Kafka;
  admin: Admin;
  topics: TestPipelineTopics;
  ingest: IngestService & { schemas: SchemaClient };
  close(): Promise<void>;
}

/** A registry, unique events topics and an ingestion endpoint configured by `config`, for one test file. */
export async function startIngestFixture(config: Config, clientId: string): Promise<IngestFixture> {
  const registry = await startTestRegistry();
  const kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId });
  const admin = await connectAdmin(kafka);
  const topics = await createEventTopics(admin);
  const ingest = await startTestIngest(config, kafka, registry.url, topics);
  return {
    registry,
    kafka,
    admin,
    topics,
    ingest,
    async close() {
      await ingest.close();
      await admin.deleteTopics({ topics: [topics.user, topics.order] }).catch(() => undefined);
      await admin.disconnect();
      await registry.close();
    },
  };
}

export { connectAdmin };
