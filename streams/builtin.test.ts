import type { OrderEvent, PipelineEvent, UserEvent } from '../schemas/catalog';
import { BUILTIN_ROLLUPS, builtin } from '../schemas/declarations/builtin';
import { declaredRowKey, type DeclaredRow } from '../schemas/declarations/row';
import { OTHER } from '../schemas/rollup';
import { compileRollup, DeclaredState } from './declared';
import { PartitionState } from './partition';

/**
 * The built-in rollups (rollups/builtin.yaml) on the declared path: what the processor computes
 * for every pipeline, checked against totals computed here from the events directly.
 */
const T = Date.UTC(2026, 10, 27, 20, 0, 30);
const minute = (t: number) => t - (t % 60_000);
const COUNTRIES = ['DE', 'FR', 'US'];

function event(i: number): PipelineEvent {
  const occurredAt = T + ((i * 7919) % 180) * 60_000;
  const userId = `u${i % 37}`;
  if (i % 3 === 0) {
    return {
      kind: 'user',
      record: {
        eventId: `e${i}`,
        type: i % 2 ? 'page_view' : 'login',
        userId,
        occurredAt,
        receivedAt: null,
        sessionId: null,
        country: COUNTRIES[i % 3]!,
        device: i % 5 ? 'mobile' : null,
        page: null,
        properties: {},
        origin: null,
      },
    };
  }
  const record: OrderEvent = {
    eventId: `e${i}`,
    type: i % 2 ? 'order_placed' : 'order_paid',
    userId,
    occurredAt,
    receivedAt: null,
    orderId: `o${i}`,
    currency: i % 5 ? 'EUR' : 'USD',
    amountCents: 100 + i,
    country: COUNTRIES[i % 3]!,
    items: Array.from({ length: 1 + (i % 2) }, (_, k) => ({
      sku: `SKU-${(i + k) % 11}`,
      category: i % 4 ? 'books' : null,
      quantity: 1 + ((i + k) % 3),
      unitPriceCents: 100 + k,
    })),
    origin: null,
  };
  return { kind: 'order', record };
}

/** Every built-in rollup over one partition's records, taken every `flushEvery` records, with chunks of at most `maxRows`. */
function compute(events: PipelineEvent[], segmentSize: number, flushEvery: number, maxRows = 10_000) {
  const partition = new PartitionState('t', 0, segmentSize, 0, 0);
  const states = BUILTIN_ROLLUPS.map((d) => new DeclaredState(compileRollup(d, 1), 't', 0, segmentSize, 0, maxRows));
  const rows: DeclaredRow[] = [];
  events.forEach((e, offset) => {
    if (partition.apply(offset, e) === 'counted') for (const s of states) s.apply(offset, e);
    if (offset % flushEvery === 0) for (const s of states) rows.push(...s.takeDirty().flatMap((t) => t.rows));
  });
  for (const s of states) rows.push(...s.takeDirty().flatMap((t) => t.rows));
  return { rows, states };
}

/** The newest of each value row (what ReplacingMergeTree keeps). */
function newest(rows: DeclaredRow[]): DeclaredRow[] {
  const latest = new Map<string, DeclaredRow>();
  for (const r of rows)
    if (r.sets.length === 0 && (latest.get(declaredRowKey(r))?.rowVersion ?? -1) <= r.rowVersion)
      latest.set(declaredRowKey(r), r);
  return [...latest.values()];
}

/** What ClickHouse answers from the rows: value rows at their newest per key, summed; sets unioned. */
function answers(rows: DeclaredRow[]) {
  const latest = new Map<string, DeclaredRow>();
  const users = new Map<number, Set<string>>();
  for (const r of rows) {
    if (r.sets.length > 0)
      for (const u of r.sets[0]!)
        (users.get(r.windowStart) ?? users.set(r.windowStart, new Set()).get(r.windowStart)!).add(u);
    else if ((latest.get(declaredRowKey(r))?.rowVersion ?? -1) <= r.rowVersion) latest.set(declaredRowKey(r), r);
  }
  const sum = (rollup: string, group: (r: DeclaredRow) => string, measure: number) => {
    const out: Record<string, number> = {};
    for (const r of latest.values()) if (r.rollup === rollup) out[group(r)] = (out[group(r)] ?? 0) + r.values[measure]!;
    return out;
  };
  const col = (name: 'orders' | 'products' | 'users', column: string) =>
    builtin(name).dimensions.findIndex((d) => d.column === column);
  return {
    ordersByTypeCurrency: sum(
      'orders',
      (r) => `${r.dims[col('orders', 'type')]}/${r.dims[col('orders', 'currency')]}`,
      1,
    ),
    unitsBySku: sum('products', (r) => r.dims[col('products', 'sku')]!, 2),
    userEventsByType: sum('users', (r) => `${r.dims[col('users', 'type')]}/${r.dims[col('users', 'device')]}`, 0),
    activeUsers: Object.fromEntries([...users].map(([w, s]) => [w, s.size])),
  };
}

