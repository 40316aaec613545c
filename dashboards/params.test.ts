import { checkDeclaration } from '../schemas/declarations/format';
import { declaredParams, ParameterError } from './params';

const c = checkDeclaration({
  name: 'r',
  source: 'users',
  dimensions: ['country', 'properties.plan'],
  measures: ['count', 'distinct(userId)'],
  window: '1h',
});
if (!c.ok) throw new Error('valid');
const d = c.declaration;
const refused = (query: Record<string, unknown>) => {
  try {
    declaredParams(query, d);
  } catch (err) {
    return err instanceof ParameterError ? err.parameter : 'other';
  }
  return undefined;
};

describe('declaredParams', () => {
  it('takes dimensions by field or column, filters by dimension, intervals from the window up', () => {
    const p = declaredParams(
      {
        groupBy: 'properties.plan,country',
        filter: ['country:DE|FR', 'properties_plan:pro'],
        measure: 'distinct_user_id',
      },
      d,
    );
    expect([p.groupBy, p.filter, p.measure.column, p.interval]).toEqual([
      ['properties_plan', 'country'],
      { country: ['DE', 'FR'], properties_plan: ['pro'] },
      'distinct_user_id',
      '1h',
    ]);
  });

  it('names the parameter at fault', () => {
    expect(refused({ interval: '5m' })).toBe('interval');
    expect(refused({ groupBy: 'device' })).toBe('groupBy');
    expect(refused({ filter: 'nocolon' })).toBe('filter');
    expect(refused({ measure: 'sum' })).toBe('measure');
    expect(refused({ from: 'yesterday' })).toBe('from');
    expect(refused({ interval: '1h', from: '2026-01-01T00:00:00Z', to: '2026-12-01T00:00:00Z' })).toBe('interval');
    expect(refused({})).toBeUndefined();
  });
});
