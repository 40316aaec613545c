import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../platform/local/ports';
import { commandLineOf } from '../platform/local/run-lock';
import { sleep } from '../platform/retry';
import { benchNodeArgs, logger, peakMemoryMiB, spawnStage, stopStage, type BenchEnv } from './env';
import { lockChildren } from './catchup';
import { ANSWER_WITHIN_MS, Prober, quantile } from './freshness';
import { autocannon, type AutocannonResult } from './autocannon';

/** Events per POST of the load (the batch form of /v1/events). */
const EVENTS_PER_REQUEST = 100;
const USERS = 50_000;
const SKUS = 5_000;

export interface SustainedStep {
  offeredEventsPerSecond: number;
  seconds: number;
  acceptedEventsPerSecond: number;
  non2xx: number;
  /** The processor's lag (events) at its highest in the last minute of the step, and in seconds of traffic at the offered rate. */
  maxProcessLag: number;
  maxProcessLagSeconds: number;
  maxSinkLag: number;
  /** Accepted ≥ 97% of offered with no refusal, and the processor never more than 10 s of traffic behind in the last minute. */
  held: boolean;
  requestP99ms: number;
}

export interface FreshnessRun {
  label: string;
  settings: Record<string, string>;
  rate: number;
  seconds: number;
  acceptedEventsPerSecond: number;
  probes: number;
  p50ms: number;
  p90ms: number;
  p99ms: number;
  maxMs: number;
  /** Parts ClickHouse created per hour at this rate (inserts per table × 3600 / seconds), summed over the tables, and the most active parts seen in one table. */
  partsPerHour: number;
  partsPerHourByTable: Record<string, number>;
  maxActiveParts: number;
  /** What /api/pipeline reported as freshness at the end of the load (the figure the page and the status line show), to set beside the probes'. */
  reported: { p50ms: number; p99ms: number } | null;
}

export interface WholeResult {
  sustained: SustainedStep[];
  /** The highest offered rate held for the whole step, if any. */
  highestHeld: number | null;
  freshness: FreshnessRun[];
  peakMiB: { start: number | null; processor: number | null; ingest: number | null };
}

/**
 * What users meet on one machine: `tributary start` (every stage a child process; the sink, the
 * dashboard and chDB share one) on the bench broker, driven over HTTP by
 * autocannon with batches of 100 events shaped like a shop (50,000 users, 5,000 SKUs, 40% orders).
 *
 * 1. Freshness at a fixed rate (BENCH_WHOLE_FRESHNESS_RATE, 5,000 events/s) for
 *    BENCH_WHOLE_FRESHNESS_SECONDS (60): probe POST → first dashboard answer counting it, with the
 *    default flush settings and with the low-latency ones, and the ClickHouse parts each creates.
 * 2. Sustained rates (BENCH_SUSTAINED_RATES, 10,000,20,000,40,000 events/s), each for
 *    BENCH_SUSTAINED_SECONDS (180), stopping after the first rate the stack does not hold.
 */
