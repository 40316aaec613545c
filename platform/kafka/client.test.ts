import { KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, type Kafka, type Producer, type RecordMetadata } from 'kafkajs';
import { isRetriable } from '../errors';
import { silentLogger } from '../logger';
import { isProducerStateError, RecoveringProducer, sendChecked } from './client';

// kafkajs' table of broker error codes (not in its typings).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { createErrorFromCode } = require('kafkajs/src/protocol/error') as { createErrorFromCode: (code: number) => unknown };

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

/**
 * Regression: after a broker SIGKILL, the ingest's idempotent producer answered every later send
 * with OUT_OF_ORDER_SEQUENCE_NUMBER until ingest was restarted (found by `npm run test:faults`).
 */
describe('RecoveringProducer', () => {
  // kafkajs' own error for broker error code 45, wrapped the way its retrier gives up.
  const outOfOrder = () => new KafkaJSNumberOfRetriesExceeded(
    new KafkaJSProtocolError(createErrorFromCode(45) as Error), { retryCount: 5, retryTime: 1000 });
  const messages = [{ topic: 'events.users', messages: [{ key: 'u', value: 'x', partition: 0 }] }];

  function fakeKafka(behaviours: Array<() => Promise<RecordMetadata[]>>) {
    const made: Array<{ disconnected: boolean; sends: number }> = [];
    const kafka = {
      producer: () => {
        const behaviour = behaviours[made.length] ?? behaviours[behaviours.length - 1]!;
        const state = { disconnected: false, sends: 0 };
        made.push(state);
        return { connect: async () => undefined, disconnect: async () => { state.disconnected = true; }, sendBatch: async () => { state.sends += 1; return behaviour(); } };
      },
    } as unknown as Kafka;
    return { kafka, made };
  }

  it('recognises kafkajs\' wrapped producer-state errors and nothing else', () => {
    expect(isProducerStateError(outOfOrder())).toBe(true);
    expect(isProducerStateError(new KafkaJSProtocolError(createErrorFromCode(6) as Error))).toBe(false); // NOT_LEADER
    expect(isProducerStateError(new Error('OUT_OF_ORDER_SEQUENCE_NUMBER'))).toBe(false);
  });

  it('replaces the producer after a producer-state error, so the retry succeeds on a new one', async () => {
    const ok = async () => [{ topicName: 'events.users', partition: 0, errorCode: 0, baseOffset: '7' }] as RecordMetadata[];
    const { kafka, made } = fakeKafka([async () => { throw outOfOrder(); }, ok]);
    const producer = await RecoveringProducer.connect(kafka, silentLogger);
    const first = producer.send(messages);
    await expect(first).rejects.toThrow(/new producer takes the retry/);
    await first.catch((err) => expect(isRetriable(err)).toBe(true));
    await expect(producer.send(messages)).resolves.toEqual(await ok());
    expect(made.map((m) => [m.sends, m.disconnected])).toEqual([[1, true], [1, false]]);
    expect(producer.replacements).toBe(1);
  });

  it('keeps the producer on other errors', async () => {
    const { kafka, made } = fakeKafka([async () => { throw new KafkaJSProtocolError(createErrorFromCode(6) as Error); }]);
    const producer = await RecoveringProducer.connect(kafka, silentLogger);
    await expect(producer.send(messages)).rejects.toThrow();
    await expect(producer.send(messages)).rejects.toThrow();
    expect(made).toHaveLength(1);
    expect(producer.replacements).toBe(0);
  });
});
