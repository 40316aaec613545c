import type { OrderEvent, PipelineEvent, UserEvent } from '../schemas/catalog';
import { rowKey, type RollupRow } from '../schemas/rollup';
import { OTHER } from '../schemas/rollup';
import { BLOCK_ROWS, DIMENSION_BOUNDS, PartitionState, windowStartOf, type Taken } from './partition';

const login = (eventId: string, userId: string, occurredAt: number): PipelineEvent => ({
  kind: 'user',
  record: { eventId, type: 'login', userId, occurredAt, receivedAt: null, sessionId: null, country: 'DE', device: 'mobile', page: null, properties: {}, origin: null },
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
    expect(s.apply(5, login('a', 'u1', T))).toBe('duplicate'); // same segment
    expect(s.apply(12, login('a', 'u1', T))).toBe('duplicate'); // previous segment
    expect(s.apply(25, login('a', 'u1', T))).toBe('counted'); // two segments later: counted again
    const users = s.takeDirty().map((d) => d.row).filter((r) => r.kind === 'users');
    expect(users.map((r) => [r.segment, r.count, r.version])).toEqual([[0, 1, 0], [2, 1, 25]]);
    expect(s.segmentStart).toBe(20);
    expect(s.duplicates).toBe(2);
  });

  it('only seeds duplicate ids from records before the resume offset', () => {
    const s = new PartitionState('t', 0, 10, 20, 10);
    expect(s.apply(15, login('x', 'u1', T))).toBe('seeded');
    expect(s.takeDirty()).toEqual([]);
    expect(s.apply(20, login('x', 'u1', T))).toBe('duplicate');
    expect(s.apply(21, login('y', 'u1', T))).toBe('counted');
    expect(s.segmentStart).toBe(20);
  });

  it('gives equal rows the same key regardless of dims order', () => {
    const base = { kind: 'orders' as const, topic: 't', partition: 1, segment: 2, chunk: 0, windowStart: 0 };
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
          items: [{ sku: `SKU-${offset % 11}`, category: offset % 4 ? 'books' : null, quantity: 1 + (offset % 3), unitPriceCents: 100 + offset }], origin: null } };
      s.apply(offset, event);
      for (const { key, row } of s.takeDirty()) {
        expect(key).toBe(rowKey(row));
        keys.push(key);
        kinds.add(row.kind);
      }
    }
    expect([...kinds].sort()).toEqual(['active_users', 'orders', 'products', 'users']);
    expect(new Set(keys.map((k) => k.split('|')[3])).size).toBe(3); // segments 0, 1, 2
  });
});

const order = (eventId: string, currency: string, items: Array<{ sku: string; category: string | null }>, extra: Partial<OrderEvent> = {}): PipelineEvent => ({
  kind: 'order',
  record: { eventId, type: 'order_placed', userId: 'u1', occurredAt: T, receivedAt: null, orderId: `o-${eventId}`, currency, amountCents: 1000, country: 'DE',
    items: items.map((i) => ({ ...i, quantity: 1, unitPriceCents: 1000 })), origin: null, ...extra },
});
const productRows = (s: PartitionState) => s.takeDirty().map((d) => d.row).filter((r) => r.kind === 'products');

