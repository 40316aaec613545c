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

/**
 * The first sample of `name` in Prometheus text (what `/metrics` serves), whatever its labels;
 * undefined when there is none. For benches and tests that read a stage's figures back.
 */
export function metricValue(text: string, name: string): number | undefined {
  const value = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1];
  return value === undefined ? undefined : Number(value);
}
