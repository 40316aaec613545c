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
import { startDashboard } from '../dashboards/service';
import type { BenchEnv } from './env';
import { logger } from './env';
import { sleep } from '../platform/retry';

export interface FreshnessResult {
  rate: number;
  seconds: number;
  accepted: number;
  /** Probe events sent during the load; each was timed from its POST to the first dashboard answer that counts it. */
  probes: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  maxMs: number;
  /** The sink's own estimate over every row version inserted: newest receivedAt in the row → inserted. */
  sinkRowP50ms: number;
  sinkRowP99ms: number;
}

const PROBE_EVERY_MS = 50;
const POLL_EVERY_MS = 25;

/**
 * End-to-end freshness under demo load: events posted over HTTP at `rate`, through the processor
 * (a child process) and the sink into ClickHouse. Every PROBE_EVERY_MS a probe event is posted
 * alongside the load, in an event-time minute of its own far in the past (no demo event shares
 * it), and the dashboard API (`/api/timeseries`, the query the web page makes) is polled until
 * that minute counts it: POST sent → first dashboard answer that shows it.
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
  const dashboard = await startDashboard({ config: env.config, clickhouse, kafka: env.kafka, logger, metrics: new Registry(), port: 0 });
  try {
    const probes = new Prober(ingest.url, dashboard.url);
    const loading = runDemo({ target: { via: 'http', url: ingest.url, writeKey: undefined }, rate, durationS: seconds, truth: new GroundTruth(), logger, seed: 7 });
    const result = await probes.during(loading);
    const latencies = await probes.settle(60_000);
    const summary = (await metrics.getSingleMetric('tributary_sink_freshness_seconds')!.get()).values;
    const sinkQ = (p: number) => Math.round(1000 * Number(summary.find((v) => v.labels.quantile === p)?.value ?? NaN));
    return { rate, seconds, accepted: result.accepted, probes: latencies.length, p50ms: quantile(latencies, 0.5), p90ms: quantile(latencies, 0.9), p99ms: quantile(latencies, 0.99), maxMs: latencies.at(-1) ?? NaN, sinkRowP50ms: sinkQ(0.5), sinkRowP99ms: sinkQ(0.99) };
  } finally {
    await dashboard.close();
    await sink.stop();
    await clickhouse.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await ingest.close();
  }
}

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

export class Prober {
  /** Probe minute → when its POST was sent; removed once the dashboard shows it. */
  private readonly outstanding = new Map<number, number>();
  private readonly latencies: number[] = [];
  // A minute of 2001 chosen per run, so probes never meet demo events or an earlier run's probes.
  private readonly base = Date.UTC(2001, 0, 1) + Math.floor(Math.random() * 400_000) * 60_000;
  private next = 0;

  constructor(private readonly ingestUrl: string, private readonly dashboardUrl: string) {}

  /** Posts probes and polls the dashboard until `load` settles. */
  async during<T>(load: Promise<T>): Promise<T> {
    let done = false;
    const finished = load.finally(() => { done = true; });
    const sending = (async () => {
      while (!done) {
        await this.send();
        await sleep(PROBE_EVERY_MS);
      }
    })();
    const polling = (async () => { while (!done) await this.poll(); })();
    const result = await finished;
    await Promise.all([sending, polling]);
    return result;
  }

  /** Polls until every probe has shown up (or `timeoutMs`); returns the latencies, sorted. */
  async settle(timeoutMs: number): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.outstanding.size > 0 && Date.now() < deadline) await this.poll();
    if (this.outstanding.size > 0) throw new Error(`${this.outstanding.size} probe events never showed up in the dashboard`);
    return this.latencies.sort((a, b) => a - b);
  }

  private async send(): Promise<void> {
    const minute = this.base + this.next++ * 60_000;
    const sentAt = Date.now();
    this.outstanding.set(minute, sentAt);
    const res = await fetch(`${this.ingestUrl}/v1/events`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'page_view', userId: `probe-${minute}`, occurredAt: minute + 1000, page: '/bench-probe' }),
    });
    if (res.status !== 202) throw new Error(`probe event answered ${res.status}: ${await res.text()}`);
  }

  private async poll(): Promise<void> {
    const started = Date.now();
    if (this.outstanding.size > 0) {
      const minutes = [...this.outstanding.keys()];
      const from = new Date(Math.min(...minutes)).toISOString();
      const to = new Date(Math.max(...minutes) + 60_000).toISOString();
      const res = await fetch(`${this.dashboardUrl}/api/timeseries?metric=user_events&interval=1m&from=${from}&to=${to}`);
      if (!res.ok) throw new Error(`dashboard answered ${res.status}: ${await res.text()}`);
      const seenAt = Date.now();
      const { points } = await res.json() as { points: Array<{ t: string; value: number }> };
      for (const p of points) {
        const minute = Date.parse(p.t);
        const sentAt = this.outstanding.get(minute);
        if (sentAt !== undefined && p.value > 0) {
          this.latencies.push(seenAt - sentAt);
          this.outstanding.delete(minute);
        }
      }
    }
    await new Promise((r) => setTimeout(r, Math.max(0, POLL_EVERY_MS - (Date.now() - started))));
  }
}
