import type { OrderEvent, PipelineEvent } from '../schemas/catalog';
import { PartitionState } from './partition';

const T = Date.UTC(2026, 10, 27, 20, 0, 30);
const login = (eventId: string, userId: string, occurredAt: number): PipelineEvent => ({
  kind: 'user',
  record: {
    eventId,
    type: 'login',
    userId,
    occurredAt,
    receivedAt: null,
    sessionId: null,
    country: 'DE',
    device: 'mobile',
    page: null,
    properties: {},
    origin: null,
  },
});
const order = (eventId: string, sku: string, extra: Partial<OrderEvent> = {}): PipelineEvent => ({
  kind: 'order',
  record: {
    eventId,
    type: 'order_placed',
    userId: 'u1',
    occurredAt: T,
    receivedAt: null,
    orderId: `o-${eventId}`,
    currency: 'EUR',
    amountCents: 1000,
    country: 'DE',
    items: [{ sku, category: null, quantity: 1, unitPriceCents: 1000 }],
    origin: null,
    ...extra,
  },
});

describe('PartitionState: which records count', () => {
  it('drops duplicates from the current and previous segment only', () => {
    const s = new PartitionState('t', 0, 10, 0, 0);
    expect(s.apply(0, login('a', 'u1', T))).toBe('counted');
    expect(s.apply(5, login('a', 'u1', T))).toBe('duplicate'); // same segment
    expect(s.apply(12, login('a', 'u1', T))).toBe('duplicate'); // previous segment
    expect(s.apply(25, login('a', 'u1', T))).toBe('counted'); // two segments later: counted again
    expect(s.segmentStart).toBe(20);
    expect(s.duplicates).toBe(2);
  });

  it('only seeds duplicate ids from records before the resume offset', () => {
    const s = new PartitionState('t', 0, 10, 20, 10);
    expect(s.apply(15, login('x', 'u1', T))).toBe('seeded');
    expect(s.position).toBe(16);
    expect(s.apply(20, login('x', 'u1', T))).toBe('duplicate');
    expect(s.apply(21, login('y', 'u1', T))).toBe('counted');
    expect(s.segmentStart).toBe(20);
  });

  it('scopes eventIds by origin and calls a same-id, other-content event a conflict', () => {
    const s = new PartitionState('t', 0, 100, 0, 0);
    const a = order('same', 'a', { origin: 'key:aaaa' });
    expect(s.apply(0, a)).toBe('counted');
    expect(s.apply(1, order('same', 'a', { origin: 'key:bbbb' }))).toBe('counted');
    expect(s.apply(2, { ...a, record: { ...a.record, receivedAt: 5 } } as PipelineEvent)).toBe('duplicate');
    expect(s.apply(3, order('same', 'b', { origin: 'key:aaaa' }))).toBe('conflict');
  });

  it('a skipped record (dead-lettered) moves the position and the segment', () => {
    const s = new PartitionState('t', 0, 10, 0, 0);
    s.skip(13);
    expect(s.position).toBe(14);
    expect(s.segmentStart).toBe(10);
  });
});
