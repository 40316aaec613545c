import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One Prometheus registry per process, created in the composition root and passed to the
 * stages that register their metrics on it (no prom-client global registry).
 */
export function createMetrics(stage: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ stage });
  collectDefaultMetrics({ register: registry, prefix: 'tributary_' });
  return registry;
}
