import { silentLogger } from '../platform/logger';
import { connectAdmin, createKafka } from '../platform/kafka/client';
import { createEventTopics } from '../test/ingest';
import { startTestRegistry } from '../test/registry';
import { testConfig } from '../test/helpers';
import { ProduceError, TributaryProducer } from './tributary-producer';

describe('TributaryProducer', () => {
  it('a send Kafka did not acknowledge throws ProduceError with every eventId, assigned ones included, to retry with', async () => {
    const config = testConfig();
    const registry = await startTestRegistry();
    const admin = await connectAdmin(
      createKafka({ config: config.kafka, logger: silentLogger, clientId: 'producer-test' }),
    );
    try {
      const topics = await createEventTopics(admin, 2);
      const producer = await TributaryProducer.connect({ kafka: config.kafka, registryUrl: registry.url, topics });
      const events = [
        { type: 'login' as const, eventId: 'given-1', userId: 'u-1', occurredAt: Date.now() },
        { type: 'logout' as const, userId: 'u-2', occurredAt: Date.now() },
      ];
      expect((await producer.sendUserEvents(events)).map((r) => r.eventId)).toEqual([
        'given-1',
        expect.stringMatching(/^[0-9a-f-]{36}$/),
      ]);
      await producer.disconnect(); // a producer that can no longer reach Kafka
      const failed = await producer.sendUserEvents(events).catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(ProduceError);
      expect((failed as ProduceError).eventIds).toEqual(['given-1', expect.stringMatching(/^[0-9a-f-]{36}$/)]);
      await admin.deleteTopics({ topics: [topics.user, topics.order] }).catch(() => undefined);
    } finally {
      await admin.disconnect();
      await registry.close();
    }
  });
});
