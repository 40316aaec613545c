import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Random } from '../producers/demo/random';
import { createKafka } from '../platform/kafka/client';
import { silentLogger } from '../platform/logger';
import { killAndWait, runTributary, spawnStart, type StartedPipeline } from './pipeline';
import { sorted, testConfig, waitFor } from './helpers';
import type { DeclaredTotals, Totals } from '../producers/demo/ground-truth';
import { readTopics } from './kafka';
import { confluentPython } from './python';
import { fetchChecked } from './openapi';

/** The event type and the rollup over it of docs/events.md, as printed there (its first two YAML blocks). */
const [V1, SEATS] = [
  ...readFileSync(path.join(__dirname, '..', 'docs', 'events.md'), 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g),
].map((m) => m[1]!) as [string, string];
/** v2: a property with a default, which events written before it count under. */
const V2 = `${V1}  units: { type: long, min: 0, max: 100, default: 1 }\n`;
/** A breaking change: a required property removed (readers of v1 and v2 need it). */
const BREAKING = V2.replace(/ {2}seats:.*\n/, '');

const UNITS = `name: units_by_plan
source: feature_used
dimensions: [properties.plan]
measures: [sum(properties.units) as units, max(properties.amount) as largest]
window: 1d
`;

const HOUR = 3_600_000;
interface Sent {
  plan: string;
  seats: number;
  cents: number;
  units: number;
}
interface Wire {
  type: string;
  eventId: string;
  userId: string;
  occurredAt: number;
  properties: Record<string, unknown>;
}

/**
 * Declared event types end to end on `tributary start`: applied, sent over HTTP and produced
 * straight to Kafka by Confluent's own Python client with the registered schema, evolved with a
 * compatible change mid-stream (a breaking one refused with the registry's 409), and counted by
 * declared rollups (one over a property added later, backfilled under its default) exactly as
 * the ledger of what was acknowledged says.
 */
