import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkDeclaration, declarationFingerprint, declarationJsonSchema } from './format';
import { loadDeclarations, loadEventTypes, parseDeclarationText } from './files';

const revenue = `# revenue by country and category per hour
name: revenue_by_country_category
source: order_lines
types: [order_placed]
dimensions: [country, category]
measures:
  - count
  - sum(revenueCents) as revenue
  - distinct(userId)
window: 1h
`;

describe('rollup declarations', () => {
  it('normalize: default bounds, column names, sorted types', () => {
    const r = parseDeclarationText(revenue, 'r.yaml');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const d = r.declarations[0]!.declaration;
    expect(d.dimensions).toEqual([
      { field: 'country', column: 'country', bound: 300 },
      { field: 'category', column: 'category', bound: 1000 },
    ]);
    expect(d.measures.map((m) => m.column)).toEqual(['count', 'revenue', 'distinct_user_id']);
    expect(r.declarations[0]!.line).toBe(2);
  });

  it('name the file, the line and the field of each problem', () => {
    const bad = revenue
      .replace('[country, category]', '[country, amountCents, colour]')
      .replace('sum(revenueCents)', 'sum(sku)');
    const r = parseDeclarationText(bad, 'bad.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([
      'bad.yaml:5: dimensions.1: amountCents is a number: a dimension is a text field',
      expect.stringMatching(
        /^bad\.yaml:5: dimensions\.2: unknown field "colour" for source order_lines; known: type, /,
      ),
      'bad.yaml:8: measures.1: sum(sku): sku is not a number',
    ]);
  });

  it('refuse a bound over the maximum, an unknown key and a bad measure, with their lines', () => {
    const text =
      'name: x\nsource: users\ndimensions:\n  - field: device\n    bound: 1000000\nmeasures: [avg(amount)]\nwindow: 1h\ncolour: red\n';
    const r = parseDeclarationText(text, 'x.yaml');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toContain('x.yaml:5: dimensions.0.bound: Too big: expected number to be <=100000');
    expect(r.problems.some((p) => p.startsWith('x.yaml:6: measures.0: '))).toBe(true);
    expect(
      r.problems.some((p) => p.startsWith('x.yaml:1: declaration: Unrecognized key: "colour"') || p.includes('colour')),
    ).toBe(true);
  });

  it('refuse two declarations with one name across files, naming both places', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'decl-'));
    writeFileSync(path.join(dir, 'a.yaml'), revenue);
    writeFileSync(
      path.join(dir, 'b.json'),
      JSON.stringify(
        { name: 'revenue_by_country_category', source: 'orders', measures: ['count'], window: '1d' },
        null,
        2,
      ),
    );
    const r = loadDeclarations(dir);
    expect(r).toEqual({
      ok: false,
      problems: [
        `${path.join(dir, 'b.json')}:1: name: revenue_by_country_category is declared twice (also at ${path.join(dir, 'a.yaml')}:2)`,
      ],
    });
  });

  it('read properties as dimensions of user events only', () => {
    const users = checkDeclaration({
      name: 'plans',
      source: 'users',
      types: ['signup'],
      dimensions: ['properties.plan'],
      measures: ['distinct(userId)'],
      window: '1d',
    });
    expect(users.ok).toBe(true);
    const orders = checkDeclaration({
      name: 'plans',
      source: 'orders',
      dimensions: ['properties.plan'],
      measures: ['count'],
      window: '1d',
    });
    expect(orders.ok).toBe(false);
  });

  it('fingerprint the meaning, not the description', () => {
    const a = checkDeclaration({ name: 'a', source: 'users', measures: ['count'], window: '1m', description: 'one' });
    const b = checkDeclaration({ name: 'a', source: 'users', measures: ['count'], window: '1m', description: 'two' });
    const c = checkDeclaration({ name: 'a', source: 'users', measures: ['count'], window: '1h' });
    if (!a.ok || !b.ok || !c.ok) throw new Error('valid');
    expect(declarationFingerprint(a.declaration)).toBe(declarationFingerprint(b.declaration));
    expect(declarationFingerprint(a.declaration)).not.toBe(declarationFingerprint(c.declaration));
  });

  it('publish a JSON Schema that knows the fields', () => {
    const schema = declarationJsonSchema() as {
      $defs: { rollup: { properties: Record<string, unknown>; required: string[] } };
    };
    expect(Object.keys(schema.$defs.rollup.properties)).toEqual([
      'name',
      'description',
      'source',
      'types',
      'filter',
      'dimensions',
      'measures',
      'window',
    ]);
    expect(schema.$defs.rollup.required).toEqual(['name', 'source', 'measures', 'window']);
  });
});

describe('docs/rollups.schema.json', () => {
  it('is the schema the declarations are checked with (regenerate: npm run rollups:schema)', () => {
    const published = JSON.parse(
      readFileSync(path.join(__dirname, '../../docs/rollups.schema.json'), 'utf8'),
    ) as unknown;
    expect(published).toEqual(declarationJsonSchema());
  });
});

describe('rollups/examples', () => {
  it('are valid declarations (`npm run demo` applies them)', () => {
    // Two read the example event types (events/examples), applied before them.
    const events = loadEventTypes(path.join(__dirname, '../../events/examples'));
    expect(events.ok && events.types.map((t) => t.name)).toEqual(['invoice_paid', 'subscription_started']);
    const types = new Map(events.ok ? events.types.map((t) => [t.name, t]) : []);
    const r = loadDeclarations(path.join(__dirname, '../../rollups/examples'), new Set(), (name) => types.get(name));
    expect(r.ok && r.declarations.map((d) => d.name)).toEqual([
      'invoices_by_plan',
      'revenue_by_country_category',
      'seats_by_plan',
      'signups_by_plan',
    ]);
  });
});
