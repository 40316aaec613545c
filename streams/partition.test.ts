import type { PipelineEvent, UserEvent } from '../schemas/catalog';
import { rowKey } from '../schemas/rollup';
import { PartitionState, windowStartOf } from './partition';

const login = (eventId: string, userId: string, occurredAt: number): PipelineEvent => ({
  kind: 'user',
  record: { eventId, type: 'login', userId, occurredAt, receivedAt: null, sessionId: null, country: 'DE', device: 'mobile', page: null, properties: {} },
});
const T = Date.UTC(2026, 10, 27, 20, 0, 30);

describe('PartitionState', () => {
  it('keeps cumulative rows per segment with the last changing offset as version', () => {
    const s = new PartitionState('t', 0, 10, 0, 0);
    s.apply(0, login('a', 'u1', T));
    s.apply(1, login('b', 'u2', T + 1000));
    s.apply(2, login('c', 'u1', T + 60_000));
    const rows = s.takeDirty().map((d) => d.row).filter((r) => r.kind === 'users');
    expect(rows.map((r) => [r.windowStart, r.count, r.version, r.segment])).toEqual([
      [windowStartOf(T), 2, 1, 0],
      [windowStartOf(T) + 60_000, 1, 2, 0],
    ]);
    expect(s.takeDirty()).toEqual([]);
  });

  it('starts fresh rows in a new segment and drops duplicates from the current and previous segment only', () => {
    const s = new PartitionState('t', 0, 10, 0, 0);
    s.apply(0, login('a', 'u1', T));
    expect(s.apply(5, login('a', 'u1', T))).toBe(false); // same segment
    expect(s.apply(12, login('a', 'u1', T))).toBe(false); // previous segment
    expect(s.apply(25, login('a', 'u1', T))).toBe(true); // two segments later: counted again
    const users = s.takeDirty().map((d) => d.row).filter((r) => r.kind === 'users');
    expect(users.map((r) => [r.segment, r.count, r.version])).toEqual([[0, 1, 0], [2, 1, 25]]);
    expect(s.segmentStart).toBe(20);
    expect(s.duplicates).toBe(2);
  });

  it('only seeds duplicate ids from records before the resume offset', () => {
    const s = new PartitionState('t', 0, 10, 20, 10);
    expect(s.apply(15, login('x', 'u1', T))).toBe(false);
    expect(s.takeDirty()).toEqual([]);
    expect(s.apply(20, login('x', 'u1', T))).toBe(false);
    expect(s.apply(21, login('y', 'u1', T))).toBe(true);
    expect(s.segmentStart).toBe(20);
  });

  it('gives equal rows the same key regardless of dims order', () => {
    const base = { kind: 'orders' as const, topic: 't', partition: 1, segment: 2, windowStart: 0 };
    expect(rowKey({ ...base, dims: { a: '1', b: '2' } })).toBe(rowKey({ ...base, dims: { b: '2', a: '1' } }));
  });
});

describe('PartitionState row keys', () => {
  it('are rowKey of their row for every kind (the Kafka key compaction and ClickHouse rely on), across segments', () => {
    // Every kind of row, with windows spread over hours (late events) and dims that repeat.
    const countries = ['DE', 'FR', 'US'];
    const s = new PartitionState('events.orders', 3, 250, 0, 0);
    const keys: string[] = [];
    const kinds = new Set<string>();
    for (let offset = 0; offset < 600; offset++) {
      const occurredAt = T + ((offset * 7919) % 180) * 60_000;
      const userId = `u${offset % 37}`;
      const event: PipelineEvent = offset % 3 === 0
        ? { kind: 'user', record: { ...(login(`e${offset}`, userId, occurredAt).record as UserEvent), country: countries[offset % 3]!, type: 'page_view' } }
        : { kind: 'order', record: { eventId: `e${offset}`, type: offset % 2 ? 'order_placed' : 'order_paid', userId, occurredAt, receivedAt: null,
          orderId: `o${offset}`, currency: offset % 5 ? 'EUR' : 'USD', amountCents: 100 + offset, country: countries[offset % 3]!,
          items: [{ sku: `SKU-${offset % 11}`, category: offset % 4 ? 'books' : null, quantity: 1 + (offset % 3), unitPriceCents: 100 + offset }] } };
      s.apply(offset, event);
      for (const { key, row } of s.takeDirty()) {
        expect(key).toBe(rowKey(row));
        keys.push(key);
        kinds.add(row.kind);
      }
    }
    expect([...kinds].sort()).toEqual(['active_user', 'orders', 'products', 'users']);
    expect(new Set(keys.map((k) => k.split('|')[3])).size).toBe(3); // segments 0, 1, 2
  });
});
