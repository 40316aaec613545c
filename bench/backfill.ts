import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from '../platform/retry';
import type { BenchEnv } from './env';
import { logger, spawnStage, stopStage } from './env';
import { Prober, quantile } from './freshness';
import { offer, shopBodies, Stack } from './sustained';

export interface BackfillResult {
  /** Events in the backlog before the apply (what the backfill computes). */
  backlogEvents: number;
  rate: number;
  /** From `rollups apply` to every version complete (served), under the load. */
  backfillSeconds: number | null;
  probes: number;
  p50ms: number;
  p99ms: number;
  maxMs: number;
  /** The same load and probes just before, without a backfill: the side-by-side baseline. */
  baseline: { probes: number; p50ms: number; p99ms: number; maxMs: number };
  processorPeakMiB: number | null;
}

/** What a user would add to a running shop: revenue by category per hour, buyers per country per day. */
const DECLARATIONS = `name: bench_revenue_by_category
source: order_lines
types: [order_placed]
dimensions: [category, currency]
measures: [count, sum(revenueCents) as revenue_cents]
window: 1h
---
name: bench_buyers_by_country
source: orders
types: [order_placed]
dimensions: [country]
measures: [distinct(userId)]
window: 1d
`;

/**
 * Freshness and processor memory while a backfill runs: `tributary start` takes a backlog over
 * HTTP (BENCH_BACKFILL_BACKLOG_SECONDS, 30, as fast as it goes), then two declarations are applied
 * while BENCH_BACKFILL_RATE (5,000) events/s keep coming with freshness probes (bench/freshness.ts)
 * for BENCH_BACKFILL_SECONDS (60): the built-in rollups' freshness (probe POST → on the
 * dashboard), the time until both versions are complete, and the processor's peak memory; the
 * same load and probes run first without a backfill, side by side.
 */
export async function benchBackfill(env: BenchEnv): Promise<BackfillResult> {
  const bodies = shopBodies(400);
  const rate = Number(process.env.BENCH_BACKFILL_RATE ?? 5000);
  const seconds = Number(process.env.BENCH_BACKFILL_SECONDS ?? 60);
  const stack = await Stack.start(env, {});
  try {
    const backlog = await offer(
      stack.ingest,
      bodies,
      1_000_000,
      Number(process.env.BENCH_BACKFILL_BACKLOG_SECONDS ?? 30),
    );
    const backlogEvents = backlog['2xx'] * 100;
    // Drained: the backfill then competes with the live load only.
    for (const deadline = Date.now() + 300_000; Date.now() < deadline; await sleep(1000)) {
      const lag = await stack.lag();
      if (lag && lag.process === 0 && lag.sink === 0) break;
    }
    const quiet = new Prober(stack.ingest, stack.dashboard);
    await quiet.during(offer(stack.ingest, bodies, rate, seconds));
    const before = await quiet.settle(60_000);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-rollups-'));
    writeFileSync(path.join(dir, 'bench.yaml'), DECLARATIONS);
    const prober = new Prober(stack.ingest, stack.dashboard);
    const applied = Date.now();
    let complete: number | null = null;
    const watching = (async () => {
      for (
        const deadline = applied + seconds * 1000 + 120_000;
        complete === null && Date.now() < deadline;
        await sleep(250)
      ) {
        const r = (await (await fetch(`${stack.dashboard}/api/rollups`)).json().catch(() => ({}))) as {
          rollups?: Array<{ served: number | null; builtin: boolean }>;
        };
        const declared = r.rollups?.filter((x) => !x.builtin);
        if (declared?.length === 2 && declared.every((x) => x.served === 1)) complete = Date.now();
      }
    })();
    const load = prober.during(offer(stack.ingest, bodies, rate, seconds));
    const apply = spawnStage(env, ['rollups', 'apply', dir], stack.env);
    await new Promise((resolve) => apply.once('exit', resolve));
    await stopStage(apply);
    await load;
    const [latencies] = await Promise.all([prober.settle(60_000), watching]);
    const result: BackfillResult = {
      backlogEvents,
      rate,
      backfillSeconds: complete === null ? null : (complete - applied) / 1000,
      probes: latencies.length,
      p50ms: quantile(latencies, 0.5),
      p99ms: quantile(latencies, 0.99),
      maxMs: latencies.at(-1) ?? NaN,
      processorPeakMiB: stack.peak('processor'),
      baseline: {
        probes: before.length,
        p50ms: quantile(before, 0.5),
        p99ms: quantile(before, 0.99),
        maxMs: before.at(-1) ?? NaN,
      },
    };
    logger.info(result, 'bench.backfill');
    return result;
  } finally {
    await stack.stop();
  }
}
