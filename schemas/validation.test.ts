import { convertEvent, parseTimestamp } from './validation';

const order = {
  type: 'order_placed', eventId: 'e-1', userId: 'u-42', occurredAt: '2026-11-27T20:00:00Z',
  orderId: 'o-9', currency: 'EUR', amountCents: 1999, country: 'DE',
  items: [{ sku: 'B-1', category: 'books', quantity: 1, unitPriceCents: 1999 }],
};
const signup = { type: 'signup', eventId: 'e-2', userId: 'u-42', occurredAt: 1795809600000, sessionId: 's-1', country: 'DE', device: 'mobile', properties: { plan: 'free' } };

describe('convertEvent', () => {
  it('converts the DESIGN.md examples, filling defaults and parsing ISO time', () => {
    const o = convertEvent(order);
    expect(o).toEqual({ ok: true, kind: 'order', record: { ...order, occurredAt: Date.UTC(2026, 10, 27, 20), receivedAt: null } });
    const s = convertEvent(signup, { receivedAt: 1795809601000 });
    expect(s).toEqual({ ok: true, kind: 'user', record: { ...signup, receivedAt: 1795809601000, page: null } });
  });

  it('generates a missing eventId and accepts an explicit null optional', () => {
    const { eventId: _, ...noId } = signup;
    const r = convertEvent({ ...noId, device: null }, { newEventId: () => 'generated' });
    expect(r.ok && r.record.eventId).toBe('generated');
    expect(r.ok && (r.record as { device: unknown }).device).toBeNull();
  });

  it.each([
    ['unknown type', { ...signup, type: 'purchase' }, 'type', /expected one of signup, .*order_refunded, got "purchase"/],
    ['missing type', { ...signup, type: undefined }, 'type', /got null/],
    ['missing userId', { ...signup, userId: undefined }, 'userId', /^required$/],
    ['empty userId', { ...signup, userId: ' ' }, 'userId', /must not be empty/],
    ['bad time', { ...signup, occurredAt: 'yesterday' }, 'occurredAt', /ISO-8601/],
    ['time without zone', { ...signup, occurredAt: '2026-11-27T20:00:00' }, 'occurredAt', /with a zone/],
    ['far future', { ...signup, occurredAt: Date.now() + 3 * 24 * 3600 * 1000 }, 'occurredAt', /out of range/],
    ['fractional millis', { ...signup, occurredAt: 1.5 }, 'occurredAt', /integer/],
    ['wrong field type', { ...signup, device: 3 }, 'device', /expected null or string, got number/],
    ['unknown field', { ...signup, plan: 'free' }, 'plan', /unknown field for signup events/],
    ['order field on a user event', { ...signup, orderId: 'o-1' }, 'orderId', /unknown field/],
    ['bad country', { ...signup, country: 'de' }, 'country', /ISO 3166-1/],
    ['bad currency', { ...order, currency: 'euro' }, 'currency', /ISO 4217/],
    ['negative amount', { ...order, amountCents: -1 }, 'amountCents', /negative/],
    ['zero quantity', { ...order, items: [{ ...order.items[0], quantity: 0 }] }, 'items.0.quantity', /at least 1/],
    ['item missing sku', { ...order, items: [{ quantity: 1, unitPriceCents: 1 }] }, 'items.0.sku', /expected string/],
    ['placed without items', { ...order, items: [] }, 'items', /required for order_placed/],
    ['properties not strings', { ...signup, properties: { n: 1 } }, 'properties.n', /expected string, got number/],
  ])('%s → an error at its path', (_what, input, path, message) => {
    const r = convertEvent(input);
    expect(r.ok).toBe(false);
    const errors = r.ok ? [] : r.errors;
    expect(errors).toContainEqual({ path, message: expect.stringMatching(message) });
  });

  it('reports every error of an event, not just the first', () => {
    const r = convertEvent({ ...order, userId: 5, currency: 'x', extra: true });
    expect(r.ok ? [] : r.errors.map((e) => e.path).sort()).toEqual(['extra', 'userId']);
    const r2 = convertEvent({ ...order, userId: 5, amountCents: 'ten' });
    expect(r2.ok ? [] : r2.errors.map((e) => e.path).sort()).toEqual(['amountCents', 'userId']);
  });

  it('rejects non-objects', () => {
    expect(convertEvent([1])).toEqual({ ok: false, errors: [{ path: '', message: 'expected a JSON object' }] });
  });
});

describe('parseTimestamp', () => {
  it('reads ISO-8601 with offsets and epoch millis to the same instant', () => {
    expect(parseTimestamp('2026-11-27T21:00:00+01:00')).toBe(Date.UTC(2026, 10, 27, 20));
    expect(parseTimestamp('2026-11-27T20:00:00.250Z')).toBe(Date.UTC(2026, 10, 27, 20, 0, 0, 250));
    expect(parseTimestamp(Date.UTC(2026, 10, 27, 20))).toBe(Date.UTC(2026, 10, 27, 20));
  });
});
