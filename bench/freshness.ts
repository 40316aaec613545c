import path from 'node:path';
import { spawn } from 'node:child_process';
import { Registry } from 'prom-client';
import { createClickHouse } from '../platform/clickhouse/client';
import { createMetrics } from '../platform/metrics';
import { SchemaClient } from '../schemas/client';
import { startIngest } from '../producers/ingest/service';
import { runDemo } from '../producers/demo/run';
import { GroundTruth } from '../producers/demo/ground-truth';
import { startSink } from '../consumers/service';
import type { BenchEnv } from './env';
import { logger } from './env';

export interface FreshnessResult {
  rate: number;
  seconds: number;
  accepted: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
}

/**
 * End-to-end freshness under demo load: events posted over HTTP at `rate`, through the processor
 * (a child process) and the sink; the sink records receivedAt → row inserted for every row.
 */
export async function benchFreshness(env: BenchEnv, rate = Number(process.env.BENCH_RATE ?? 2000), seconds = Number(process.env.BENCH_FRESHNESS_SECONDS ?? 20)): Promise<FreshnessResult> {
  const ingest = await startIngest({ config: env.config, kafka: env.kafka, schemas: new SchemaClient(env.registry.url, logger), logger, metrics: createMetrics('ingest'), port: 0 });
  const child = spawn(process.execPath, [path.resolve(__dirname, '..', 'bin', 'tributary.js'), 'process'], {
    env: { ...process.env, KAFKA_BROKERS: env.config.kafka.brokers.join(','), SCHEMA_REGISTRY_URL: env.registry.url, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const clickhouse = createClickHouse(env.config.clickhouse, env.config.dataDir);
  const metrics = new Registry();
  // The sink group of the rows/s run, already caught up: only new rows flow.
  const sink = await startSink({ config: env.config, kafka: env.kafka, clickhouse,
    schemas: new SchemaClient(env.registry.url, logger), logger, metrics });
  try {
    const result = await runDemo({ target: { via: 'http', url: ingest.url, writeKey: undefined }, rate, durationS: seconds, truth: new GroundTruth(), logger, seed: 7 });
    await new Promise((r) => setTimeout(r, 3000));
    const summary = (await metrics.getSingleMetric('tributary_sink_freshness_seconds')!.get()).values;
    const q = (p: number) => Math.round(1000 * Number(summary.find((v) => v.labels.quantile === p)?.value ?? NaN));
    return { rate, seconds, accepted: result.accepted, p50ms: q(0.5), p90ms: q(0.9), p99ms: q(0.99) };
  } finally {
    await sink.stop();
    await clickhouse.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await ingest.close();
  }
}
