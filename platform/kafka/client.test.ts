import type { Producer, RecordMetadata } from 'kafkajs';
import { isRetriable } from '../errors';
import { sendChecked, stopAwareRetry } from './client';

/**
 * Regression: with a broker SIGKILLed under load, kafkajs resolved sendBatch without having sent
 * the messages of a partition whose leader moved to a broker that had already answered; the
 * processor then committed rows that were never written (found by `npm run test:faults`).
 */
describe('sendChecked', () => {
  const producerAnswering = (results: RecordMetadata[]) => ({ sendBatch: async () => results }) as unknown as Producer;
  const meta = (topicName: string, partition: number, errorCode = 0): RecordMetadata => ({ topicName, partition, errorCode, baseOffset: '0' });
  const messages = [{ topic: 'rollups', messages: [{ key: 'a', value: 'x', partition: 1 }, { key: 'b', value: 'y', partition: 3 }] }];

  it('returns the results when every partition sent to was acknowledged', async () => {
    await expect(sendChecked(producerAnswering([meta('rollups', 1), meta('rollups', 3)]), messages)).resolves.toHaveLength(2);
  });

  it('rejects, retriably, a send that resolved without one of its partitions', async () => {
    const attempt = sendChecked(producerAnswering([meta('rollups', 1)]), messages);
    await expect(attempt).rejects.toThrow(/without partition\(s\) rollups\/3/);
    await attempt.catch((err) => expect(isRetriable(err)).toBe(true));
  });
});

describe('stopAwareRetry', () => {
  it('lets kafkajs restart a crashed consumer until stop() has begun, never after', async () => {
    let closing = false;
    const retry = stopAwareRetry(() => closing);
    await expect(retry.restartOnFailure()).resolves.toBe(true);
    closing = true;
    await expect(retry.restartOnFailure()).resolves.toBe(false);
  });
});
