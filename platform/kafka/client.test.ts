import type { Producer, RecordMetadata } from 'kafkajs';
import { isRetriable } from '../errors';
import { keepingMembership, sendChecked, stopAwareRetry } from './client';

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

describe('keepingMembership', () => {
  it('heartbeats through the latest batch\'s heartbeat while the work makes progress, stops when it stalls or ends', async () => {
    jest.useFakeTimers();
    try {
      const beats: string[] = [];
      let current: (() => Promise<void>) | undefined;
      let progressed!: () => void;
      let finish!: () => void;
      const working = keepingMembership(() => current?.(), { intervalMs: 1000, staleAfterMs: 3000 }, (p) => {
        progressed = p;
        return new Promise<void>((r) => { finish = r; });
      });
      await jest.advanceTimersByTimeAsync(1000); // no batch yet: nothing to call
      current = async () => { beats.push('first'); };
      await jest.advanceTimersByTimeAsync(1000);
      current = async () => { beats.push('second'); throw new Error('REBALANCE_IN_PROGRESS'); }; // ignored
      await jest.advanceTimersByTimeAsync(3000); // 3 to 5 s without progress: stale
      progressed();
      await jest.advanceTimersByTimeAsync(2000);
      finish();
      await working;
      await jest.advanceTimersByTimeAsync(5000);
      expect(beats).toEqual(['first', 'second', 'second']); // none at 3, 4 and 5 s: stale
    } finally {
      jest.useRealTimers();
    }
  });
});
