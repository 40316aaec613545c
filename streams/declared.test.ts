import type { OrderEvent, PipelineEvent } from '../schemas/catalog';
import { checkDeclaration, type RollupDeclaration } from '../schemas/declarations/format';
import { declaredRowKey, type DeclaredRow } from '../schemas/declarations/row';
import { OTHER } from '../schemas/rollup';
import { compileRollup, DeclaredState, type DeclaredTaken } from './declared';

const T = Date.UTC(2026, 10, 27, 20, 0, 30);
const declare = (d: unknown): RollupDeclaration => {
  const c = checkDeclaration(d);
  if (!c.ok) throw new Error(JSON.stringify(c.issues));
  return c.declaration;
};

function order(i: number): PipelineEvent {
  const record: OrderEvent = {
    eventId: `e${i}`,
    type: i % 4 === 0 ? 'order_paid' : 'order_placed',
    userId: `u${(i * 7) % 23}`,
    occurredAt: T + ((i * 7919) % 300) * 60_000,
    receivedAt: null,
    orderId: `o${i}`,
    currency: i % 3 ? 'EUR' : 'USD',
    amountCents: 100 + (i % 50),
    country: ['DE', 'FR', 'US', 'BR'][i % 4]!,
    items: Array.from({ length: 1 + (i % 3) }, (_, k) => ({
      sku: `S${(i + k) % 13}`,
      category: k % 2 ? 'books' : 'games',
      quantity: 1 + k,
      unitPriceCents: 10 * (k + 1),
    })),
    origin: null,
  };
  return { kind: 'order', record };
}

/** What ClickHouse makes of the records: the highest rowVersion per row, sets unioned per (window, dims). */
function collapse(records: DeclaredTaken[], d: RollupDeclaration) {
  const latest = new Map<string, DeclaredRow>();
  const sets = new Map<string, Set<string>[]>();
  for (const row of records.flatMap((r) => r.rows)) {
    const key = declaredRowKey(row);
    const group = `${row.windowStart}|${row.dims.join(',')}`;
    if (row.sets.length > 0) {
      const s = sets.get(group) ?? row.sets.map(() => new Set<string>());
      row.sets.forEach((vs: string[], i: number) => vs.forEach((v) => s[i]!.add(v)));
      sets.set(group, s);
    } else if ((latest.get(key)?.rowVersion ?? -1) < row.rowVersion) latest.set(key, row);
  }
  const out = new Map<string, { values: number[]; distinct: number[] }>();
  for (const row of latest.values()) {
    const group = `${row.windowStart}|${row.dims.join(',')}`;
    const o = out.get(group) ?? { values: d.measures.filter((m) => m.fn !== 'distinct').map(() => 0), distinct: [] };
    row.values.forEach((v, i) => {
      o.values[i]! += v ?? 0;
    });
    out.set(group, o);
  }
  for (const [group, s] of sets) {
    const o = out.get(group) ?? { values: [], distinct: [] };
    o.distinct = s.map((x) => x.size);
    out.set(group, o);
  }
  return out;
}

const lines = declare({
  name: 'lines',
  source: 'order_lines',
  types: ['order_placed'],
  dimensions: ['country', 'category'],
  measures: ['count', 'sum(revenueCents)', 'distinct(userId)'],
  window: '1h',
});

function truth(events: PipelineEvent[]) {
  const out = new Map<string, { values: number[]; distinct: Set<string> }>();
  for (const e of events) {
    const r = e.record as OrderEvent;
    if (r.type !== 'order_placed') continue;
    for (const item of r.items) {
      const w = r.occurredAt - (r.occurredAt % 3_600_000);
      const group = `${w}|${r.country},${item.category}`;
      const o = out.get(group) ?? { values: [0, 0], distinct: new Set() };
      o.values[0]! += 1;
      o.values[1]! += item.quantity * item.unitPriceCents;
      o.distinct.add(r.userId);
      out.set(group, o);
    }
  }
  return new Map([...out].map(([g, o]) => [g, { values: o.values, distinct: [o.distinct.size] }]));
}