export async function benchWhole(env: BenchEnv): Promise<WholeResult> {
  const bodies = shopBodies(400);
  const freshRate = Number(process.env.BENCH_WHOLE_FRESHNESS_RATE ?? 5000);
  const freshSeconds = Number(process.env.BENCH_WHOLE_FRESHNESS_SECONDS ?? 60);
  const freshness: FreshnessRun[] = [];
  const peaks = { start: 0, processor: 0, ingest: 0 };
  const keep = (s: Stack) => {
    for (const k of ['processor', 'ingest'] as const) peaks[k] = Math.max(peaks[k], s.peak(k) ?? 0);
  };
  const fastFlush = process.env.BENCH_WHOLE_FAST_FLUSH_MS ?? '200';
  const fastDelay = process.env.BENCH_WHOLE_FAST_BATCH_DELAY_MS ?? '100';
  for (const [label, settings] of [
    ['defaults (FLUSH_INTERVAL_MS 500, SINK_BATCH_DELAY_MS 500)', {}],
    [
      `low latency (FLUSH_INTERVAL_MS ${fastFlush}, SINK_BATCH_DELAY_MS ${fastDelay})`,
      { FLUSH_INTERVAL_MS: fastFlush, SINK_BATCH_DELAY_MS: fastDelay },
    ],
  ] as const) {
    const stack = await Stack.start(env, settings);
    try {
      const before = await stack.parts();
      const prober = new Prober(stack.ingest, stack.dashboard);
      const started = performance.now();
      const load = prober.during(offer(stack.ingest, bodies, freshRate, freshSeconds));
      let maxActive = 0;
      const sampling = (async () => {
        for (let done = false; !done; await sleep(2000)) {
          done = await Promise.race([load.then(() => true), sleep(0).then(() => false)]);
          for (const t of await stack.parts()) maxActive = Math.max(maxActive, t.activeParts);
        }
      })();
      const r = await load;
      const reported =
        (
          (await (await fetch(`${stack.dashboard}/api/pipeline`)).json().catch(() => ({}))) as {
            freshness?: { p50Ms: number; p99Ms: number } | null;
          }
        ).freshness ?? null;
      // Settle at once: waiting for the sampler's 2 s sleep first would add up to 2 s to the last probes.
      const [latencies] = await Promise.all([prober.settle(60_000), sampling]);
      const seconds = (performance.now() - started) / 1000;
      const after = await stack.parts();
      const byTable = Object.fromEntries(
        after.map((t) => [
          t.table,
          Math.round(((t.inserts - (before.find((b) => b.table === t.table)?.inserts ?? 0)) * 3600) / seconds),
        ]),
      );
      freshness.push({
        label,
        settings,
        rate: freshRate,
        seconds: freshSeconds,
        acceptedEventsPerSecond: Math.round((r['2xx'] * EVENTS_PER_REQUEST) / freshSeconds),
        probes: latencies.length,
        p50ms: quantile(latencies, 0.5),
        p90ms: quantile(latencies, 0.9),
        p99ms: quantile(latencies, 0.99),
        maxMs: latencies.at(-1) ?? NaN,
        partsPerHour: Object.values(byTable).reduce((a, b) => a + b, 0),
        partsPerHourByTable: byTable,
        maxActiveParts: maxActive,
        reported: reported && { p50ms: reported.p50Ms, p99ms: reported.p99Ms },
      });
      logger.info(freshness.at(-1), 'bench.whole.freshness');
    } finally {
      keep(stack);
      peaks.start = Math.max(peaks.start, (await stack.stop()) ?? 0);
    }
  }

  const rates = (process.env.BENCH_SUSTAINED_RATES ?? '10000,20000,40000').split(',').filter(Boolean).map(Number);
  const seconds = Number(process.env.BENCH_SUSTAINED_SECONDS ?? 180);
  let sustained: SustainedStep[] = [];
  if (rates.length > 0) {
    const stack = await Stack.start(env, {});
    try {
      sustained = await sustainedSteps(stack, bodies, rates, seconds);
    } finally {
      keep(stack);
      peaks.start = Math.max(peaks.start, (await stack.stop()) ?? 0);
    }
  }
  const held = sustained.filter((s) => s.held).map((s) => s.offeredEventsPerSecond);
  return {
    sustained,
    highestHeld: held.length ? Math.max(...held) : null,
    freshness,
    peakMiB: { start: peaks.start || null, processor: peaks.processor || null, ingest: peaks.ingest || null },
  };
}

