import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CompatibilityChecker } from '../registry/compatibility';
import { canonicalSchema } from '../registry/avro';
import { convertEvent } from '../validation';
import { customEventErrors, DEFAULT_EVENT_LIMITS } from '../limits';
import { checkDeclaration } from '../declarations/format';
import { avroSchemaOf, avroTypeOf, decimalBytes, decimalValue, type CustomEvent } from './avro';
import {
  checkEventType,
  eventTypeJsonSchema,
  formatDecimal,
  MAX_MAGNITUDE,
  parseDecimal,
  type EventTypeDeclaration,
} from './format';
import { EventPlan, eventTypeKey, type EventTypeRecord } from './plan';

const declare = (value: unknown): EventTypeDeclaration => {
  const c = checkEventType(value);
  if (!c.ok) throw new Error(JSON.stringify(c.issues));
  return c.declaration;
};

const featureUsed = {
  name: 'feature_used',
  properties: {
    plan: { type: 'enum', values: ['free', 'pro', 'team'] },
    seats: { type: 'long', min: 1, max: 10_000 },
    price: { type: 'decimal', scale: 2, min: '0', max: '100000.00' },
    note: { type: 'string', maxLength: 20, optional: true },
    trial: { type: 'boolean', default: false },
  },
};

function planOf(...declarations: EventTypeDeclaration[]): EventPlan {
  const plan = new EventPlan();
  declarations.forEach((d, i) => {
    const record: EventTypeRecord = {
      type: d.name,
      version: i + 1,
      declaration: d,
      schemaId: 100 + i,
      subject: `events.custom-dev.tributary.custom.${d.name}`,
      topic: 'events.custom',
      appliedAt: 0,
    };
    plan.apply(eventTypeKey(d.name, i + 1), record);
  });
  return plan;
}

const T = Date.UTC(2026, 11, 6, 12, 0, 0);
const event = (properties: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  type: 'feature_used',
  userId: 'u1',
  eventId: 'e1',
  occurredAt: T,
  properties,
  ...extra,
});