describe('DeclaredState', () => {
  const events = Array.from({ length: 500 }, (_, i) => order(i));

  it('equals the ground truth, with tiny chunks and segments, whatever the flushes', () => {
    const s = new DeclaredState(compileRollup(lines, 1), 'events.orders', 0, 64, 0, 7);
    const records: DeclaredTaken[] = [];
    events.forEach((e, i) => {
      s.apply(i, e);
      if (i % 5 === 0) records.push(...s.takeDirty());
    });
    records.push(...s.takeDirty());
    expect(collapse(records, lines)).toEqual(truth(events));
  });

  it('recomputing from a segment start (a crash) and failed sends change nothing', () => {
    const records: DeclaredTaken[] = [];
    const first = new DeclaredState(compileRollup(lines, 1), 'events.orders', 0, 64, 0, 7);
    events.slice(0, 300).forEach((e, i) => {
      first.apply(i, e);
      if (i % 7 === 0) {
        const taken = first.takeDirty();
        if (i % 21 === 0)
          first.restoreDirty(taken); // the send failed: given back
        else records.push(...taken);
      }
    });
    // Crashed at 300, rows up to ~294 sent; the restart recomputes from the open segment's start.
    const again = new DeclaredState(compileRollup(lines, 1), 'events.orders', 0, 64, 256, 7);
    events.slice(256).forEach((e, i) => again.apply(256 + i, e));
    records.push(...again.takeDirty());
    // Segments before 256 were fully sent by the first run? Not all: take what it still held.
    records.push(...first.takeDirty().filter(({ rows }) => rows[0]!.segment < 4));
    expect(collapse(records, lines)).toEqual(truth(events));
  });

  it('starts at `from` and folds values past a bound into __other__', () => {
    const d = declare({
      name: 'b',
      source: 'orders',
      dimensions: [{ field: 'country', bound: 2 }],
      measures: ['count'],
      window: '1d',
    });
    const s = new DeclaredState(compileRollup(d, 3), 't', 0, 1000, 4);
    events
      .slice(0, 12)
      .forEach((e, i) => s.apply(i, { ...e, record: { ...e.record, occurredAt: T } } as PipelineEvent));
    const rows = s.takeDirty().flatMap((t) => t.rows);
    expect(rows.reduce((n, r) => n + r.values[0]!, 0)).toBe(8);
    expect(rows.map((r) => r.dims[0]).sort()).toEqual(['DE', 'FR', OTHER]); // offsets 4.. : DE FR US BR DE FR US BR
    expect(s.folded.get('country')).toBe(4);
    expect(rows.every((r) => r.version === 3 && r.rollup === 'b')).toBe(true);
  });

  it('min and max ignore events without the field', () => {
    const d = declare({
      name: 'm',
      source: 'orders',
      measures: ['min(amountCents)', 'max(amountCents)', 'sum(units)'],
      window: '1d',
    });
    const s = new DeclaredState(compileRollup(d, 1), 't', 0, 1000, 0);
    const a = order(1);
    const b = order(2);
    (b.record as OrderEvent).amountCents = null;
    const c = order(7);
    [a, b, c].forEach((e, i) => s.apply(i, { ...e, record: { ...e.record, occurredAt: T } } as PipelineEvent));
    expect(s.takeDirty().flatMap((t) => t.rows.map((r) => r.values))).toEqual([
      [101, 107, 1 + 2 + (1 + 2 + 3) + (1 + 2)],
    ]);
  });
});

describe('DeclaredState records', () => {
  it('travel in blocks (a row alone only when its block holds one), each row at its newest in the block it last joined', () => {
    const s = new DeclaredState(compileRollup(lines, 1), 'events.orders', 0, 100_000, 0);
    const events = Array.from({ length: 3000 }, (_, i) => order(i));
    const records: DeclaredTaken[] = [];
    events.forEach((e, i) => {
      s.apply(i, e);
      if (i % 100 === 99) records.push(...s.takeDirty());
    });
    records.push(...s.takeDirty());
    const values = records.filter((r) => r.rows[0]!.sets.length === 0);
    expect(values.filter((r) => r.key.startsWith('dblock|')).length).toBeGreaterThan(0);
    expect(values.every((r) => r.key.startsWith('dblock|') || r.rows.length === 1)).toBe(true);
    expect(values.every((r) => r.rows.length <= 500)).toBe(true);
    // Fewer records than rows sent: the point of blocks.
    expect(values.length).toBeLessThan(values.reduce((n, r) => n + r.rows.length, 0) / 5);
    // Compaction keeps the last record per key: the rows they hold still add up to the truth.
    const compacted = new Map(records.map((r) => [r.key, r]));
    expect(collapse([...compacted.values()], lines)).toEqual(truth(events));
  });
});