/** Each rate for `seconds`, in order, until one is not held; between steps the processor drains. */
async function sustainedSteps(
  stack: Stack,
  bodies: string[],
  rates: number[],
  seconds: number,
): Promise<SustainedStep[]> {
  const steps: SustainedStep[] = [];
  for (const rate of rates) {
    const lags: Array<{ at: number; process: number; sink: number }> = [];
    const started = performance.now();
    const load = offer(stack.ingest, bodies, rate, seconds);
    for (let done = false; !done; await sleep(2000)) {
      done = await Promise.race([load.then(() => true), sleep(0).then(() => false)]);
      const lag = await stack.lag();
      if (lag) lags.push({ at: (performance.now() - started) / 1000, ...lag });
    }
    const r = await load;
    const lastMinute = lags.filter((l) => l.at >= seconds - 60);
    const maxProcessLag = Math.max(0, ...lastMinute.map((l) => l.process));
    const accepted = Math.round((r['2xx'] * EVENTS_PER_REQUEST) / seconds);
    const step: SustainedStep = {
      offeredEventsPerSecond: rate,
      seconds,
      acceptedEventsPerSecond: accepted,
      non2xx: r.non2xx + r.errors,
      maxProcessLag,
      maxProcessLagSeconds: Math.round((10 * maxProcessLag) / rate) / 10,
      maxSinkLag: Math.max(0, ...lastMinute.map((l) => l.sink)),
      held: r.non2xx + r.errors === 0 && accepted >= 0.97 * rate && maxProcessLag <= 10 * rate,
      requestP99ms: r.latency.p99,
    };
    steps.push(step);
    logger.info(step, 'bench.whole.sustained');
    if (!step.held) break;
    // The next step starts from a drained pipeline.
    for (const deadline = Date.now() + 300_000; Date.now() < deadline; await sleep(1000)) {
      const lag = await stack.lag();
      if (lag && lag.process === 0) break;
    }
  }
  return steps;
}

/** A running `tributary start` with its own topics, groups, DATA_DIR and ports. */
export class Stack {
  private readonly peaks: Record<'processor' | 'ingest', number> = { processor: 0, ingest: 0 };
  private readonly sampler: NodeJS.Timeout;

  private constructor(
    private readonly child: ChildProcess,
    private readonly dataDir: string,
    readonly ingest: string,
    readonly dashboard: string,
    /** Its topics, groups and ports: what a command against this pipeline needs (`rollups apply`). */
    readonly env: Record<string, string>,
  ) {
    // Children's peak memory is read while they run (they are gone once start stops).
    this.sampler = setInterval(() => this.samplePeaks(), 1000);
  }

  static async start(env: BenchEnv, settings: Record<string, string>): Promise<Stack> {
    const id = `whole-${Date.now()}`;
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-whole-'));
    const [ingestPort, dashboardPort, registryPort] = [await freePort(), await freePort(), await freePort()];
    const stackEnv = {
      DATA_DIR: dataDir,
      INGEST_AUTH: 'off',
      LOG_FORMAT: 'json',
      TOPIC_USERS: `${id}.users`,
      TOPIC_ORDERS: `${id}.orders`,
      TOPIC_ROLLUPS: `${id}.rollups`,
      TOPIC_DLQ: `${id}.dlq`,
      PROCESS_GROUP_ID: `${id}-rollups`,
      SINK_GROUP_ID: `${id}-sink`,
      INGEST_PORT: String(ingestPort),
      DASHBOARD_PORT: String(dashboardPort),
      REGISTRY_PORT: String(registryPort),
      ...settings,
    };
    const child = spawnStage(env, ['start'], stackEnv, benchNodeArgs());
    const stack = new Stack(
      child,
      dataDir,
      `http://localhost:${ingestPort}`,
      `http://localhost:${dashboardPort}`,
      stackEnv,
    );
    for (const deadline = Date.now() + 180_000; ; await sleep(250)) {
      if (child.exitCode !== null) throw new Error(`tributary start exited with ${child.exitCode}`);
      const ok = async (url: string) => (await fetch(url).catch(() => undefined))?.status === 200;
      if ((await ok(`${stack.ingest}/readyz`)) && (await ok(`${stack.dashboard}/readyz`))) return stack;
      if (Date.now() > deadline) throw new Error('tributary start not ready in 180 s');
    }
  }

