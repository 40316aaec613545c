import { Counter, Gauge, type Registry } from 'prom-client';

export interface BridgeMetrics {
  received: Counter<'source'>;
  produced: Counter<'source' | 'topic'>;
  rejected: Counter<'source' | 'reason'>;
  redeliveries: Counter<'source'>;
  produceRetries: Counter<'source'>;
  queueDepth: Gauge<'source'>;
  visibilityExtensions: Counter<'source'>;
}

/** Per bridge (label `source`: `rabbitmq:<queue>` or `sqs:<queue url>`). */
export function bridgeMetrics(registry: Registry): BridgeMetrics {
  return {
    received: new Counter({
      name: 'tributary_bridge_messages_received_total',
      help: 'Queue messages received (redeliveries included)',
      labelNames: ['source'],
      registers: [registry],
    }),
    produced: new Counter({
      name: 'tributary_bridge_events_produced_total',
      help: 'Events acknowledged by Kafka',
      labelNames: ['source', 'topic'],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'tributary_bridge_messages_rejected_total',
      help: 'Invalid messages sent to events.dlq, by reason',
      labelNames: ['source', 'reason'],
      registers: [registry],
    }),
    redeliveries: new Counter({
      name: 'tributary_bridge_redeliveries_total',
      help: 'Messages the queue delivered more than once',
      labelNames: ['source'],
      registers: [registry],
    }),
    produceRetries: new Counter({
      name: 'tributary_bridge_produce_retries_total',
      help: 'Kafka sends retried after a failure',
      labelNames: ['source'],
      registers: [registry],
    }),
    visibilityExtensions: new Counter({
      name: 'tributary_bridge_visibility_extensions_total',
      help: 'SQS messages whose visibility was extended because Kafka had not acknowledged them yet',
      labelNames: ['source'],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'tributary_bridge_queue_depth',
      help: 'Messages waiting in the source queue, as its broker reports it',
      labelNames: ['source'],
      registers: [registry],
    }),
  };
}
