import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface IngestMetrics {
  accepted: Counter<'topic'>;
  rejected: Counter<'reason'>;
  joined: Counter;
  produceLatency: Histogram;
  inflightBytes: Gauge;
}

export function ingestMetrics(registry: Registry, inflight: () => number): IngestMetrics {
  return {
    accepted: new Counter({
      name: 'tributary_ingest_events_accepted_total',
      help: 'Events acknowledged by Kafka and answered 202',
      labelNames: ['topic'],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'tributary_ingest_events_rejected_total',
      help: 'Events or requests rejected, by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    joined: new Counter({
      name: 'tributary_ingest_events_joined_total',
      help: 'Events of a retried request answered from their earlier send (in flight, or acknowledged after a 503) instead of being produced again',
      registers: [registry],
    }),
    produceLatency: new Histogram({
      name: 'tributary_ingest_produce_seconds',
      help: 'Time from a request being valid to Kafka acknowledging its events',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    inflightBytes: new Gauge({
      name: 'tributary_ingest_inflight_bytes',
      help: 'Bytes accepted and not yet acknowledged by Kafka',
      registers: [registry],
      collect() {
        this.set(inflight());
      },
    }),
  };
}
