import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../platform/retry';
import { preloadOrders } from './catchup';
import { cpuSeconds, peakMemoryMiB, spawnScript, type BenchEnv } from './env';

export interface MvDesignResult {
  variant: string;
  events: number;
  users: number;
  /** Consumer start → every event counted by the views (they compute within the inserts). */
  seconds: number;
  eventsPerSecond: number;
  peakMiB: number | null;
  cpuSeconds: number | null;
  /** The views' totals equal the backlog (events, units of placed orders). */
  exact: boolean;
  /** Raw design only: a segment inserted again with its token changed a total (it must not). */
  replayChanged?: boolean;
  /** Raw design only: a new rollup's whole history computed from the raw table, seconds. */
  backfillSeconds?: number;
  rawMiB?: number;
}

const VARIANTS = [
  { variant: 'raw events per segment (dedup token) → views, exact', mode: 'raw', consumers: 1 },
  { variant: 'ClickHouse Kafka engine → views, 1 consumer, at least once', mode: 'kafka-engine', consumers: 1 },
  { variant: 'ClickHouse Kafka engine → views, 2 consumers, at least once', mode: 'kafka-engine', consumers: 2 },
];

/**
 * Declared rollups as ClickHouse materialized views, the design not chosen, and ClickHouse's own
 * Kafka engine feeding the same views, on one backlog of the catch-up bench's shape
 * (`preloadOrders`, 50,000 users), each as bench/mv-runner.ts in its own process against its own
 * chDB. Run beside `catchup` (`npm run bench -- catchup mvdesign`) for the side-by-side figure.
 */
export async function benchMvDesign(
  env: BenchEnv,
  users = 50_000,
  events = Number(process.env.BENCH_CATCHUP_EVENTS ?? 1_000_000),
): Promise<MvDesignResult[]> {
  const id = `mvdesign-${Date.now()}`;
  const topics = { users: `${id}.users`, orders: `${id}.orders`, rollups: `${id}.rollups`, dlq: `${id}.dlq` };
  await preloadOrders(env, topics, users, events, id);
  // preloadOrders: events i % 10 < 7 are order_placed with one line of 1 + i % 3 units.
  let quantity = 0;
  for (let i = 0; i < events; i++) if (i % 10 < 7) quantity += 1 + (i % 3);
  const results: MvDesignResult[] = [];
  for (const v of VARIANTS) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-mv-'));
    const resultFile = path.join(dir, 'result.json');
    const child = spawnScript(env, path.join(__dirname, 'mv-runner.ts'), {
      DATA_DIR: dir,
      MV_TOPIC: topics.orders,
      MV_EVENTS: String(events),
      MV_USERS: String(users),
      MV_QUANTITY: String(quantity),
      MV_RESULT: resultFile,
      MV_MODE: v.mode,
      MV_CONSUMERS: String(v.consumers),
    });
    let peak: number | null = null;
    let cpu: number | null = null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let code: number | null | undefined;
    while (code === undefined) {
      peak = peakMemoryMiB(child.pid) ?? peak;
      cpu = cpuSeconds(child.pid) ?? cpu;
      code = await Promise.race([exited, sleep(200).then(() => undefined)]);
    }
    if (code !== 0) throw new Error(`bench/mv-runner.ts (${v.mode}) exited with ${code}`);
    const r = JSON.parse(readFileSync(resultFile, 'utf8')) as {
      insertedSeconds: number;
      totals: { events: number; quantity: number };
      replayChanged: boolean;
      backfillSeconds: number | null;
      rawMiB: number;
    };
    results.push({
      variant: v.variant,
      events,
      users,
      seconds: r.insertedSeconds,
      eventsPerSecond: Math.round(events / r.insertedSeconds),
      peakMiB: peak,
      cpuSeconds: cpu,
      exact: r.totals.events === events && r.totals.quantity === quantity,
      ...(v.mode === 'raw'
        ? { replayChanged: r.replayChanged, backfillSeconds: r.backfillSeconds ?? NaN, rawMiB: r.rawMiB }
        : {}),
    });
  }
  return results;
}