describe('PartitionState under hostile input', () => {
  it('regression #16.2: a category crafted with "," and "=" never merges with another row (EUR never added into USD)', () => {
    const s = new PartitionState('t', 0, 100, 0, 0);
    s.apply(0, order('eur', 'EUR', [{ sku: 'z', category: 'x,currency=USD,sku=y' }]));
    s.apply(1, order('usd', 'USD', [{ sku: 'y,currency=EUR,sku=z', category: 'x' }]));
    const rows = productRows(s);
    expect(rows).toHaveLength(2);
    expect(rows.map((r) => [r.dims.currency, r.dims.sku, r.amountCents]).sort()).toEqual([['EUR', 'z', 1000], ['USD', 'y,currency=EUR,sku=z', 1000]]);
  });

  it('folds a window\'s device values past their bound into __other__: every event still counts, the same on every recomputation', () => {
    const bound = DIMENSION_BOUNDS.device!;
    const devices = (n: number) => Array.from({ length: n }, (_, i) => `device-${i}`);
    const run = () => {
      const s = new PartitionState('t', 0, 100_000, 0, 0);
      // bound + 50 distinct devices, each twice, in one window; then one more window with a few.
      devices(bound + 50).forEach((d, i) => {
        s.apply(2 * i, { kind: 'user', record: { ...(login(`a${i}`, 'u', T).record as UserEvent), device: d } });
        s.apply(2 * i + 1, { kind: 'user', record: { ...(login(`b${i}`, 'u', T).record as UserEvent), device: d } });
      });
      devices(3).forEach((d, i) => s.apply(10_000 + i, { kind: 'user', record: { ...(login(`c${i}`, 'u', T + 60_000).record as UserEvent), device: d } }));
      return s;
    };
    const s = run();
    const rows = s.takeDirty().map((t) => t.row).filter((r) => r.kind === 'users');
    const first = rows.filter((r) => r.windowStart === windowStartOf(T));
    expect(first).toHaveLength(bound + 1);
    expect(first.find((r) => r.dims.device === OTHER)!.count).toBe(100);
    expect(first.reduce((n, r) => n + r.count, 0)).toBe(2 * (bound + 50));
    expect(first.filter((r) => r.dims.device !== OTHER).map((r) => r.dims.device).sort()).toEqual(devices(bound).sort());
    // A window of its own has its own bound.
    expect(rows.filter((r) => r.windowStart === windowStartOf(T + 60_000)).map((r) => r.dims.device).sort()).toEqual(devices(3));
    expect(s.folded.get('users.device')).toBe(100);
    // Recomputed from the start: the same rows.
    const again = run().takeDirty().map((t) => t.row).filter((r) => r.kind === 'users');
    expect(again).toEqual(rows);
  });

  it('regression #16.4: cuts a segment into chunks of at most maxRows open rows, at the same records on every recomputation', () => {
    const run = () => {
      const s = new PartitionState('t', 0, 1000, 0, 0, 50);
      const out: RollupRow[] = [];
      let peak = 0;
      for (let offset = 0; offset < 300; offset++) {
        s.apply(offset, order(`e${offset}`, 'EUR', [{ sku: `sku-${offset}`, category: null }, { sku: `sku-${offset % 7}`, category: null }]));
        peak = Math.max(peak, s.rowCount);
        if (offset % 13 === 0) out.push(...s.takeDirty().map((d) => d.row));
      }
      out.push(...s.takeDirty().map((d) => d.row));
      return { out, peak, chunks: s.chunk + 1 };
    };
    const first = run();
    const again = run();
    // One event adds at most 4 rows (active user, orders, two products) to a chunk that had fewer than 50.
    expect(first.peak).toBeLessThanOrEqual(50 + 4);
    expect(first.chunks).toBeGreaterThan(5);
    expect(again.out).toEqual(first.out);
    // Exact however it was cut: the latest version of each row summed over chunks equals the input.
    const latest = new Map<string, RollupRow>();
    for (const r of first.out) latest.set(rowKey(r), r);
    const products = [...latest.values()].filter((r) => r.kind === 'products');
    expect(products.reduce((n, r) => n + r.count, 0)).toBe(600);
    expect(products.filter((r) => r.dims.sku === 'sku-3').reduce((n, r) => n + r.amountCents, 0)).toBe(1000 * (1 + 43)); // once as sku-3, 43 times as offset % 7
  });

  it('scopes eventIds by origin and calls a same-id, other-content event a conflict', () => {
    const s = new PartitionState('t', 0, 100, 0, 0);
    const a = order('same', 'EUR', [{ sku: 'a', category: null }], { origin: 'key:aaaa' });
    expect(s.apply(0, a)).toBe('counted');
    expect(s.apply(1, order('same', 'EUR', [{ sku: 'a', category: null }], { origin: 'key:bbbb' }))).toBe('counted');
    expect(s.apply(2, { ...a, record: { ...a.record, receivedAt: 5 } } as PipelineEvent)).toBe('duplicate');
    expect(s.apply(3, order('same', 'EUR', [{ sku: 'b', category: null }], { origin: 'key:aaaa' }))).toBe('conflict');
    expect(productRows(s).reduce((n, r) => n + r.count, 0)).toBe(2);
  });

  it('gives rows back after a failed send: dirty again, with their latest values', () => {
    const s = new PartitionState('t', 0, 100, 0, 0);
    s.apply(0, login('a', 'u1', T));
    const taken = s.takeDirty();
    s.apply(1, login('b', 'u1', T));
    s.restoreDirty(taken);
    const users = s.takeDirty().map((d) => d.row).filter((r) => r.kind === 'users');
    expect(users.map((r) => [r.count, r.version])).toEqual([[2, 1]]);
    s.restoreDirty(taken);
    expect(s.dirtyCount).toBe(taken.length);
  });
});

