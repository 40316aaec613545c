import avro from 'avsc';
import { canonicalSchema, compatibilityErrors } from './avro';

const t = (fields: unknown[]) => avro.Type.forSchema({ type: 'record', name: 'R', fields } as avro.Schema);
const v1 = t([{ name: 'a', type: 'string' }]);
const withDefault = t([
  { name: 'a', type: 'string' },
  { name: 'b', type: 'int', default: 0 },
]);
const withoutDefault = t([
  { name: 'a', type: 'string' },
  { name: 'b', type: 'int' },
]);

describe('compatibilityErrors', () => {
  it.each([
    ['BACKWARD', withDefault, 0],
    ['BACKWARD', withoutDefault, 1],
    ['FORWARD', withoutDefault, 0],
    ['FULL', withDefault, 0],
    ['FULL', withoutDefault, 1],
    ['NONE', withoutDefault, 0],
  ] as const)('%s: adding a field (%#) gives the expected number of errors', (level, candidate, n) => {
    expect(compatibilityErrors(level, candidate, [{ version: 1, type: v1 }])).toHaveLength(n);
  });

  it('checks only the latest version unless transitive', () => {
    const existing = [
      { version: 1, type: v1 },
      { version: 2, type: withoutDefault },
    ];
    const dropsA = t([{ name: 'b', type: 'int' }]);
    expect(compatibilityErrors('BACKWARD', dropsA, existing)).toEqual([]);
    expect(compatibilityErrors('BACKWARD_TRANSITIVE', dropsA, existing)).toEqual([
      expect.stringMatching(/version 1 \(BACKWARD\)/),
    ]);
  });
});

describe('canonicalSchema', () => {
  it('ignores whitespace and key order but keeps docs, defaults and logical types', () => {
    const a = canonicalSchema(
      '{"type":"record","name":"R","fields":[{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}]}',
    );
    const b = canonicalSchema(
      '{ "fields": [ { "type": { "logicalType": "timestamp-millis", "type": "long" }, "name": "t" } ], "name": "R", "type": "record" }',
    );
    expect(a.canonical).toBe(b.canonical);
    expect(a.canonical).toContain('timestamp-millis');
    const documented = canonicalSchema(
      '{"type":"record","name":"R","doc":"x","fields":[{"name":"t","type":{"type":"long","logicalType":"timestamp-millis"}}]}',
    );
    expect(documented.canonical).not.toBe(a.canonical);
  });
});