  private samplePeaks(): void {
    for (const pid of lockChildren(this.dataDir)) {
      const command = commandLineOf(pid) ?? '';
      const stage = / process( |$)/.test(command) ? 'processor' : / ingest( |$)/.test(command) ? 'ingest' : undefined;
      if (stage) this.peaks[stage] = Math.max(this.peaks[stage], peakMemoryMiB(pid) ?? 0);
    }
  }

  peak(stage: 'processor' | 'ingest'): number | null {
    this.samplePeaks();
    return this.peaks[stage] || null;
  }

  async lag(): Promise<{ process: number; sink: number } | undefined> {
    const p = (await (
      await fetch(`${this.dashboard}/api/pipeline`, { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) }).catch(
        () => undefined,
      )
    )
      ?.json()
      .catch(() => undefined)) as { stages?: Array<{ stage: string; lag?: number }> } | undefined;
    const lagOf = (stage: string) => p?.stages?.find((s) => s.stage === stage)?.lag;
    const [process, sink] = [lagOf('process'), lagOf('sink')];
    return process === undefined || sink === undefined ? undefined : { process, sink };
  }

  async parts(): Promise<Array<{ table: string; activeParts: number; inserts: number }>> {
    const p = (await (
      await fetch(`${this.dashboard}/api/pipeline`, { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) })
    ).json()) as { clickhouse?: { tables: Array<{ table: string; activeParts: number; inserts: number }> } };
    return p.clickhouse?.tables ?? [];
  }

  async stop(): Promise<number | null> {
    this.samplePeaks();
    clearInterval(this.sampler);
    return stopStage(this.child);
  }
}

/** Offers `rate` events/s for `seconds` as POSTs of EVENTS_PER_REQUEST events, rotating through `bodies`. */
export function offer(ingest: string, bodies: string[], rate: number, seconds: number): Promise<AutocannonResult> {
  let next = 0;
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `${ingest}/v1/events`,
        connections: 32,
        duration: seconds,
        overallRate: Math.round(rate / EVENTS_PER_REQUEST),
        requests: [
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[next++ % bodies.length] }),
          },
        ],
      },
      (err, result) => (err ? reject(err) : resolve(result)),
    );
  });
}

/**
 * `count` request bodies of EVENTS_PER_REQUEST events shaped like a shop's traffic: 60% user
 * events (page views, logins, signups) and 40% orders (placed with one to three lines, paid,
 * shipped) over USERS users and SKUS SKUs, stamped now (no eventIds: ingest assigns them, so a
 * repeated body is new events).
 */
export function shopBodies(count: number): string[] {
  let seed = 17;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const now = Date.now();
  return Array.from({ length: count }, () =>
    JSON.stringify({
      events: Array.from({ length: EVENTS_PER_REQUEST }, () => {
        const userId = `user-${Math.floor(rand() * USERS)}`;
        const country = pick(['DE', 'FR', 'US', 'GB', 'NL', 'ES']);
        const occurredAt = now - Math.floor(rand() * 5000);
        if (rand() < 0.6)
          return {
            type: pick(['page_view', 'page_view', 'page_view', 'login', 'signup']),
            userId,
            occurredAt,
            country,
            device: pick(['mobile', 'desktop', 'tablet']),
          };
        const type = pick(['order_placed', 'order_placed', 'order_paid', 'order_shipped']);
        const items =
          type === 'order_placed'
            ? Array.from({ length: 1 + Math.floor(rand() * 3) }, () => ({
                sku: `SKU-${Math.floor(rand() * SKUS)}`,
                category: `cat-${Math.floor(rand() * 40)}`,
                quantity: 1 + Math.floor(rand() * 3),
                unitPriceCents: 199 + Math.floor(rand() * 20_000),
              }))
            : [];
        const amountCents = items.reduce((n, i) => n + i.quantity * i.unitPriceCents, 0) || 1999;
        return {
          type,
          userId,
          orderId: `o-${Math.floor(rand() * 1e9)}`,
          occurredAt,
          currency: pick(['EUR', 'EUR', 'USD']),
          amountCents,
          country,
          items,
        };
      }),
    }),
  );
}
