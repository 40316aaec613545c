import { connectAdmin } from '../platform/kafka/client';
import { ensureTopics, pipelineTopics } from '../platform/kafka/topics';
import { freePort } from '../platform/local/ports';
import { DemoShop } from '../producers/demo/shop';
import type { BenchEnv } from './env';
import { logger, spawnStage, stopStage } from './env';
import { sleep } from '../platform/retry';
import { autocannon, type AutocannonResult } from './autocannon';

/**
 * Runs autocannon for a fixed number of requests and times it to the last response (its own
 * `duration` stops at the next whole-second tick, up to a second late).
 */
function load(
  url: string,
  body: string,
  connections: number,
  amount: number,
): Promise<AutocannonResult & { seconds: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let last = started;
    const instance = autocannon(
      { url, method: 'POST', headers: { 'content-type': 'application/json' }, body, connections, amount },
      (err, result) => {
        if (err) reject(err);
        else resolve({ ...result, seconds: (last - started) / 1000 });
      },
    );
    instance.on('response', () => {
      last = performance.now();
    });
  });
}

export interface IngestResult {
  scenario: string;
  connections: number;
  events: number;
  seconds: number;
  requestsPerSecond: number;
  eventsPerSecond: number;
  latencyP50ms: number;
  latencyP99ms: number;
  non2xx: number;
}

/**
 * Drives `tributary ingest` (a child process, so its peak memory is its own and the load
 * generator does not share its event loop) on loopback with autocannon:
 * a fixed number of events in batches of 100 (BENCH_INGEST_EVENTS, 1,000,000), then single
 * events (BENCH_INGEST_SINGLE_EVENTS, 100,000), each as fast as the endpoint answers.
 */
export async function benchIngest(env: BenchEnv): Promise<{ results: IngestResult[]; peakMemoryMiB: number | null }> {
  const batchEvents = Number(process.env.BENCH_INGEST_EVENTS ?? 1_000_000);
  const singleEvents = Number(process.env.BENCH_INGEST_SINGLE_EVENTS ?? 100_000);
  const admin = await connectAdmin(env.kafka);
  await ensureTopics(admin, pipelineTopics(6, env.config.topics), logger, 1);
  await admin.disconnect();
  const port = await freePort();
  const ingest = spawnStage(env, ['ingest'], { INGEST_PORT: String(port) });
  const url = `http://localhost:${port}`;
  const shop = new DemoShop(1, { retryShare: 0, lateShare: 0 });
  const strip = (e: Record<string, unknown>) => {
    const { kind: _k, eventId: _id, ...rest } = e;
    return rest;
  };
  const batchBody = JSON.stringify({ events: shop.next(100).map((e) => strip(e as never)) });
  const singleBody = JSON.stringify(strip(shop.next(1)[0] as never));
  const results: IngestResult[] = [];
  let peak: number | null = null;
  try {
    for (let deadline = Date.now() + 60_000; ;) {
      if (ingest.exitCode !== null) throw new Error(`ingest exited with ${ingest.exitCode}`);
      if (
        await fetch(`${url}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      if (Date.now() > deadline) throw new Error('ingest not ready within 60 s');
      await sleep(100);
    }
    for (const [scenario, body, perRequest, events, connections] of [
      ['batches of 100', batchBody, 100, batchEvents, 16],
      ['single events', singleBody, 1, singleEvents, 64],
    ] as const) {
      const r = await load(`${url}/v1/events`, body, connections, Math.ceil(events / perRequest));
      results.push({
        scenario,
        connections,
        events: r['2xx'] * perRequest,
        seconds: r.seconds,
        requestsPerSecond: Math.round(r['2xx'] / r.seconds),
        eventsPerSecond: Math.round((r['2xx'] * perRequest) / r.seconds),
        latencyP50ms: r.latency.p50,
        latencyP99ms: r.latency.p99,
        non2xx: r.non2xx,
      });
    }
  } finally {
    peak = await stopStage(ingest);
  }
  return { results, peakMemoryMiB: peak };
}
