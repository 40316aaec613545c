import type { Kafka, Producer, RecordMetadata } from 'kafkajs';
import { isRetriable } from '../errors';
import { CheckedProducer, keepingMembership, PartialSendError, sendChecked } from './client';

/**
 * Regression: with a broker SIGKILLed under load, kafkajs resolved sendBatch without having sent
 * the messages of a partition whose leader moved to a broker that had already answered; the
 * processor then committed rows that were never written (found by `npm run test:faults`).
 */
describe('sendChecked', () => {
  const producerAnswering = (results: RecordMetadata[]) => ({ sendBatch: async () => results }) as unknown as Producer;
  const meta = (topicName: string, partition: number, errorCode = 0): RecordMetadata => ({
    topicName,
    partition,
    errorCode,
    baseOffset: '0',
  });
  const messages = [
    {
      topic: 'rollups',
      messages: [
        { key: 'a', value: 'x', partition: 1 },
        { key: 'b', value: 'y', partition: 3 },
      ],
    },
  ];

  it('returns the results when every partition sent to was acknowledged', async () => {
    await expect(
      sendChecked(producerAnswering([meta('rollups', 1), meta('rollups', 3)]), messages),
    ).resolves.toHaveLength(2);
  });

  it('rejects, retriably, a send that resolved without one of its partitions', async () => {
    const attempt = sendChecked(producerAnswering([meta('rollups', 1)]), messages);
    await expect(attempt).rejects.toThrow(/without partition\(s\) rollups\/3/);
    await attempt.catch((err) => expect(isRetriable(err)).toBe(true));
  });
});

describe('keepingMembership', () => {
  it("heartbeats through the latest batch's heartbeat while the work makes progress, stops when it stalls or ends", async () => {
    jest.useFakeTimers();
    try {
      const beats: string[] = [];
      let current: (() => Promise<void>) | undefined;
      let progressed!: () => void;
      let finish!: () => void;
      const working = keepingMembership(
        () => current?.(),
        { intervalMs: 1000, staleAfterMs: 3000 },
        (p) => {
          progressed = p;
          return new Promise<void>((r) => {
            finish = r;
          });
        },
      );
      await jest.advanceTimersByTimeAsync(1000); // no batch yet: nothing to call
      current = async () => {
        beats.push('first');
      };
      await jest.advanceTimersByTimeAsync(1000);
      current = async () => {
        beats.push('second');
        throw new Error('REBALANCE_IN_PROGRESS');
      }; // ignored
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

describe('CheckedProducer', () => {
  const meta = (topicName: string, partition: number, baseOffset: string): RecordMetadata => ({
    topicName,
    partition,
    errorCode: 0,
    baseOffset,
  });
  const messages = [
    {
      topic: 'events.users',
      messages: [
        { key: 'a', value: 'x', partition: 1 },
        { key: 'b', value: 'y', partition: 3 },
        { key: 'c', value: 'z', partition: 3 },
      ],
    },
    { topic: 'events.orders', messages: [{ key: 'a', value: 'o', partition: 1 }] },
  ];

  async function producerAnswering(...answers: RecordMetadata[][]) {
    const sent: unknown[] = [];
    const fake = {
      connect: async () => undefined,
      disconnect: async () => undefined,
      sendBatch: async ({ topicMessages }: { topicMessages: unknown }) => {
        sent.push(topicMessages);
        return answers[sent.length - 1] ?? [];
      },
    };
    const producer = await CheckedProducer.connect({ producer: () => fake } as unknown as Kafka);
    return { producer, sent };
  }

  it('re-sends only the partitions kafkajs left out, and resolves with every partition once', async () => {
    const { producer, sent } = await producerAnswering(
      [meta('events.users', 1, '10'), meta('events.orders', 1, '4')],
      [meta('events.users', 3, '20')],
    );
    const results = await producer.send(messages);
    expect(results.map((r) => `${r.topicName}/${r.partition}@${r.baseOffset}`).sort()).toEqual([
      'events.orders/1@4',
      'events.users/1@10',
      'events.users/3@20',
    ]);
    expect(sent[1]).toEqual([
      {
        topic: 'events.users',
        messages: [
          { key: 'b', value: 'y', partition: 3 },
          { key: 'c', value: 'z', partition: 3 },
        ],
      },
    ]);
  });

  it('fails retriably when a partition is still left out after its re-sends', async () => {
    const { producer, sent } = await producerAnswering([meta('events.users', 1, '10'), meta('events.orders', 1, '4')]);
    const attempt = producer.send(messages);
    await expect(attempt).rejects.toBeInstanceOf(PartialSendError);
    await attempt.catch((err) => expect(isRetriable(err)).toBe(true));
    expect(sent).toHaveLength(6); // the send and five re-sends of events.users/3
  });
});
