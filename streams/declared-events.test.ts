import type { PipelineEvent } from '../schemas/catalog';
import { checkDeclaration } from '../schemas/declarations/format';
import { decimalBytes } from '../schemas/events/avro';
import { checkEventType } from '../schemas/events/format';
import { compileRollup, DeclaredState } from './declared';

const T = Date.UTC(2026, 11, 6, 12, 0, 0);

describe('a declared rollup over a declared event type', () => {
  it('counts events written before a property existed under the default it pinned', () => {
    // Events of version 1 (plan only) and of version 2 (plan, seats, price) in one partition.
    const v2 = checkEventType({
      name: 'feature_used',
      properties: {
        plan: { type: 'enum', values: ['free', 'pro'] },
        seats: { type: 'long', default: 1 },
        price: { type: 'decimal', scale: 2, default: '0.50' },
      },
    });
    if (!v2.ok) throw new Error(JSON.stringify(v2.issues));
    const checked = checkDeclaration(
      {
        name: 'seats_by_plan',
        source: 'feature_used',
        dimensions: ['properties.plan'],
        measures: ['count', 'sum(properties.seats) as seats', 'sum(properties.price) as revenue'],
        window: '1h',
      },
      false,
      () => v2.declaration,
    );
    if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
    const state = new DeclaredState(compileRollup(checked.declaration, 1), 'events.custom', 0, 1000, 0);
    const old = (i: number): PipelineEvent => ({
      kind: 'custom',
      type: 'feature_used',
      schemaId: 1,
      record: {
        eventId: `o${i}`,
        userId: 'u',
        occurredAt: T,
        receivedAt: null,
        origin: null,
        properties: { plan: 'pro' },
      },
    });
    const fresh = (i: number, seats: number, cents: number): PipelineEvent => ({
      kind: 'custom',
      type: 'feature_used',
      schemaId: 2,
      record: {
        eventId: `n${i}`,
        userId: 'u',
        occurredAt: T,
        receivedAt: null,
        origin: null,
        properties: { plan: 'pro', seats, price: decimalBytes(cents) },
      },
    });
    const other: PipelineEvent = {
      kind: 'custom',
      type: 'invoice_paid',
      schemaId: 3,
      record: { eventId: 'x', userId: 'u', occurredAt: T, receivedAt: null, origin: null, properties: { plan: 'pro' } },
    };
    [old(0), old(1), fresh(2, 5, 1999), other, fresh(3, 2, 1)].forEach((e, offset) => state.apply(offset, e));
    const rows = state.takeDirty().flatMap((t) => t.rows);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.dims).toEqual(['pro']);
    // count 4; seats 1 + 1 + 5 + 2; price 0.50 + 0.50 + 19.99 + 0.01 (unscaled)
    expect(rows[0]!.values).toEqual([4, 9, 50 + 50 + 1999 + 1]);
  });
});