function truth(events: PipelineEvent[]) {
  const ordersByTypeCurrency: Record<string, number> = {};
  const unitsBySku: Record<string, number> = {};
  const userEventsByType: Record<string, number> = {};
  const users = new Map<number, Set<string>>();
  for (const e of events) {
    (
      users.get(minute(e.record.occurredAt)) ??
      users.set(minute(e.record.occurredAt), new Set()).get(minute(e.record.occurredAt))!
    ).add(e.record.userId);
    if (e.kind === 'user') {
      const u = e.record as UserEvent;
      userEventsByType[`${u.type}/${u.device ?? ''}`] = (userEventsByType[`${u.type}/${u.device ?? ''}`] ?? 0) + 1;
      continue;
    }
    const o = e.record as OrderEvent;
    ordersByTypeCurrency[`${o.type}/${o.currency}`] =
      (ordersByTypeCurrency[`${o.type}/${o.currency}`] ?? 0) + (o.amountCents ?? 0);
    if (o.type === 'order_placed')
      for (const item of o.items) unitsBySku[item.sku] = (unitsBySku[item.sku] ?? 0) + item.quantity;
  }
  return {
    ordersByTypeCurrency,
    unitsBySku,
    userEventsByType,
    activeUsers: Object.fromEntries([...users].map(([w, s]) => [w, s.size])),
  };
}

describe('the built-in rollups as declarations', () => {
  const events = Array.from({ length: 900 }, (_, i) => event(i));
  // Retries: every 10th event again, 3 offsets later (the dedup drops them before any rollup sees them).
  const withRetries = events.flatMap((e, i) => (i % 10 === 0 ? [e, e] : [e]));

  it('equal totals computed from the events, whatever the segments, chunks and flushes', () => {
    const want = truth(events);
    for (const [segment, flush, maxRows] of [
      [100_000, 1_000_000, 10_000],
      [97, 13, 10_000],
      [250, 1, 40],
    ] as const) {
      expect(answers(compute(withRetries, segment, flush, maxRows).rows)).toEqual(want);
    }
  });

  it('read both topics for active users (source events) and count each user once per minute', () => {
    const onlyUser = [
      event(0),
      {
        ...event(1),
        record: { ...event(1).record, userId: 'u0', occurredAt: event(0).record.occurredAt },
      } as PipelineEvent,
    ];
    const { rows } = compute(onlyUser, 100, 100);
    expect(answers(rows).activeUsers).toEqual({ [minute(event(0).record.occurredAt)]: 1 });
  });

  it('a category crafted with "," and ":" never merges with another row (EUR never added into USD)', () => {
    const base = event(1).record as OrderEvent;
    const crafted = (eventId: string, currency: string, sku: string, category: string): PipelineEvent => ({
      kind: 'order',
      record: {
        ...base,
        eventId,
        type: 'order_placed',
        currency,
        items: [{ sku, category, quantity: 1, unitPriceCents: 1000 }],
      },
    });
    const { rows } = compute([crafted('eur', 'EUR', 'z', '1:x,3:USD,'), crafted('usd', 'USD', '1:z,', 'x')], 100, 100);
    const products = newest(rows).filter((r) => r.rollup === 'products');
    expect(products).toHaveLength(2);
    expect(new Set(products.map((r) => declaredRowKey(r))).size).toBe(2);
  });

  it("fold a window's device values past their bound into __other__: every event still counts, the same on every recomputation", () => {
    const bound = builtin('users').dimensions.find((d) => d.field === 'device')!.bound;
    const login = (i: number, device: string, at = T): PipelineEvent => ({
      kind: 'user',
      record: { ...(event(0).record as UserEvent), eventId: `l${i}`, occurredAt: at, device },
    });
    const logins = Array.from({ length: bound + 50 }, (_, i) => login(i, `device-${i}`));
    const run = () =>
      compute(
        [
          ...logins,
          ...logins.map((e, i) => login(i + 100_000, (e.record as UserEvent).device!)),
          login(999_999, 'device-0', T + 60_000),
        ],
        100_000,
        1_000_000,
      );
    const { rows, states } = run();
    const users = newest(rows).filter((r) => r.rollup === 'users' && r.windowStart === minute(T));
    const device = builtin('users').dimensions.findIndex((d) => d.field === 'device');
    expect(users).toHaveLength(bound + 1);
    expect(users.find((r) => r.dims[device] === OTHER)!.values[0]).toBe(100);
    expect(users.reduce((n, r) => n + r.values[0]!, 0)).toBe(2 * (bound + 50));
    expect(states.find((s) => s.rollup.declaration.name === 'users')!.folded.get('device')).toBe(100);
    expect(run().rows).toEqual(rows);
  });
});
