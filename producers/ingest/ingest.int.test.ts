import type { Admin } from '../../platform/kafka/client';
import { createTopics, javaPartitions, readTopics } from '../../test/kafka';
import {
  endOffsetSum,
  startIngestFixture,
  startTestIngest,
  type IngestFixture,
  type TestPipelineTopics,
} from '../../test/ingest';
import { testConfig, unique, waitFor } from '../../test/helpers';
import { SCHEMAS, type OrderEvent, type UserEvent } from '../../schemas/catalog';
import { schemaIdOf } from '../../schemas/wire';
import { keyId } from '../../platform/http/keys';
import { gzipSync } from 'node:zlib';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';

const KEY = 'test-write-key';

describe('POST /v1/events', () => {
  const config = testConfig({
    WRITE_KEYS: `other-key,${KEY}`,
    INGEST_MAX_EVENTS: '50',
    INGEST_MAX_BODY_BYTES: '200000',
    INGEST_MAX_EVENT_BYTES: '4096',
  });
  let fixture: IngestFixture | undefined;
  let admin: Admin;
  let topics: TestPipelineTopics;
  let ingest: IngestFixture['ingest'];

  beforeAll(async () => {
    fixture = await startIngestFixture(config, 'ingest-test');
    ({ admin, topics, ingest } = fixture);
  });
  afterAll(async () => {
    await fixture?.close();
  });

  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${ingest.url}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
      body: Buffer.isBuffer(body) ? new Uint8Array(body) : typeof body === 'string' ? body : JSON.stringify(body),
    });
  const gzipped = (body: unknown) => gzipSync(JSON.stringify(body));

  const order = (userId: string, i: number) => ({
    type: 'order_placed',
    eventId: unique('e'),
    userId,
    occurredAt: new Date(Date.now() - i * 1000).toISOString(),
    orderId: `o-${i}`,
    currency: 'EUR',
    amountCents: 100 * i + 1,
    country: 'DE',
    items: [{ sku: `S-${i}`, category: 'books', quantity: 1, unitPriceCents: 100 * i + 1 }],
  });
  const signup = (userId: string) => ({
    type: 'signup',
    userId,
    occurredAt: Date.now() - 5000,
    country: 'FR',
    device: 'desktop',
  });

  it('answers a valid batch with receipts: Java murmur2 partitions, and each offset holds that event in the wire format', async () => {
    const users = Array.from({ length: 12 }, (_, i) => `user-${i}-${unique('u')}`);
    const events = [...users.map((u, i) => order(u, i)), ...users.map(signup)];
    const res = await post({ events });
    expect(res.status).toBe(202);
    const body = (await res.json()) as {
      accepted: number;
      receipts: Array<{ eventId: string; topic: string; partition: number; offset: number }>;
    };
    expect(body.accepted).toBe(events.length);
    const expectedPartitions = await javaPartitions([...users, ...users], 6);
    expect(body.receipts.map((r) => r.partition)).toEqual(expectedPartitions);
    expect(body.receipts.map((r) => r.topic)).toEqual([
      ...users.map(() => topics.order),
      ...users.map(() => topics.user),
    ]);
    // Generated ids for events sent without one, given ids kept.
    expect(body.receipts.slice(0, 12).map((r) => r.eventId)).toEqual(
      events.slice(0, 12).map((e) => (e as { eventId: string }).eventId),
    );
    expect(body.receipts.slice(12).every((r) => /^[0-9a-f-]{36}$/.test(r.eventId))).toBe(true);

    const stored = new Map(
      (await readTopics(fixture!.kafka, [topics.order, topics.user])).map((r) => [
        `${r.topic}/${r.partition}/${r.offset}`,
        r.value,
      ]),
    );
    const orderId = await ingest.schemas.register({ ...SCHEMAS.order, subject: `${topics.order}-value` });
    for (const [i, receipt] of body.receipts.entries()) {
      const value = stored.get(`${receipt.topic}/${receipt.partition}/${receipt.offset}`);
      expect(value).toBeDefined();
      const decoded = await ingest.schemas.decode<UserEvent | OrderEvent>(value!);
      expect(decoded.eventId).toBe(receipt.eventId);
      expect(decoded.userId).toBe(events[i]!.userId);
      expect(decoded.receivedAt).toEqual(expect.any(Number));
      if (receipt.topic === topics.order) expect(schemaIdOf(value!)).toBe(orderId);
    }
  });

  it('accepts HTTP Basic with the key as user name, and a single event object', async () => {
    const res = await post(signup('basic-user'), {
      authorization: `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`,
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { accepted: number }).accepted).toBe(1);
  });

  it('answers every bad-input class with its status and body, and produces nothing from it', async () => {
    const before = await endOffsetSum(admin, [topics.user, topics.order]);
    const big = { ...signup('big'), properties: { blob: 'x'.repeat(5000) } };
    const cases: Array<[string, Promise<Response>, number, RegExp | object]> = [
      ['no key', post(signup('a'), { authorization: '' }), 401, { error: 'unauthorized' }],
      ['wrong key', post(signup('a'), { authorization: 'Bearer nope' }), 401, { error: 'unauthorized' }],
      ['not JSON', post('{"type": "signup",'), 400, { error: 'invalid_json' }],
      [
        'wrong content type',
        post('type=signup', { 'content-type': 'application/x-www-form-urlencoded' }),
        415,
        { error: 'unsupported_media_type' },
      ],
      [
        'body too large',
        post({ events: Array.from({ length: 45 }, () => ({ ...signup('b'), properties: { pad: 'y'.repeat(4000) } })) }),
        413,
        { error: 'payload_too_large' },
      ],
      [
        'too many events',
        post({ events: Array.from({ length: 51 }, () => signup('c')) }),
        413,
        { error: 'payload_too_large' },
      ],
      ['event too large', post({ events: [signup('d'), big] }), 413, { error: 'payload_too_large', index: 1 }],
      [
        'unknown type',
        post({ ...signup('e'), type: 'purchase' }),
        400,
        { errors: [{ index: 0, path: 'type', message: expect.stringMatching(/expected one of/) }] },
      ],
      [
        'one bad among good',
        post({ events: [signup('f'), { ...order('g', 1), amountCents: 'lots' }, signup('h')] }),
        400,
        { error: 'invalid_events', errors: [{ index: 1, path: 'amountCents', message: expect.any(String) }] },
      ],
      [
        'several bad',
        post({
          events: [
            { ...signup('i'), userId: 7 },
            { ...signup('j'), occurredAt: 'soon' },
          ],
        }),
        400,
        {
          errors: [
            { index: 0, path: 'userId', message: expect.any(String) },
            { index: 1, path: 'occurredAt', message: expect.any(String) },
          ],
        },
      ],
      ['array body', post([signup('k')]), 400, { error: 'invalid_body' }],
      ['empty batch', post({ events: [] }), 400, { error: 'invalid_body' }],
      // Hostile values: accepted, or answered 500, before the bounds existed.
      [
        'an event over the limit, gzipped under it',
        post(gzipped({ ...signup('l'), properties: { blob: 'z'.repeat(50_000) } }), { 'content-encoding': 'gzip' }),
        413,
        { error: 'payload_too_large', message: expect.stringMatching(/event 0 is \d+ bytes/) },
      ],
      [
        'a 900,000-character device in a 1 kB gzip',
        post(gzipped({ ...signup('m'), device: 'd'.repeat(900_000) }), { 'content-encoding': 'gzip' }),
        413,
        { error: 'payload_too_large' },
      ],
      [
        'charset=latin1',
        post(signup('n'), { 'content-type': 'application/json; charset=latin1' }),
        415,
        { error: 'unsupported_media_type' },
      ],
      [
        'unknown content-encoding',
        post(signup('o'), { 'content-encoding': 'zstd-ish' }),
        415,
        { error: 'unsupported_media_type' },
      ],
      [
        'invalid brotli',
        post(Buffer.from('definitely not brotli'), { 'content-encoding': 'br' }),
        400,
        { error: 'invalid_body' },
      ],
      [
        'occurredAt 1e20',
        post({ ...signup('p'), occurredAt: 1e20 }),
        400,
        { errors: [{ index: 0, path: 'occurredAt', message: expect.any(String) }] },
      ],
      [
        'nested 50,000 deep',
        post(`{"type":"signup","properties":${'['.repeat(50_000)}${']'.repeat(50_000)}}`),
        400,
        { error: 'invalid_events' },
      ],
      [
        '30 February',
        post({ ...signup('q'), occurredAt: '2026-02-30T00:00:00Z' }),
        400,
        { errors: [{ index: 0, path: 'occurredAt', message: expect.stringMatching(/calendar/) }] },
      ],
      [
        'zero-width userId',
        post(signup('\u200b\u200b')),
        400,
        { errors: [{ index: 0, path: 'userId', message: expect.any(String) }] },
      ],
      [
        'lone surrogate',
        post(`{"type":"signup","userId":"u\\ud800","occurredAt":${Date.now()}}`),
        400,
        { errors: [{ index: 0, path: 'userId', message: expect.stringMatching(/surrogate/) }] },
      ],
    ];
    for (const [what, request, status, body] of cases) {
      const res = await request;
      const json = (await res.json()) as { message: unknown };
      expect([what, res.status]).toEqual([what, status]);
      expect(json).toMatchObject(body);
      expect(typeof json.message).toBe('string');
    }
    expect(await endOffsetSum(admin, [topics.user, topics.order])).toBe(before);
  });

  it("scopes eventIds by write key: the same id from two keys is two events, stamped with each key's id", async () => {
    const event = { ...signup(unique('scoped')), eventId: unique('shared-id') };
    const mine = await post(event);
    const theirs = await post(event, { authorization: 'Bearer other-key' });
    expect([mine.status, theirs.status]).toEqual([202, 202]);
    const [a, b] = [
      (await mine.json()) as { receipts: Array<{ partition: number; offset: number }> },
      (await theirs.json()) as { receipts: Array<{ partition: number; offset: number }> },
    ];
    expect(b.receipts[0]!.offset).not.toBe(a.receipts[0]!.offset);
    const stored = (await readTopics(fixture!.kafka, [topics.user])).filter(
      (r) =>
        r.partition === a.receipts[0]!.partition &&
        [a.receipts[0]!.offset, b.receipts[0]!.offset].includes(Number(r.offset)),
    );
    const origins = await Promise.all(
      stored.map(async (r) => (await ingest.schemas.decode<UserEvent>(r.value!)).origin),
    );
    expect(origins.sort()).toEqual([keyId('other-key'), keyId(KEY)].sort());
    expect(origins.every((o) => /^key:[0-9a-f]{16}$/.test(o!))).toBe(true);
  });

  it('security: listens on 127.0.0.1 only unless a host setting opens it', async () => {
    const port = Number(new URL(ingest.url).port);
    const external = Object.values(os.networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    expect(ingest.url).toBe(`http://localhost:${port}`);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    if (external) {
      const reached = await new Promise<boolean>((resolve) => {
        const socket = net
          .connect(port, external)
          .once('connect', () => {
            socket.destroy();
            resolve(true);
          })
          .once('error', () => resolve(false));
      });
      expect([external, reached]).toEqual([external, false]);
    }
  });

  it('coalesces concurrent requests and answers each with its own receipts', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        post({ events: [signup(`conc-${i}`), order(`conc-${i}`, i)] }).then(
          (r) => r.json() as Promise<{ receipts: unknown[] }>,
        ),
      ),
    );
    const receipts = results.flatMap((r) => r.receipts as Array<{ topic: string; partition: number; offset: number }>);
    expect(receipts).toHaveLength(80);
    // No two events share a (topic, partition, offset).
    expect(new Set(receipts.map((r) => `${r.topic}/${r.partition}/${r.offset}`)).size).toBe(80);
  });

  it('refuses with 413 naming it an event that could never be written to its topic (over its max.message.bytes), and produces nothing of the body', async () => {
    // Topics that take record batches of at most 2 KB: a 2 KB page is within the event limits but can never be written.
    const small = { user: unique('small.users'), order: unique('small.orders') };
    await createTopics(
      admin,
      [small.user, small.order].map((topic) => ({
        topic,
        numPartitions: 2,
        replicationFactor: 1,
        configEntries: [{ name: 'max.message.bytes', value: '2048' }],
      })),
    );
    const narrow = await startTestIngest(config, fixture!.kafka, fixture!.registry.url, small);
    try {
      const events = [
        signup(unique('u')),
        { ...signup(unique('u')), type: 'page_view', page: '/'.padEnd(2040, 'p') },
        signup(unique('u')),
      ];
      const res = await fetch(`${narrow.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ events }),
      });
      expect(res.status).toBe(413);
      const body = (await res.json()) as {
        error: string;
        index: number;
        errors: Array<{ index: number; message: string }>;
      };
      expect(body.error).toBe('payload_too_large');
      expect(body.errors.map((e) => e.index)).toEqual([1]);
      expect(body.errors[0]!.message).toMatch(
        new RegExp(`${small.user.replace(/\./g, '\\.')} takes record batches of at most 2048 bytes`),
      );
      expect(await endOffsetSum(admin, [small.user, small.order])).toBe(0);
      // The same events without the large one are written.
      expect(
        (
          await fetch(`${narrow.url}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
            body: JSON.stringify({ events: [events[0], events[2]] }),
          })
        ).status,
      ).toBe(202);
      expect(await endOffsetSum(admin, [small.user, small.order])).toBe(2);
    } finally {
      await narrow.close();
      await admin.deleteTopics({ topics: [small.user, small.order] }).catch(() => undefined);
    }
  });

  it('admits a compressed body by what it may inflate to (INGEST_MAX_BODY_BYTES), not by its compressed length', async () => {
    const tight = testConfig({ WRITE_KEYS: KEY, INGEST_MAX_BODY_BYTES: '200000', INGEST_MAX_INFLIGHT_BYTES: '450000' });
    const gated = await startTestIngest(tight, fixture!.kafka, fixture!.registry.url, topics);
    // A gzip body sent in two parts: the request stays open (admitted) until the second part.
    const open = () => {
      const body = gzipSync(JSON.stringify({ events: [signup(unique('u'))] }));
      const req = http.request(`${gated.url}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: `Bearer ${KEY}` },
      });
      const answered = new Promise<number>((resolve, reject) => {
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
      });
      req.write(body.subarray(0, 10));
      return { answered, finish: () => req.end(body.subarray(10)) };
    };
    try {
      const first = open();
      const second = open();
      // Two ~40-byte compressed bodies hold 2 × 200,000 of the 450,000 bytes: a third is refused at once.
      const status = await waitFor(
        async () => {
          const res = await fetch(`${gated.url}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: `Bearer ${KEY}` },
            body: new Uint8Array(gzipped(signup(unique('u')))),
          });
          return res.status === 429 ? res.status : undefined;
        },
        'a third compressed body to be refused while two are admitted',
        10_000,
      );
      expect(status).toBe(429);
      first.finish();
      second.finish();
      expect(await Promise.all([first.answered, second.answered])).toEqual([202, 202]);
      // Answered: their reservations are released, and a compressed body is admitted again.
      expect(
        (
          await fetch(`${gated.url}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: `Bearer ${KEY}` },
            body: new Uint8Array(gzipped(signup(unique('u')))),
          })
        ).status,
      ).toBe(202);
    } finally {
      await gated.close();
    }
  });
});
