import type { Kafka } from '../../platform/kafka/client';
import { readTopics } from '../../test/kafka';
import { startIngestFixture, type IngestFixture, type TestPipelineTopics } from '../../test/ingest';
import { testConfig, unique, waitFor } from '../../test/helpers';

/**
 * INGEST_PRODUCE_TIMEOUT_MS=1: every first attempt is answered 503 while its send goes on and
 * Kafka takes it. A client retrying with the same eventIds must get 202 with the offsets of that
 * send, and Kafka must hold each event once (not one copy per attempt).
 */
describe('POST /v1/events retried after a 503', () => {
  const config = testConfig({ INGEST_PRODUCE_TIMEOUT_MS: '1', INGEST_AUTH: 'off' });
  let fixture: IngestFixture | undefined;
  let kafka: Kafka;
  let topics: TestPipelineTopics;
  let ingest: IngestFixture['ingest'];

  beforeAll(async () => {
    fixture = await startIngestFixture(config, 'ingest-retry-test');
    ({ kafka, topics, ingest } = fixture);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  it('answers the retry from the send the 503 left running: 202 with its offsets, one record per event in Kafka', async () => {
    const events = Array.from({ length: 20 }, (_, i) => ({
      type: 'login',
      eventId: unique('retry'),
      userId: `u-${i}`,
      occurredAt: Date.now(),
    }));
    const statuses: number[] = [];
    // Retried until Kafka has taken the first send (a deadline, not a number of attempts: a slow
    // broker answers later, and every attempt until then is a quick 503).
    const accepted = await waitFor(
      async () => {
        const res = await fetch(`${ingest.url}/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ events }),
        });
        statuses.push(res.status);
        if (res.status === 202)
          return (await res.json()) as {
            receipts: Array<{ eventId: string; topic: string; partition: number; offset: number }>;
          };
        return undefined;
      },
      'a retry answered 202',
      60_000,
      20,
    );
    expect(statuses[0]).toBe(503); // the first attempt really timed out
    expect(statuses.slice(0, -1).filter((s) => s !== 503)).toEqual([]); // and every retry until the 202 was a 503
    expect(accepted.receipts.map((r) => r.eventId)).toEqual(events.map((e) => e.eventId));

    const written = new Map<string, Array<{ partition: number; offset: number }>>();
    for (const r of await readTopics(kafka, [topics.user])) {
      const { eventId } = await ingest.schemas.decode<{ eventId: string }>(r.value);
      written.set(eventId, [...(written.get(eventId) ?? []), { partition: r.partition, offset: r.offset }]);
    }
    for (const receipt of accepted.receipts) {
      expect({ eventId: receipt.eventId, copies: written.get(receipt.eventId) }).toEqual({
        eventId: receipt.eventId,
        copies: [{ partition: receipt.partition, offset: receipt.offset }],
      });
    }
    const metrics = await (await fetch(`${ingest.url}/metrics`)).text();
    expect(
      Number(/^tributary_ingest_events_joined_total(?:\{[^}]*\})? (\d+)/m.exec(metrics)?.[1]),
    ).toBeGreaterThanOrEqual(events.length);
  });
});
