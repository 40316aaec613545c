import { Counter, Gauge, Histogram, Summary, type Registry } from 'prom-client';

export interface SinkMetrics {
  rows: Counter;
  batchRows: Histogram;
  insertSeconds: Histogram;
  retries: Counter;
  freshness: Summary;
  deadLetters: Counter<'reason'>;
  stalled: Gauge;
}

export function sinkMetrics(registry: Registry): SinkMetrics {
  return {
    rows: new Counter({
      name: 'tributary_sink_rows_total',
      help: 'Rollup rows inserted into ClickHouse',
      registers: [registry],
    }),
    batchRows: new Histogram({
      name: 'tributary_sink_batch_rows',
      help: 'Rows per insert batch',
      buckets: [1, 10, 100, 1000, 5000, 20000, 100000],
      registers: [registry],
    }),
    insertSeconds: new Histogram({
      name: 'tributary_sink_insert_seconds',
      help: 'Insert latency, retries included',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'tributary_sink_insert_retries_total',
      help: 'Insert attempts that failed and were retried',
      registers: [registry],
    }),
    freshness: new Summary({
      name: 'tributary_sink_freshness_seconds',
      help: 'From an event being received to its rollup row being inserted (queryable), over row versions that advanced, in the last 10 minutes',
      percentiles: [0.5, 0.9, 0.99],
      maxAgeSeconds: 600,
      ageBuckets: 5,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'tributary_sink_dead_letters_total',
      help: 'Rollup records sent to events.dlq (undecodable, or rows ClickHouse refused), by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    stalled: new Gauge({
      name: 'tributary_sink_stalled',
      help: '1 while inserts have failed for over 30 s (the sink cannot make progress)',
      registers: [registry],
    }),
  };
}
