import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LocalKafka } from '../../platform/local/kafka';
import { connectAdmin, createKafka } from '../../platform/kafka/client';
import { createMetrics } from '../../platform/metrics';
import { silentLogger } from '../../platform/logger';
import { startEmbeddedRegistry } from '../../schemas/registry/embedded';
import { startOnFreePorts } from '../../platform/local/kafka';
import { createEventTopics, startTestIngest } from '../../test/ingest';
import { testConfig, waitFor } from '../../test/helpers';

/** A broker of its own: this test stops it under a running ingestion endpoint. */
describe('ingest while Kafka is down', () => {
  it('answers 503 with Retry-After in bounded time, then accepts again once the broker is back, without a restart', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-outage-'));
    const mavenRepo = process.env.TRIBUTARY_TEST_MAVEN_REPO ?? path.resolve(__dirname, '../../.tributary/maven');
    let broker = await startOnFreePorts({ dataDir, mavenRepo, logger: silentLogger });
    const port = Number(broker.brokers[0]!.split(':')[1]);
    const config = testConfig({
      KAFKA_BROKERS: broker.brokers.join(','),
      WRITE_KEYS: 'k',
      INGEST_PRODUCE_TIMEOUT_MS: '3000',
    });
    const kafka = createKafka({ config: config.kafka, logger: silentLogger, clientId: 'outage' });
    const admin = await connectAdmin(kafka);
    const topics = await createEventTopics(admin, 2);
    await admin.disconnect();
    const registry = await startEmbeddedRegistry({
      kafka,
      logger: silentLogger,
      metrics: createMetrics('r'),
      port: 0,
      host: '127.0.0.1',
    });
    const ingest = await startTestIngest(config, kafka, registry.url, topics);
    const post = () =>
      fetch(`${ingest.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
        body: JSON.stringify({ type: 'login', eventId: `e-${Date.now()}`, userId: 'u-1', occurredAt: Date.now() }),
      });
    try {
      expect((await post()).status).toBe(202);
      await broker.stop();
      const started = Date.now();
      const down = await post();
      const took = Date.now() - started;
      expect(down.status).toBe(503);
      expect(down.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(((await down.json()) as { eventIds: string[] }).eventIds).toHaveLength(1);
      // Bounded by INGEST_PRODUCE_TIMEOUT_MS (3 s) plus slack, not by kafkajs' retry budget.
      expect(took).toBeLessThan(3000 + 2000);

      broker = await LocalKafka.start({ dataDir, mavenRepo, logger: silentLogger, port });
      const status = await waitFor(
        async () => ((await post()).status === 202 ? 202 : undefined),
        'ingest accepting again',
        60_000,
        500,
      );
      expect(status).toBe(202);
    } finally {
      await ingest.close().catch(() => undefined);
      await registry.close().catch(() => undefined);
      await broker.stop();
    }
  });
});