describe('declared event types', () => {
  const starts: StartedPipeline[] = [];
  afterAll(async () => {
    for (const s of starts) await killAndWait(s.child, 'SIGTERM');
  });

  it('apply, HTTP and Confluent producers, a compatible change mid-stream, a breaking one refused: rollups equal the ledger', async () => {
    const started = await spawnStart([], 'ev-key', undefined, { SEGMENT_SIZE: '100' });
    starts.push(started);
    const { ingest, dashboard, env } = started;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'events-'));
    const file = path.join(dir, 'feature_used.yaml');
    const subject = `${env.TOPIC_CUSTOM}-dev.tributary.custom.feature_used`;
    const registry = `http://localhost:${env.REGISTRY_PORT}`;
    const ledger = new Map<string, Sent>();
    const random = new Random(34);
    let n = 0;
    const now = Date.now();
    const event = (v2: boolean): Wire => {
      const cents = random.int(0, 500_000);
      const properties: Record<string, unknown> = {
        plan: random.pick(['free', 'pro', 'team']),
        seats: random.int(1, 1000),
        amount: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`,
      };
      if (random.chance(0.3)) properties.note = `note ${n}`;
      if (v2 && random.chance(0.7)) properties.units = random.int(0, 100);
      return {
        type: 'feature_used',
        eventId: `fu-${n++}`,
        userId: `u${random.int(1, 40)}`,
        occurredAt: now - random.int(0, 3 * HOUR),
        properties,
      };
    };
    const remember = (e: Wire) => {
      const p = e.properties;
      const [whole, fraction] = String(p.amount).split('.') as [string, string];
      ledger.set(e.eventId, {
        plan: p.plan as string,
        seats: p.seats as number,
        cents: Number(whole) * 100 + Number(fraction),
        units: (p.units as number | undefined) ?? 1,
      });
    };
    const post = (events: unknown[]) =>
      fetch(`${ingest}/v1/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer ev-key' },
        body: JSON.stringify({ events }),
      });
    const produce = async (events: Wire[]) => {
      const lines = path.join(dir, `records-${n}.jsonl`);
      writeFileSync(lines, events.map(({ type: _, ...e }) => JSON.stringify(e)).join('\n'));
      return JSON.parse(
        await confluentPython(['produce', registry, env.KAFKA_BROKERS!, env.TOPIC_CUSTOM!, subject, lines]),
      ) as { count: number; ids: number[] };
    };
    const tributary = (...args: string[]) => runTributary(args, env);

    // Before the apply: an unknown type, refused with the event's index and field.
    const early = await post([event(false)]);
    expect(early.status).toBe(400);
    expect(((await early.json()) as { errors: unknown[] }).errors).toEqual([
      expect.objectContaining({ index: 0, path: 'type' }),
    ]);

    writeFileSync(file, V1);
    const diff1 = await tributary('events', 'diff', file);
    expect(diff1.stdout).toMatch(/feature_used\s+1\s+new/);
    expect(diff1.stdout).toContain('+ seats: long required 1..1000');
    const v1 = await tributary('events', 'apply', file);
    expect(v1.stderr).toBe('');
    expect(v1.stdout).toMatch(/feature_used\s+1\s+new/);
    writeFileSync(path.join(dir, 'seats.yaml'), SEATS);
    const rollup = await tributary('rollups', 'apply', path.join(dir, 'seats.yaml'));
    expect(rollup.stderr).toBe('');

    // Over HTTP: usable at once after the apply.
    let receipt: { partition: number; offset: number } | undefined;
    for (let b = 0; b < 4; b++) {
      const batch = Array.from({ length: 50 }, () => event(false));
      const res = await post(batch);
      expect(res.status).toBe(202);
      receipt ??= ((await res.json()) as { receipts: Array<{ topic: string; partition: number; offset: number }> })
        .receipts[0];
      batch.forEach(remember);
    }
    // A batch with bad events: 400 naming each event's index and property, nothing of it produced.
    const bad = [
      event(false),
      { ...event(false), properties: { plan: 'pro', seats: 0, amount: '1.00' } },
      event(false),
      { ...event(false), properties: { plan: 'gold', seats: 1, amount: '1.005', colour: 'red' } },
    ];
    const refused = await post(bad);
    expect(refused.status).toBe(400);
    const errors = ((await refused.json()) as { errors: Array<{ index: number; path: string }> }).errors.map(
      (e) => `${e.index} ${e.path}`,
    );
    expect(errors.sort()).toEqual([
      '1 properties.seats',
      '3 properties.amount',
      '3 properties.colour',
      '3 properties.plan',
    ]);

    // Straight to Kafka with Confluent's client and the registered schema (nothing registered by it).
    const direct = Array.from({ length: 120 }, () => event(false));
    const producedV1 = await produce(direct);
    expect(producedV1.count).toBe(120);
    direct.forEach(remember);
    // One record the schema takes but the plan's bounds refuse: dead-lettered, naming the property.
    await produce([{ ...event(false), properties: { plan: 'pro', seats: 5000, amount: '1.00' } }]);

    // A compatible change: diff shows it, apply takes it, and it is usable at once.
    writeFileSync(file, V2);
    const diff2 = await tributary('events', 'diff', file);
    expect(diff2.stdout).toContain('+ units: long default 1 0..100');
    expect(diff2.stdout).toContain('apply would accept');
    const v2 = await tributary('events', 'apply', file);
    expect(v2.stderr).toBe('');
    expect(v2.stdout).toMatch(/feature_used\s+2\s+changed/);
    for (let b = 0; b < 3; b++) {
      const batch = Array.from({ length: 50 }, () => event(true));
      expect((await post(batch)).status).toBe(202);
      batch.forEach(remember);
    }
    const directV2 = Array.from({ length: 80 }, () => event(true));
    const producedV2 = await produce(directV2);
    directV2.forEach(remember);
    expect(producedV2.ids).toHaveLength(1);
    expect(producedV2.ids[0]).not.toBe(producedV1.ids[0]);

    // A breaking change: refused with the registry's 409 and reason, nothing registered or recorded.
    writeFileSync(file, BREAKING);
    const breaking = await tributary('events', 'apply', file);
    expect(breaking.code).toBe(1);
    expect(breaking.stderr).toMatch(/409/);
    expect(breaking.stderr).toMatch(/refused by the registry: .*seats/);
    expect(breaking.stderr).toContain('nothing applied');
    expect(await (await fetch(`${registry}/subjects/${subject}/versions`)).json()).toEqual([1, 2]);
    expect((await tributary('events', 'list')).stdout).toMatch(/feature_used\s+2\s/);

    // A rollup over the property added in v2: its backfill counts v1 events under the default.
    writeFileSync(path.join(dir, 'units.yaml'), UNITS);
    expect((await tributary('rollups', 'apply', path.join(dir, 'units.yaml'))).stderr).toBe('');

    const want = {
      seats: new Map<string, { count: number; seats: number; cents: number }>(),
      units: new Map<string, { units: number; largest: number }>(),
    };
    for (const s of ledger.values()) {
      const a = want.seats.get(s.plan) ?? { count: 0, seats: 0, cents: 0 };
      want.seats.set(s.plan, { count: a.count + 1, seats: a.seats + s.seats, cents: a.cents + s.cents });
      const u = want.units.get(s.plan) ?? { units: 0, largest: 0 };
      want.units.set(s.plan, { units: u.units + s.units, largest: Math.max(u.largest, s.cents) });
    }
    const range = `from=${new Date(now - 2 * 86_400_000).toISOString()}&to=${new Date(now + 86_400_000).toISOString()}`;
    const measure = async (name: string, m: string) => {
      const a = (
        await fetchChecked(
          `${dashboard}/api/rollups/${name}?${range}&groupBy=properties.plan&interval=1d&measure=${m}`,
          '/api/rollups/{name}',
        )
      ).body as { version: number | null; points: Array<{ group: string; value: number }> };
      const by = new Map<string, number>();
      for (const p of a.points)
        by.set(p.group, m === 'largest' ? Math.max(by.get(p.group) ?? 0, p.value) : (by.get(p.group) ?? 0) + p.value);
      return by;
    };
    const got = async () => {
      const [count, seats, amount, units, largest] = await Promise.all([
        measure('seats_by_plan', 'count'),
        measure('seats_by_plan', 'seats'),
        measure('seats_by_plan', 'amount'),
        measure('units_by_plan', 'units'),
        measure('units_by_plan', 'largest'),
      ]);
      const plans = [...new Set([...count.keys(), ...units.keys()])].sort();
      return {
        seats: plans.map((p) => [
          p,
          { count: count.get(p) ?? 0, seats: seats.get(p) ?? 0, cents: Math.round((amount.get(p) ?? 0) * 100) },
        ]),
        units: plans.map((p) => [p, { units: units.get(p) ?? 0, largest: Math.round((largest.get(p) ?? 0) * 100) }]),
      };
    };
    const expected = { seats: [...want.seats].sort(), units: [...want.units].sort() };
    await waitFor(
      async () => (JSON.stringify(await got()) === JSON.stringify(expected) ? true : undefined),
      'the declared rollups to equal the ledger',
      180_000,
      500,
    ).catch(() => undefined);
    expect(await got()).toEqual(expected);
    // The list of rollups, with declarations over a declared type, as the OpenAPI document says.
    const listed = (await fetchChecked(`${dashboard}/api/rollups`, '/api/rollups')).body as {
      rollups: Array<{ name: string; declaration?: { source: string } }>;
    };
    expect(listed.rollups.find((r) => r.name === 'units_by_plan')?.declaration?.source).toBe('feature_used');

    // The out-of-bounds record went to the dead letters, naming its property.
    const letters = await tributary('dlq', 'list', '--reason', 'invalid_event');
    expect(letters.stdout).toMatch(/feature_used: properties\.seats: out of bounds/);

    // And Confluent's deserializer reads what ingest produced.
    const kafka = createKafka({
      config: testConfig({ KAFKA_BROKERS: env.KAFKA_BROKERS! }).kafka,
      logger: silentLogger,
      clientId: 'events-test',
    });
    const records = await readTopics(kafka, [env.TOPIC_CUSTOM!]);
    const fromIngest = records.find((r) => r.partition === receipt!.partition && r.offset === receipt!.offset)!;
    const decoded = JSON.parse(await confluentPython(['deserialize', registry, fromIngest.value.toString('hex')])) as {
      eventId: string;
      properties: { plan: string; seats: number };
    };
    expect(ledger.get(decoded.eventId)?.plan).toBe(decoded.properties.plan);
    await killAndWait(started.child, 'SIGTERM');
  }, 420_000);

  it("the demo with the example types at a steady rate, a compatible change and a rollup over it mid-stream: every figure equals the demo's ledger", async () => {
    const demo = await spawnStart(['--demo', '--rate', '300'], 'demo-key', undefined, { SEGMENT_SIZE: '500' });
    starts.push(demo);
    const { env } = demo;
    let dashboard = demo.dashboard;
    const range = `from=${new Date(Date.now() - 4 * HOUR).toISOString()}&to=${new Date(Date.now() + HOUR).toISOString()}`;
    const byPlan = async (name: string, measure: string) => {
      const res = await fetch(
        `${dashboard}/api/rollups/${name}?${range}&groupBy=properties.plan&interval=1d&measure=${measure}`,
      );
      if (res.status !== 200) return {};
      const out: Record<string, number> = {};
      for (const p of ((await res.json()) as { points: Array<{ group: string; value: number }> }).points)
        out[p.group] = (out[p.group] ?? 0) + p.value;
      return out;
    };
    const total = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    await waitFor(
      async () => (total(await byPlan('invoices_by_plan', 'count')) >= 30 ? true : undefined),
      'invoices from the demo',
      120_000,
      500,
    );

    // Mid-stream: invoice_paid gains a discount (a default: a compatible change), and a rollup over it.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'events-demo-'));
    const examples = path.join(__dirname, '..', 'events', 'examples');
    writeFileSync(
      path.join(dir, 'invoice_paid.yaml'),
      `${readFileSync(path.join(examples, 'invoice_paid.yaml'), 'utf8')}  discount: { type: decimal, scale: 2, min: "0", max: "1000", default: "0.00" }\n`,
    );
    writeFileSync(
      path.join(dir, 'subscription_started.yaml'),
      readFileSync(path.join(examples, 'subscription_started.yaml'), 'utf8'),
    );
    const applied = await runTributary(['events', 'apply', dir], env);
    expect(applied.stderr).toBe('');
    expect(applied.stdout).toMatch(/invoice_paid\s+2\s+changed/);
    expect(applied.stdout).toMatch(/subscription_started\s+1\s+unchanged/);
    const rollupFile = path.join(dir, 'discounts.yml');
    writeFileSync(
      rollupFile,
      'name: discounts_by_plan\nsource: invoice_paid\ndimensions: [properties.plan]\nmeasures: [count, sum(properties.discount) as discount]\nwindow: 1d\n',
    );
    expect((await runTributary(['rollups', 'apply', rollupFile], env)).stderr).toBe('');
    // The demo follows the plan: discounts arrive once it has them.
    await waitFor(
      async () => (total(await byPlan('discounts_by_plan', 'discount')) > 0 ? true : undefined),
      'discounts from the demo',
      120_000,
      500,
    );

    // Stopping writes the ledger of every acknowledged event; a second start (no demo) serves the figures.
    await killAndWait(demo.child, 'SIGTERM');
    const again = await spawnStart([], 'demo-key', demo);
    starts.push(again);
    dashboard = again.dashboard;
    const ledger = JSON.parse(readFileSync(path.join(env.DATA_DIR!, 'demo-ledger.json'), 'utf8')) as {
      events: number;
      totals: Totals;
      declared: DeclaredTotals;
    };
    const plans = (o: Record<string, unknown>) => Object.keys(o).sort();
    const want = {
      totals: {
        orders: ledger.totals.orders,
        userEvents: ledger.totals.userEvents,
        activeUsers: ledger.totals.activeUsers,
      },
      invoices: plans(ledger.declared.invoices).map((p) => [p, ledger.declared.invoices[p]]),
      subscriptions: plans(ledger.declared.subscriptions).map((p) => [p, ledger.declared.subscriptions[p]]),
    };
    const got = async () => {
      const totals = (await (await fetch(`${dashboard}/api/totals?${range}`)).json()) as Totals;
      const [count, amount, discount, subs, seats] = await Promise.all([
        byPlan('invoices_by_plan', 'count'),
        byPlan('invoices_by_plan', 'amount'),
        byPlan('discounts_by_plan', 'discount'),
        byPlan('seats_by_plan', 'count'),
        byPlan('seats_by_plan', 'seats'),
      ]);
      return {
        totals: { orders: totals.orders, userEvents: totals.userEvents, activeUsers: totals.activeUsers },
        invoices: plans(count).map((p) => [
          p,
          {
            count: count[p],
            amountCents: Math.round((amount[p] ?? 0) * 100),
            discountCents: Math.round((discount[p] ?? 0) * 100),
          },
        ]),
        subscriptions: plans(subs).map((p) => [p, { count: subs[p], seats: seats[p] ?? 0 }]),
      };
    };
    const same = async () => JSON.stringify(sorted(await got())) === JSON.stringify(sorted(want));
    await waitFor(
      async () => ((await same()) ? true : undefined),
      'the figures to equal the ledger',
      180_000,
      1000,
    ).catch(() => undefined);
    expect(sorted(await got())).toEqual(sorted(want));
    expect(ledger.events).toBeGreaterThan(1000);
    expect(
      total(Object.fromEntries(Object.entries(ledger.declared.invoices).map(([p, v]) => [p, v.discountCents]))),
    ).toBeGreaterThan(0);
  }, 600_000);
});
