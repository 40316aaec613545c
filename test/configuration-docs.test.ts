import { readFileSync } from 'node:fs';
import path from 'node:path';
import { envSchema } from '../cli/config';

/**
 * docs/configuration.md against the settings the code reads (envSchema): every variable
 * documented, nothing documented that does not exist, and each default the page states the one
 * the code applies.
 */
describe('docs/configuration.md', () => {
  const page = readFileSync(path.resolve(__dirname, '..', 'docs', 'configuration.md'), 'utf8');
  const rows = [...page.matchAll(/^\| (`[A-Z0-9_]+`(?:, `[A-Z0-9_]+`)*) \| ([^|]*) \|/gm)].map((m) => ({
    names: [...m[1]!.matchAll(/`([A-Z0-9_]+)`/g)].map((n) => n[1]!),
    defaults: m[2]!.trim(),
  }));
  const documented = rows.flatMap((r) => r.names);
  const variables = Object.keys(envSchema.shape);
  // Read outside envSchema: the local broker's JVM heap (platform/local/kafka.ts).
  const elsewhere = ['KAFKA_HEAP_OPTS'];

  it('documents every variable the code reads, and only those', () => {
    expect(variables.filter((v) => !documented.includes(v))).toEqual([]);
    expect(documented.filter((v) => !variables.includes(v) && !elsewhere.includes(v))).toEqual([]);
  });

  it("states each default the code applies (the row's defaults in order, as written or in MiB or days)", () => {
    const defaults = envSchema.parse({}) as Record<string, unknown>;
    const forms = (v: unknown): string[] => {
      const out = [String(v)];
      if (v === '') out.push('empty');
      if (typeof v === 'number' && v > 0 && v % (1024 * 1024) === 0) out.push(`${v / (1024 * 1024)} MiB`);
      if (typeof v === 'number' && v > 0 && v % 86_400_000 === 0) out.push(`${v / 86_400_000}d`);
      return out;
    };
    const wrong: string[] = [];
    for (const { names, defaults: cell } of rows) {
      const values = cell.split(/,\s+/).map((c) => c.replace(/`/g, '').trim());
      names.forEach((name, i) => {
        const value = defaults[name];
        if (value === undefined || typeof value === 'object') return; // no default, or a parsed structure
        const stated = values[names.length === values.length ? i : 0] ?? '';
        if (!forms(value).some((f) => stated === f || stated.startsWith(`${f} `)))
          wrong.push(`${name}: the page says ${JSON.stringify(cell)}, the code ${JSON.stringify(value)}`);
      });
    }
    expect(wrong).toEqual([]);
  });
});
