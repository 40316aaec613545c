import { Counter, Gauge, type Registry } from 'prom-client';

export interface ProcessorMetrics {
  records: Counter<'topic'>;
  rowsEmitted: Counter;
  deadLetters: Counter<'reason'>;
  segmentRestarts: Counter<'topic'>;
  lag: Gauge<'topic' | 'partition'>;
}

export function processorMetrics(registry: Registry): ProcessorMetrics {
  return {
    records: new Counter({ name: 'tributary_process_records_total', help: 'Input records processed', labelNames: ['topic'], registers: [registry] }),
    rowsEmitted: new Counter({ name: 'tributary_process_rows_emitted_total', help: 'Rollup rows and dead letters produced', registers: [registry] }),
    deadLetters: new Counter({ name: 'tributary_process_dead_letters_total', help: 'Records sent to events.dlq, by reason', labelNames: ['reason'], registers: [registry] }),
    segmentRestarts: new Counter({ name: 'tributary_process_segment_restarts_total', help: 'Partitions resumed from their committed segment start (start, rebalance, replay)', labelNames: ['topic'], registers: [registry] }),
    lag: new Gauge({ name: 'tributary_process_lag_records', help: 'High watermark minus the next offset to process', labelNames: ['topic', 'partition'], registers: [registry] }),
  };
}