describe('declared event types', () => {
  it('has the JSON Schema editors complete from (regenerate: npm run rollups:schema)', () => {
    const published = JSON.parse(
      readFileSync(path.join(__dirname, '../../docs/events.schema.json'), 'utf8'),
    ) as unknown;
    expect(published).toEqual(eventTypeJsonSchema());
  });

  it('normalizes a type: required unless optional or defaulted, decimals unscaled, bounds filled in', () => {
    const d = declare(featureUsed);
    const by = Object.fromEntries(d.properties.map((p) => [p.name, p]));
    expect(by.seats).toMatchObject({ required: true, min: 1, max: 10_000, default: null });
    expect(by.price).toMatchObject({ required: true, scale: 2, min: 0, max: 10_000_000 });
    expect(by.note).toMatchObject({ required: false, default: null, maxLength: 20 });
    expect(by.trial).toMatchObject({ required: false, default: false });
    expect(by.plan!.values).toEqual(['free', 'pro', 'team']);
  });

  it('refuses built-in names, bounds past the exact range, a default outside its bounds or values', () => {
    const issues = (v: unknown) => {
      const c = checkEventType(v);
      return c.ok ? [] : c.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(issues({ name: 'signup' })).toEqual([expect.stringMatching(/^name: signup is a built-in/)]);
    expect(issues({ name: 'x', properties: { n: { type: 'long', max: MAX_MAGNITUDE * 10 } } })).toEqual([
      expect.stringMatching(/properties\.n\.max: at most/),
    ]);
    expect(issues({ name: 'x', properties: { n: { type: 'long', min: 5, default: 1 } } })).toEqual([
      expect.stringMatching(/properties\.n\.default: outside/),
    ]);
    expect(issues({ name: 'x', properties: { e: { type: 'enum', values: ['a'], default: 'b' } } })).toEqual([
      expect.stringMatching(/properties\.e\.default: not one of/),
    ]);
    expect(issues({ name: 'x', properties: { d: { type: 'decimal', scale: 1, max: '1.25' } } })).toEqual([
      expect.stringMatching(/properties\.d\.max: at most 1 digit/),
    ]);
    expect(issues({ name: 'x', properties: { '9a': { type: 'string' } } }).length).toBe(1);
    expect(issues({ name: 'x', properties: { constructor: { type: 'string' }, toString: { type: 'long' } } })).toEqual([
      'properties.constructor: constructor is reserved; name the property otherwise',
      'properties.toString: toString is reserved; name the property otherwise',
    ]);
  });

  it('reads decimals exactly from text and JSON numbers, and writes Avro decimal bytes both ways', () => {
    expect(parseDecimal('12.5', 2)).toBe(1250);
    expect(parseDecimal(12.34, 2)).toBe(1234);
    expect(parseDecimal('-0.05', 2)).toBe(-5);
    expect(parseDecimal(1e-7, 7)).toBe(1);
    expect(parseDecimal('12.345', 2)).toMatch(/at most 2 digit/);
    expect(parseDecimal('1e3', 0)).toMatch(/expected a decimal/);
    expect(parseDecimal('99999999999999999999', 0)).toMatch(/out of range/);
    for (const n of [0, 1, -1, 127, 128, -128, -129, 255, 1250, -99_999, MAX_MAGNITUDE, -MAX_MAGNITUDE])
      expect(decimalValue(decimalBytes(n))).toBe(n);
    expect(decimalBytes(128)).toEqual(Buffer.from([0x00, 0x80]));
    expect(decimalBytes(-1)).toEqual(Buffer.from([0xff]));
    expect(decimalValue(Buffer.alloc(9, 1))).toBeNaN();
    expect(formatDecimal(-5, 2)).toBe('-0.05');
    expect(formatDecimal(1250, 2)).toBe('12.50');
  });

  it('is a valid Avro schema, the same text for the same declaration, with bounds in it', () => {
    const d = declare(featureUsed);
    const schema = avroSchemaOf(d);
    expect(JSON.stringify(schema)).toBe(JSON.stringify(avroSchemaOf(declare(featureUsed))));
    expect(() => canonicalSchema(JSON.stringify(schema))).not.toThrow();
    const tighter = declare({
      ...featureUsed,
      properties: { ...featureUsed.properties, seats: { type: 'long', min: 1, max: 500 } },
    });
    expect(canonicalSchema(JSON.stringify(avroSchemaOf(tighter))).canonical).not.toBe(
      canonicalSchema(JSON.stringify(schema)).canonical,
    );
  });

  it('converts a JSON event into typed Avro values that round-trip through its schema', () => {
    const plan = planOf(declare(featureUsed));
    const r = convertEvent(event({ plan: 'pro', seats: 3, price: '12.50' }), {
      plan,
      receivedAt: T + 1,
      origin: 'key:1',
    });
    if (!r.ok || r.kind !== 'custom') throw new Error(JSON.stringify(r));
    expect(r.schemaId).toBe(100);
    expect(r.record.properties).toEqual({ plan: 'pro', seats: 3, price: decimalBytes(1250), note: null, trial: false });
    const type = avroTypeOf(plan.latest('feature_used')!.record.declaration);
    const back = type.fromBuffer(type.toBuffer(r.record)) as CustomEvent;
    expect(back).toEqual(r.record);
  });

  it('names the event property of every problem: unknown, missing, wrong type, out of bounds', () => {
    const plan = planOf(declare(featureUsed));
    const r = convertEvent(event({ plan: 'gold', price: 1.234, seats: 0, extra: 1, note: 'x'.repeat(21) }), { plan });
    const paths = r.ok ? [] : r.errors.map((e) => `${e.path}: ${e.message}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^properties\.extra: not a property of feature_used/),
        expect.stringMatching(/^properties\.plan: expected one of free, pro, team, got "gold"/),
        expect.stringMatching(/^properties\.price: at most 2 digit/),
      ]),
    );
    const bounds = convertEvent(event({ plan: 'pro', price: '1', seats: 0, note: 'x'.repeat(21) }), { plan });
    expect(bounds.ok ? [] : bounds.errors.map((e) => e.path)).toEqual(['properties.seats', 'properties.note']);
    const missing = convertEvent(event({ plan: 'pro' }), { plan });
    expect(missing.ok ? [] : missing.errors).toEqual([
      { path: 'properties.seats', message: 'required' },
      { path: 'properties.price', message: 'required' },
    ]);
    expect(convertEvent(event({ plan: 'pro', seats: 1, price: 1 }, { origin: 'x' }), { plan }).ok).toBe(false);
    expect(convertEvent(event({ plan: 'pro', seats: 1, price: 1 }), {}).ok).toBe(false);
  });

  it('re-checks a decoded record by its version, as the processor does with records straight from Kafka', () => {
    const d = declare(featureUsed);
    const record: CustomEvent = {
      eventId: 'e',
      userId: 'u',
      occurredAt: T,
      receivedAt: null,
      origin: null,
      properties: { plan: 'pro', seats: 20_000, price: Buffer.alloc(12, 0x7f), note: null, trial: true },
    };
    expect(customEventErrors(record, d, DEFAULT_EVENT_LIMITS).map((e) => e.path)).toEqual([
      'properties.seats',
      'properties.price',
    ]);
    expect(
      customEventErrors(
        { ...record, userId: ' ', properties: { ...record.properties, seats: 2, price: decimalBytes(5) } },
        d,
        DEFAULT_EVENT_LIMITS,
      ).map((e) => e.path),
    ).toEqual(['userId']);
  });

  describe('evolution under FULL_TRANSITIVE (what the registry answers apply)', () => {
    const checker = new CompatibilityChecker();
    afterAll(() => checker.close());
    const v1 = declare(featureUsed);
    const text = (d: EventTypeDeclaration) => JSON.stringify(avroSchemaOf(d));
    const check = (d: EventTypeDeclaration) =>
      checker.check('FULL_TRANSITIVE', canonicalSchema(text(d)).canonical, [
        { version: 1, schema: canonicalSchema(text(v1)).canonical },
      ]);

    it('accepts an optional property, a default, a property dropped that had one', async () => {
      expect(
        await check(
          declare({
            ...featureUsed,
            properties: { ...featureUsed.properties, region: { type: 'string', optional: true } },
          }),
        ),
      ).toEqual([]);
      expect(
        await check(
          declare({ ...featureUsed, properties: { ...featureUsed.properties, level: { type: 'long', default: 1 } } }),
        ),
      ).toEqual([]);
      const { note: _, ...withoutNote } = featureUsed.properties;
      expect(await check(declare({ ...featureUsed, properties: withoutNote }))).toEqual([]);
    });

    it('refuses a required property removed or added, and a changed type', async () => {
      const { seats: _, ...withoutSeats } = featureUsed.properties;
      expect((await check(declare({ ...featureUsed, properties: withoutSeats }))).length).toBeGreaterThan(0);
      expect(
        (
          await check(
            declare({ ...featureUsed, properties: { ...featureUsed.properties, region: { type: 'string' } } }),
          )
        ).length,
      ).toBeGreaterThan(0);
      expect(
        (await check(declare({ ...featureUsed, properties: { ...featureUsed.properties, seats: { type: 'string' } } })))
          .length,
      ).toBeGreaterThan(0);
    });
  });

  it('lets a rollup read a declared type, pinning the type, scale and default of what it reads', () => {
    // Events of version 1 (plan only) and of version 2 (plan, seats, price) in one partition.
    const v2 = declare({
      name: 'feature_used',
      properties: {
        plan: { type: 'enum', values: ['free', 'pro'] },
        seats: { type: 'long', default: 1 },
        price: { type: 'decimal', scale: 2, default: '0.50' },
      },
    });
    const checked = checkDeclaration(
      {
        name: 'seats_by_plan',
        source: 'feature_used',
        dimensions: ['properties.plan'],
        measures: ['count', 'sum(properties.seats) as seats', 'sum(properties.price) as revenue'],
        window: '1h',
      },
      false,
      () => v2,
    );
    if (!checked.ok) throw new Error(JSON.stringify(checked.issues));
    expect(checked.declaration.properties).toEqual({
      plan: { type: 'enum', default: null },
      price: { type: 'decimal', default: 50, scale: 2 },
      seats: { type: 'long', default: 1 },
    });
    expect(checked.declaration.measures.find((m) => m.column === 'revenue')?.scale).toBe(2);
    const bad = checkDeclaration(
      {
        name: 'x',
        source: 'feature_used',
        types: ['a'],
        dimensions: ['properties.nope'],
        measures: ['sum(properties.plan)'],
        window: '1h',
      },
      false,
      () => v2,
    );
    expect(bad.ok ? [] : bad.issues.map((i) => i.path.join('.'))).toEqual(['types', 'dimensions.0', 'measures.0']);
    expect(
      checkDeclaration(
        { name: 'x', source: 'nothing_declared', measures: ['count'], window: '1h' },
        false,
        () => undefined,
      ).ok,
    ).toBe(false);
  });
});
