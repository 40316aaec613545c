import { z } from 'zod';
import { parseSettings } from '../platform/config';
import { schemasSection } from './config';
import { DEFAULT_EVENT_LIMITS, eventLimitErrors } from './limits';
import { convertEvent, MAX_JSON_DEPTH, nestedDeeperThan, parseTimestamp, refusesUnknownName } from './validation';

/** The contract's settings (schemas/config.ts) from an environment, as loadConfig reads them. */
const eventConfig = (env: NodeJS.ProcessEnv) =>
  schemasSection.build(parseSettings(z.object(schemasSection.settings), env));

const order = {
  type: 'order_placed',
  eventId: 'e-1',
  userId: 'u-42',
  occurredAt: '2026-11-27T20:00:00Z',
  orderId: 'o-9',
  currency: 'EUR',
  amountCents: 1999,
  country: 'DE',
  items: [{ sku: 'B-1', category: 'books', quantity: 1, unitPriceCents: 1999 }],
};
const signup = {
  type: 'signup',
  eventId: 'e-2',
  userId: 'u-42',
  occurredAt: 1795809600000,
  sessionId: 's-1',
  country: 'DE',
  device: 'mobile',
  properties: { plan: 'free' },
};

describe('convertEvent', () => {
  it('converts the documented example events, filling defaults and parsing ISO time', () => {
    const o = convertEvent(order);
    expect(o).toEqual({
      ok: true,
      kind: 'order',
      record: { ...order, occurredAt: Date.UTC(2026, 10, 27, 20), receivedAt: null, origin: null },
    });
    const s = convertEvent(signup, { receivedAt: 1795809601000 });
    expect(s).toEqual({
      ok: true,
      kind: 'user',
      record: { ...signup, receivedAt: 1795809601000, page: null, origin: null },
    });
  });

  it('generates a missing eventId and accepts an explicit null optional', () => {
    const { eventId: _, ...noId } = signup;
    const r = convertEvent({ ...noId, device: null }, { newEventId: () => 'generated' });
    expect(r.ok && r.record.eventId).toBe('generated');
    expect(r.ok && (r.record as { device: unknown }).device).toBeNull();
  });

  it.each([
    [
      'unknown type',
      { ...signup, type: 'purchase' },
      'type',
      /expected one of signup, .*order_refunded or a declared event type .*, got "purchase"/,
    ],
    ['missing type', { ...signup, type: undefined }, 'type', /got null/],
    ['missing userId', { ...signup, userId: undefined }, 'userId', /^required$/],
    ['empty userId', { ...signup, userId: ' ' }, 'userId', /must not be empty/],
    // Hostile values: each was accepted (or answered 500) before the bounds existed.
    [
      'a unit price beyond any real order',
      { ...order, items: [{ ...order.items[0], quantity: 2, unitPriceCents: 9007199254740990 }] },
      'items.0.unitPriceCents',
      /at most 100000000000/,
    ],
    [
      'lines whose total is beyond any real order',
      { ...order, items: [{ ...order.items[0], quantity: 1_000_000, unitPriceCents: 99_999_999_999 }] },
      'items',
      /lines' total/,
    ],
    ['an amount beyond any real order', { ...order, amountCents: 1e12 }, 'amountCents', /at most/],
    [
      'a quantity beyond any real order line',
      { ...order, items: [{ ...order.items[0], quantity: 2_000_000, unitPriceCents: 1 }] },
      'items.0.quantity',
      /at most 1000000/,
    ],
    [
      'too many order lines',
      { ...order, items: Array.from({ length: 101 }, (_, i) => ({ sku: `s${i}`, quantity: 1, unitPriceCents: 1 })) },
      'items',
      /at most 100 lines/,
    ],
    [
      'a 900,000-character device',
      { ...signup, device: 'x'.repeat(900_000) },
      'device',
      /at most 64 characters, got 900000/,
    ],
    ['a long sku', { ...order, items: [{ ...order.items[0], sku: 's'.repeat(129) }] }, 'items.0.sku', /at most 128/],
    [
      'too many properties',
      { ...signup, properties: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v'])) },
      'properties',
      /at most 50 entries/,
    ],
    ['a long property value', { ...signup, properties: { plan: 'v'.repeat(1025) } }, 'properties.plan', /at most 1024/],
    ['occurredAt 1e20', { ...signup, occurredAt: 1e20 }, 'occurredAt', /integer/],
    ['30 February', { ...signup, occurredAt: '2026-02-30T00:00:00Z' }, 'occurredAt', /not a calendar date/],
    ['hour 24', { ...signup, occurredAt: '2026-02-03T24:00:00Z' }, 'occurredAt', /not a calendar date/],
    ['a userId of zero-width spaces', { ...signup, userId: '\u200b\u200b' }, 'userId', /empty or blank/],
    ['a NUL in an id', { ...signup, eventId: 'a\u0000b' }, 'eventId', /control character/],
    ['a lone surrogate in an id', { ...signup, userId: 'u\ud800' }, 'userId', /lone surrogate/],
    ["origin is not the sender's to set", { ...signup, origin: 'key:0000' }, 'origin', /set by Tributary/],
    ['bad time', { ...signup, occurredAt: 'yesterday' }, 'occurredAt', /ISO-8601/],
    ['time without zone', { ...signup, occurredAt: '2026-11-27T20:00:00' }, 'occurredAt', /with a zone/],
    ['far future', { ...signup, occurredAt: Date.now() + 3 * 24 * 3600 * 1000 }, 'occurredAt', /out of range/],
    ['fractional millis', { ...signup, occurredAt: 1.5 }, 'occurredAt', /integer/],
    ['wrong field type', { ...signup, device: 3 }, 'device', /expected null or string, got number/],
    ['unknown field', { ...signup, plan: 'free' }, 'plan', /unknown field for signup events/],
    ['order field on a user event', { ...signup, orderId: 'o-1' }, 'orderId', /unknown field/],
    ['bad country', { ...signup, country: 'de' }, 'country', /ISO 3166-1/],
    ['bad currency', { ...order, currency: 'euro' }, 'currency', /ISO 4217/],
    [
      'made-up country of the right shape',
      { ...signup, country: 'QQ' },
      'country',
      /^QQ is not an ISO 3166-1 alpha-2 code \(EXTRA_COUNTRIES adds codes\)$/,
    ],
    [
      'made-up currency of the right shape',
      { ...order, currency: 'ZZZ' },
      'currency',
      /^ZZZ is not an ISO 4217 code \(EXTRA_CURRENCIES adds codes\)$/,
    ],
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

describe('the same bounds for every way in', () => {
  it('takes a limit from the config it is given (EVENT_LIMITS)', () => {
    const items = Array.from({ length: 150 }, (_, i) => ({ sku: `s${i}`, quantity: 1, unitPriceCents: 1 }));
    expect(convertEvent({ ...order, items }).ok).toBe(false);
    expect(convertEvent({ ...order, items }, { limits: { ...DEFAULT_EVENT_LIMITS, items: 200 } }).ok).toBe(true);
  });

  it('checks decoded records as the processor does: a record straight from Kafka meets the same rules', () => {
    const r = convertEvent(order);
    const record =
      r.ok && r.kind === 'order'
        ? { ...r.record, items: [{ sku: 'x', category: null, quantity: 2, unitPriceCents: 9007199254740990 }] }
        : undefined;
    expect(eventLimitErrors('order', record!, DEFAULT_EVENT_LIMITS).map((e) => e.path)).toEqual([
      'items.0.unitPriceCents',
      'items',
    ]);
    expect(
      eventLimitErrors('order', { ...record!, occurredAt: 2 ** 52 }, DEFAULT_EVENT_LIMITS).map((e) => e.path),
    ).toContain('occurredAt');
  });

  it('reads EVENT_LIMITS as overrides of the known bounds only (the SEGMENT_SIZE check: cli/config.test.ts)', () => {
    expect(() => eventConfig({ EVENT_LIMITS: '{"items":"many"}' })).toThrow(/EVENT_LIMITS/);
    expect(() => eventConfig({ EVENT_LIMITS: '{"itemz":3}' })).toThrow(/EVENT_LIMITS/);
    expect(eventConfig({ EVENT_LIMITS: '{"items":200}' }).eventLimits.items).toBe(200);
  });
});

describe('nestedDeeperThan', () => {
  it('measures 200,000 levels without recursion', () => {
    let deep: unknown = {};
    for (let i = 0; i < 200_000; i++) deep = { a: deep };
    expect(nestedDeeperThan(deep, MAX_JSON_DEPTH)).toBe(true);
    expect(nestedDeeperThan(order, MAX_JSON_DEPTH)).toBe(false);
  });
});

describe('parseTimestamp', () => {
  it('reads ISO-8601 with offsets and epoch millis to the same instant', () => {
    expect(parseTimestamp('2026-11-27T21:00:00+01:00')).toBe(Date.UTC(2026, 10, 27, 20));
    expect(parseTimestamp('2026-11-27T20:00:00.250Z')).toBe(Date.UTC(2026, 10, 27, 20, 0, 0, 250));
    expect(parseTimestamp(Date.UTC(2026, 10, 27, 20))).toBe(Date.UTC(2026, 10, 27, 20));
  });

  describe('currency and country lists', () => {
    it('takes every ISO code the demo uses, and codes EXTRA_CURRENCIES / EXTRA_COUNTRIES add', () => {
      for (const currency of ['EUR', 'USD', 'GBP', 'JPY', 'CHF'])
        expect(convertEvent({ ...order, currency }).ok).toBe(true);
      for (const country of ['DE', 'FR', 'US', 'GB', 'JP']) expect(convertEvent({ ...signup, country }).ok).toBe(true);
      const config = eventConfig({ EXTRA_CURRENCIES: 'XBT, ZZZ', EXTRA_COUNTRIES: 'XK' });
      expect(convertEvent({ ...order, currency: 'ZZZ' }, { limits: config.eventLimits }).ok).toBe(true);
      expect(convertEvent({ ...signup, country: 'XK' }, { limits: config.eventLimits }).ok).toBe(true);
      expect(convertEvent({ ...order, currency: 'QQQ' }, { limits: config.eventLimits }).ok).toBe(false);
      expect(() => eventConfig({ EXTRA_CURRENCIES: 'bitcoin' })).toThrow(/EXTRA_CURRENCIES.*three capital letters/);
    });
  });
});

describe('refusesUnknownName', () => {
  it('tells a type or property the plan may not have yet from any other refusal', () => {
    const unknownType = convertEvent({
      type: 'subscription_renewed',
      userId: 'u1',
      occurredAt: '2026-12-06T10:00:00Z',
    });
    expect(unknownType.ok).toBe(false);
    if (!unknownType.ok) expect(unknownType.errors.filter(refusesUnknownName).map((e) => e.path)).toEqual(['type']);
    const badSignup = convertEvent({ type: 'signup', userId: 5, occurredAt: 'never' });
    expect(badSignup.ok).toBe(false);
    if (!badSignup.ok) expect(badSignup.errors.some(refusesUnknownName)).toBe(false);
    expect(
      refusesUnknownName({ path: 'properties.colour', message: 'not a property of feature_used (declared: seats)' }),
    ).toBe(true);
  });
});
