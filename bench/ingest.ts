import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectAdmin } from '../platform/kafka/client';
import { createMetrics } from '../platform/metrics';
import { ensureTopics, pipelineTopics } from '../platform/kafka/topics';
import { SchemaClient } from '../schemas/client';
import { startIngest } from '../producers/ingest/service';
import { DemoShop } from '../producers/demo/shop';
import type { BenchEnv } from './env';
import { logger, peakMemoryMiB } from './env';

const run = promisify(execFile);

export interface IngestResult {
  scenario: string;
  connections: number;
  seconds: number;
  requestsPerSecond: number;
  eventsPerSecond: number;
  latencyP50ms: number;
  latencyP99ms: number;
  non2xx: number;
}

/**
 * Drives POST /v1/events on loopback with autocannon (a separate process, so the load generator
 * does not share the endpoint's event loop): batches of 100 events, and single events.
 */
export async function benchIngest(env: BenchEnv, seconds = Number(process.env.BENCH_SECONDS ?? 15)): Promise<{ results: IngestResult[]; peakMemoryMiB: number | null }> {
  const admin = await connectAdmin(env.kafka);
  await ensureTopics(admin, pipelineTopics(6, env.config.topics), logger, 1);
  await admin.disconnect();
  const ingest = await startIngest({ config: env.config, kafka: env.kafka, schemas: new SchemaClient(env.registry.url, logger), logger, metrics: createMetrics('ingest'), port: 0 });
  const shop = new DemoShop(1, { retryShare: 0, lateShare: 0 });
  const strip = (e: Record<string, unknown>) => { const { kind: _k, eventId: _id, ...rest } = e; return rest; };
  const batchBody = JSON.stringify({ events: shop.next(100).map((e) => strip(e as never)) });
  const singleBody = JSON.stringify(strip(shop.next(1)[0] as never));
  const results: IngestResult[] = [];
  try {
    for (const [scenario, body, events, connections] of [['batches of 100', batchBody, 100, 16], ['single events', singleBody, 1, 64]] as const) {
      const bin = path.resolve(__dirname, '..', 'node_modules', '.bin', 'autocannon');
      const { stdout } = await run(bin, ['-j', '-c', String(connections), '-d', String(seconds), '-m', 'POST', '-H', 'content-type=application/json', '-b', body, `${ingest.url}/v1/events`],
        { maxBuffer: 64 * 1024 * 1024, timeout: (seconds + 60) * 1000 });
      const r = JSON.parse(stdout) as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; '2xx': number; duration: number };
      results.push({
        scenario, connections, seconds,
        requestsPerSecond: Math.round(r['2xx'] / r.duration),
        eventsPerSecond: Math.round((r['2xx'] * events) / r.duration),
        latencyP50ms: r.latency.p50, latencyP99ms: r.latency.p99, non2xx: r.non2xx,
      });
    }
  } finally {
    await ingest.close();
  }
  return { results, peakMemoryMiB: peakMemoryMiB() };
}
