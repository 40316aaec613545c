import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../logger';
import { createTopics } from '../../test/kafka';
import { startOnFreePorts } from './kafka';
import { waitFor } from '../../test/helpers';
import { LocalKafka } from './kafka';
import { connectAdmin, connectProducer, createKafka } from '../kafka/client';

/** A broker of its own (not the run's shared one), since this test stops it. */
describe('LocalKafka', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-broker-'));
  const mavenRepo = process.env.TRIBUTARY_TEST_MAVEN_REPO ?? path.resolve(__dirname, '../../.tributary/maven');
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('keeps records and committed offsets across a restart', async () => {
    const first = await startOnFreePorts({ dataDir, mavenRepo, logger: silentLogger });
    const port = Number(first.brokers[0]!.split(':')[1]);
    // What the log holds before the stop: at least the 20 sent (a produce retried after a timeout may
    // have written a batch twice: this producer is not idempotent), and exactly that after the restart.
    let before = 0;
    const clientFor = (brokers: string[]) =>
      createKafka({ config: { brokers, ssl: false, sasl: undefined }, logger: silentLogger, clientId: 'restart-test' });
    try {
      const kafka = clientFor(first.brokers);
      const admin = await connectAdmin(kafka);
      await createTopics(admin, [{ topic: 'durable', numPartitions: 2, replicationFactor: 1 }]);
      const producer = await connectProducer(kafka);
      await producer.send({
        topic: 'durable',
        acks: -1,
        messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
      });
      await producer.disconnect();
      await admin.setOffsets({
        groupId: 'g-durable',
        topic: 'durable',
        partitions: [
          { partition: 0, offset: '3' },
          { partition: 1, offset: '1' },
        ],
      });
      before = (await admin.fetchTopicOffsets('durable')).reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
      await admin.disconnect();
    } finally {
      await first.stop();
    }

    const second = await LocalKafka.start({ dataDir, mavenRepo, logger: silentLogger, port });
    try {
      const admin = await connectAdmin(clientFor(second.brokers));
      const offsets = await waitFor(async () => {
        const o = await admin.fetchTopicOffsets('durable');
        return o.length === 2 ? o : undefined;
      }, 'topic metadata after restart');
      const total = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
      expect(before).toBeGreaterThanOrEqual(20);
      expect(total).toBe(before);
      // Regression: right after a restart the group coordinator may still be loading its log
      // (COORDINATOR_LOAD_IN_PROGRESS, retriable), which kafkajs' admin does not retry itself.
      const committed = await waitFor(
        () => admin.fetchOffsets({ groupId: 'g-durable', topics: ['durable'] }),
        'committed offsets after restart',
      );
      const byPartition = Object.fromEntries(committed[0]!.partitions.map((p) => [p.partition, p.offset]));
      expect(byPartition).toEqual({ 0: '3', 1: '1' });
      await admin.disconnect();
    } finally {
      await second.stop();
    }
  });
});
