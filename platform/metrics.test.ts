import { Counter } from 'prom-client';
import { createMetrics, metricValue } from './metrics';

describe('metricValue', () => {
  it('reads a sample back from what /metrics serves, labelled or not, and nothing for a name that is not there', async () => {
    const registry = createMetrics('sink');
    new Counter({ name: 'tributary_test_rows_total', help: 'rows', registers: [registry] }).inc(1_234_567);
    const text = await registry.metrics();
    expect(metricValue(text, 'tributary_test_rows_total')).toBe(1_234_567); // served as tributary_test_rows_total{stage="sink"} 1234567
    expect(metricValue('plain_gauge 2.5\n', 'plain_gauge')).toBe(2.5);
    expect(metricValue(text, 'tributary_test_rows')).toBeUndefined(); // a prefix of a name is not the name
  });
});
