import { Counter, Gauge, type Registry } from 'prom-client';

export interface ProcessorMetrics {
  records: Counter<'topic'>;
  rowsEmitted: Counter;
  deadLetters: Counter<'reason'>;
  segmentRestarts: Counter<'topic'>;
  lag: Gauge<'topic' | 'partition'>;
  flushFailures: Counter;
  emitRetries: Counter;
  isolated: Counter<'reason'>;
  folded: Counter<'dimension'>;
  stalled: Gauge;
  openRows: Gauge;
}

export function processorMetrics(registry: Registry): ProcessorMetrics {
  return {
    records: new Counter({
      name: 'tributary_process_records_total',
      help: 'Input records processed',
      labelNames: ['topic'],
      registers: [registry],
    }),
    rowsEmitted: new Counter({
      name: 'tributary_process_rows_emitted_total',
      help: 'Rollup rows and dead letters produced',
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'tributary_process_dead_letters_total',
      help: 'Records sent to events.dlq, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    segmentRestarts: new Counter({
      name: 'tributary_process_segment_restarts_total',
      help: 'Partitions resumed from their committed segment start (start, rebalance, replay)',
      labelNames: ['topic'],
      registers: [registry],
    }),
    lag: new Gauge({
      name: 'tributary_process_lag_records',
      help: 'High watermark minus the next offset to process',
      labelNames: ['topic', 'partition'],
      registers: [registry],
    }),
    flushFailures: new Counter({
      name: 'tributary_process_flush_failures_total',
      help: 'Flushes that did not finish (their rows stayed dirty and were retried)',
      registers: [registry],
    }),
    emitRetries: new Counter({
      name: 'tributary_process_emit_retries_total',
      help: 'Sends to Kafka retried after an infrastructure failure',
      registers: [registry],
    }),
    isolated: new Counter({
      name: 'tributary_process_isolated_total',
      help: 'Rows or dead letters the broker refused or that could not be encoded, replaced by a small dead letter (reason dropped: not even that could be sent)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    folded: new Counter({
      name: 'tributary_process_folded_total',
      help: "Events whose value of a dimension was past its bound per window (the declaration's bound) and counted under __other__, by rollup.field (a recomputation counts again)",
      labelNames: ['dimension'],
      registers: [registry],
    }),
    stalled: new Gauge({
      name: 'tributary_process_stalled',
      help: '1 while flushes have failed for over 30 s (the processor cannot make progress)',
      registers: [registry],
    }),
    openRows: new Gauge({
      name: 'tributary_process_open_rows',
      help: 'Rollup rows held in memory: open chunks plus rows waiting to be emitted',
      registers: [registry],
    }),
  };
}