describe('PartitionState distinct users as set deltas (#17)', () => {
  /** 2,000 events of 300 users over 3 windows, applied with a takeDirty every `flushEvery` records. */
  function run(flushEvery: number, maxRows = Infinity): { union: Map<number, Set<string>>; rows: RollupRow[]; maxHeld: number } {
    const s = new PartitionState('events.users', 0, 1000, 0, 0, maxRows);
    const rows: RollupRow[] = [];
    let maxHeld = 0;
    for (let offset = 0; offset < 2000; offset++) {
      s.apply(offset, login(`e${offset}`, `u${(offset * 7) % 300}`, T + (offset % 3) * 60_000));
      maxHeld = Math.max(maxHeld, s.rowCount);
      if (offset % flushEvery === 0) rows.push(...s.takeDirty().map((d) => d.row));
    }
    rows.push(...s.takeDirty().map((d) => d.row));
    const union = new Map<number, Set<string>>();
    for (const r of rows.filter((x) => x.kind === 'active_users')) {
      const set = union.get(r.windowStart) ?? new Set<string>();
      for (const u of r.users) set.add(u);
      union.set(r.windowStart, set);
    }
    return { union, rows, maxHeld };
  }

  it('the union of the deltas is each window\'s set of users, however the flushes split them', () => {
    const truth = new Map<number, Set<string>>();
    for (let offset = 0; offset < 2000; offset++) {
      const w = windowStartOf(T + (offset % 3) * 60_000);
      truth.set(w, (truth.get(w) ?? new Set()).add(`u${(offset * 7) % 300}`));
    }
    const rare = run(997);
    const often = run(3);
    for (const r of [rare, often]) expect(new Map([...r.union].map(([w, u]) => [w, [...u].sort()]))).toEqual(new Map([...truth].map(([w, u]) => [w, [...u].sort()])));
    // Fewer, larger deltas when flushed rarely: a row per window and segment, not per user.
    const deltas = (x: typeof rare) => x.rows.filter((r) => r.kind === 'active_users').length;
    expect(deltas(rare)).toBeLessThanOrEqual(3 * 2 * 3);
    expect(deltas(often)).toBeGreaterThan(deltas(rare));
    // Each delta its own key (by the offset that closed it), so compaction never drops one for another.
    const keys = often.rows.filter((r) => r.kind === 'active_users').map((r) => rowKey(r));
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('users held count against the chunk bound, and the union stays exact across chunks', () => {
    const bounded = run(50, 120);
    expect(bounded.maxHeld).toBeLessThanOrEqual(120);
    expect(new Set(bounded.rows.map((r) => r.chunk)).size).toBeGreaterThan(1);
    const free = run(50);
    expect(new Map([...bounded.union].map(([w, u]) => [w, u.size]))).toEqual(new Map([...free.union].map(([w, u]) => [w, u.size])));
  });

  it('a delta whose send failed comes back with the next one', () => {
    const s = new PartitionState('t', 0, 100, 0, 0);
    s.apply(0, login('a', 'u1', T));
    const failed = s.takeDirty();
    s.apply(1, login('b', 'u2', T));
    s.restoreDirty(failed);
    const again = s.takeDirty().filter((d) => d.row.kind === 'active_users');
    expect(again.map((d) => d.row.users.sort())).toEqual([['u1', 'u2']]);
  });
});

/**
 * What Kafka holds of the `rollups` topic once compacted, from the processor's takes in order:
 * a block's rows are one record under the block's key, any other row one record under its own;
 * compaction keeps the latest record per key.
 */
function compacted(takes: Taken[][]): Map<string, RollupRow[]> {
  const latest = new Map<string, RollupRow[]>();
  for (const taken of takes) {
    for (let i = 0; i < taken.length;) {
      const block = taken[i]!.block;
      let end = i + 1;
      if (block !== undefined) while (end < taken.length && taken[end]!.block === block) end++;
      latest.set(block ?? taken[i]!.key, taken.slice(i, end).map((t) => t.row));
      i = end;
    }
  }
  return latest;
}

/** The newest version of every row among `rows`: what ClickHouse keeps (ReplacingMergeTree by version). */
function newest(rows: RollupRow[]): Map<string, RollupRow> {
  const out = new Map<string, RollupRow>();
  for (const r of rows) if (r.kind !== 'active_users' && (out.get(rowKey(r))?.version ?? -1) <= r.version) out.set(rowKey(r), r);
  return out;
}

describe('PartitionState blocks (#17: rows travel many to a record)', () => {
  /** 3,000 orders of 1–3 lines over 40 SKUs, 4 windows, in segments of 1,000 cut into chunks of at most 150 rows; blocks of 32 offsets. */
  const run = (flushAt: (offset: number) => boolean) => {
    const s = new PartitionState('t', 0, 1000, 0, 0, 150, 32);
    const takes: Taken[][] = [];
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647);
    for (let offset = 0; offset < 3000; offset++) {
      const lines = 1 + (next() % 3);
      const items = Array.from({ length: lines }, () => ({ sku: `sku-${next() % 40}`, category: null }));
      s.apply(offset, { ...order(`e${offset}`, next() % 2 ? 'EUR' : 'USD', items), record: { ...order(`e${offset}`, 'EUR', items).record, occurredAt: T + (offset % 4) * 60_000 } } as PipelineEvent);
      if (flushAt(offset)) takes.push(s.takeDirty());
    }
    takes.push(s.takeDirty());
    return takes;
  };
  const truth = newest(run(() => false).flat().map((t) => t.row));

  it('compaction keeps every row at its newest version, wherever the flushes fall', () => {
    for (const every of [1, 7, 50, 333]) {
      const takes = run((offset) => offset % every === 0);
      const kept = newest([...compacted(takes).values()].flat());
      expect(kept).toEqual(truth);
      // Most rows travel in blocks, and no take holds a row twice.
      const all = takes.flat().filter((t) => t.row.kind !== 'active_users');
      expect(all.filter((t) => t.block !== undefined).length).toBeGreaterThan(0.9 * all.length);
      for (const taken of takes) expect(new Set(taken.map((t) => t.key)).size).toBe(taken.length);
    }
  });

  it('a row that changes again moves to a later block, and the block it left is not sent again for it', () => {
    const s = new PartitionState('t', 0, 1000, 0, 0, Infinity, 10);
    s.apply(0, order('a', 'EUR', [{ sku: 'x', category: null }]));
    s.apply(1, order('b', 'EUR', [{ sku: 'y', category: null }]));
    const first = s.takeDirty().filter((t) => t.row.kind === 'products');
    expect(first.map((t) => [t.row.dims.sku, t.block])).toEqual([['x', 'block|t|0|0|0|0.0'], ['y', 'block|t|0|0|0|0.0']]);
    s.apply(12, order('c', 'EUR', [{ sku: 'x', category: null }]));
    s.apply(13, order('d', 'EUR', [{ sku: 'z', category: null }]));
    const second = s.takeDirty().filter((t) => t.row.kind === 'products');
    expect(second.map((t) => [t.row.dims.sku, t.row.count, t.block])).toEqual([['x', 2, 'block|t|0|0|0|1.0'], ['z', 1, 'block|t|0|0|0|1.0']]);
  });

  it('a block holds at most BLOCK_ROWS rows: wide orders fill the range\'s next block', () => {
    const s = new PartitionState('t', 0, 1000, 0, 0, Infinity, 512);
    const takes: Taken[][] = [];
    for (let offset = 0; offset < 12; offset++) {
      s.apply(offset, order(`w${offset}`, 'EUR', Array.from({ length: 100 }, (_, i) => ({ sku: `s-${(offset * 100 + i) % 700}`, category: null }))));
      if (offset % 5 === 4) takes.push(s.takeDirty());
    }
    takes.push(s.takeDirty());
    const sizes = new Map<string, number>();
    for (const t of takes.flat()) if (t.block) sizes.set(t.block, (sizes.get(t.block) ?? 0) + 1);
    expect(Math.max(...sizes.values())).toBeLessThanOrEqual(BLOCK_ROWS);
    expect([...sizes.keys()].filter((k) => k.startsWith('block|t|0|0|0|0.')).length).toBeGreaterThan(1);
    const kept = newest([...compacted(takes).values()].flat());
    expect([...kept.values()].filter((r) => r.kind === 'products').reduce((n, r) => n + r.count, 0)).toBe(1200);
  });

  it('rows whose send failed come back in their block', () => {
    const s = new PartitionState('t', 0, 1000, 0, 0, Infinity, 10);
    s.apply(0, order('a', 'EUR', [{ sku: 'x', category: null }, { sku: 'y', category: null }]));
    const failed = s.takeDirty();
    s.restoreDirty(failed);
    expect(s.takeDirty().filter((t) => t.row.kind === 'products').map((t) => [t.row.dims.sku, t.block])).toEqual([['x', 'block|t|0|0|0|0.0'], ['y', 'block|t|0|0|0|0.0']]);
  });
});
