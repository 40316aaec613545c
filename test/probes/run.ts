import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { createLogger } from '../../platform/logger';
import { freeRestartablePorts } from '../../platform/local/ports';
import { startOnFreePorts } from '../../platform/local/kafka';
import { sleep } from '../../platform/retry';
import { runDemo } from '../../producers/demo/run';
import { GroundTruth, windowOf, type Totals } from '../../producers/demo/ground-truth';
import { killAndWait, spawnTributary, untilReady, eventCount, totalsView } from '../pipeline';
import { sorted, unique, until } from '../helpers';

/**
 * `npm run test:probes`: the ways a valid request or a crafted one could once be refused forever,
 * make answers grow with the data, hold a stage's event loop, or make a figure lie, each tried
 * against `tributary start` (defaults, its own broker) while a canary stream of ordinary events
 * flows over HTTP. After each case: the answer is the documented one, the canary's totals in
 * ClickHouse (through /api/totals) equal their ground truth, the probe's accepted events are
 * counted exactly (12 h back, apart from the canary), and every stage's /healthz answered within
 * 1 s throughout the case (except a stage the case kills). Prints a table; exits 1 on any difference.
 */
const logger = createLogger(process.env.LOG_LEVEL ?? 'error', 'probes');
const LOAD_S = Number(process.env.PROBES_LOAD_SECONDS ?? 4);
const RATE = Number(process.env.PROBES_RATE ?? 200);
const HEALTHZ_MAX_MS = 1000;

interface Answer {
  ok: boolean;
  detail: string;
  killed?: string;
}
interface Row {
  probe: string;
  answered: string;
  ok: boolean;
  canaryLost: number;
  canaryDoubled: number;
  probeExact: boolean;
  slowestHealthz: string;
  healthy: boolean;
}

const same = (a: unknown, b: unknown) => JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-probes-'));
  const broker = await startOnFreePorts({
    dataDir: path.join(dataDir, 'broker'),
    mavenRepo: path.join(root, '.tributary', 'maven'),
    logger,
    nodes: 1,
    heapOpts: '-Xms128m -Xmx512m',
  });
  const first = await freeRestartablePorts(4);
  const ports = { ingest: first, dashboard: first + 1, registry: first + 2, processor: first + 3 };
  const env: Record<string, string> = {
    DATA_DIR: path.join(dataDir, 'start'),
    KAFKA_BROKERS: broker.brokers.join(','),
    WRITE_KEYS: 'canary,prober',
    INGEST_PORT: String(ports.ingest),
    DASHBOARD_PORT: String(ports.dashboard),
    REGISTRY_PORT: String(ports.registry),
    PROCESS_PORT: String(ports.processor),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  };
  const start = spawnTributary(['start'], env);
  const url = (port: number) => `http://127.0.0.1:${port}`;
  const ingest = url(ports.ingest);
  const dashboard = url(ports.dashboard);
  const registry = url(ports.registry);
  const stages: Record<string, string> = { ingest, dashboard, registry, processor: url(ports.processor) };

  const canary = new GroundTruth();
  const probe = new GroundTruth();
  const started = Date.now();
  // Accepted probe events live 12 h back, apart from the canary (now; late ones up to 3 h back).
  const PROBE_T = windowOf(started - 12 * 3600_000) + 1000;
  const boundary = windowOf(started - 6 * 3600_000);
  const far = started + 86_400_000;
  // /api/totals spans at most 366 days: the probe's windows are within a day before the boundary.
  const early = boundary - 86_400_000;
  const totals = async (from: number, to: number) => {
    const res = await fetch(
      `${dashboard}/api/totals?from=${new Date(from).toISOString()}&to=${new Date(to).toISOString()}`,
    ).catch(() => undefined);
    return res?.ok ? ((await res.json()) as Totals) : undefined;
  };
  const converged = async () => {
    const [c, p] = [await totals(boundary, far), await totals(early, boundary)];
    return (
      c !== undefined &&
      p !== undefined &&
      same(totalsView(c), totalsView(canary.totals(boundary, far))) &&
      same(totalsView(p), totalsView(probe.totals(early, boundary)))
    );
  };
  const post = async (body: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${ingest}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer prober', ...headers },
      body: Buffer.isBuffer(body) ? new Uint8Array(body) : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return {
      status: res.status,
      json: (await res.json().catch(() => ({}))) as { errors?: Array<{ index: number; path: string }>; error?: string },
    };
  };
  const pageView = (userId: string, page: string, extra: Record<string, unknown> = {}) => ({
    type: 'page_view',
    eventId: unique('p'),
    userId,
    occurredAt: PROBE_T,
    country: 'DE',
    device: 'desktop',
    page,
    ...extra,
  });
  const accept = (events: Array<ReturnType<typeof pageView>>) => {
    for (const e of events) probe.add({ kind: 'user', ...e, occurredAt: e.occurredAt });
  };
  const supervisor = async () =>
    (
      (await (await fetch(`${dashboard}/api/pipeline`)).json()) as {
        supervisor: Array<{ stage: string; pid: number | null; restarts: number }>;
      }
    ).supervisor;

  try {
    await untilReady(start, `${ingest}/readyz`, 'tributary start: ingest ready', 180_000);
    await untilReady(start, `${dashboard}/readyz`, 'tributary start: dashboard ready', 120_000);
    await untilReady(start, `${stages.processor}/healthz`, 'tributary start: processor up', 120_000);

    const cases: Array<{ name: string; send: () => Promise<Answer> }> = [
      {
        name: '1. 1,000 events of one user (256-character userId, 500-character page, ~822 KB) with 30 small requests beside it',
        send: async () => {
          const userId = `u-${'x'.repeat(254)}`;
          const big = Array.from({ length: 1000 }, (_, i) => pageView(userId, `/p/${i}/`.padEnd(500, 'p')));
          const smalls = Array.from({ length: 30 }, (_, i) => [
            pageView(`small-${i}`, '/'),
            pageView(`small-${i}`, '/x'),
          ]);
          const answers = await Promise.all([post({ events: big }), ...smalls.map((events) => post({ events }))]);
          const statuses = answers.map((a) => a.status);
          const ok = statuses.every((s) => s === 202);
          if (ok) {
            accept(big);
            accept(smalls.flat());
          }
          return { ok, detail: ok ? '202 × 31' : `statuses ${[...new Set(statuses)].join(', ')}` };
        },
      },
      {
        name: '2a. 4,000 made-up currencies (valid shape) in order_paid events',
        send: async () => {
          const codes = Array.from({ length: 4000 }, (_, i) =>
            String.fromCharCode(65 + (i % 26), 65 + (Math.floor(i / 26) % 26), 65 + (Math.floor(i / 676) % 26)),
          );
          const events = codes.slice(0, 1000).map((currency, i) => ({
            type: 'order_paid',
            eventId: unique('c'),
            userId: `cur-${i}`,
            orderId: `o-${i}`,
            occurredAt: PROBE_T,
            currency,
            amountCents: 100,
          }));
          const r = await post({ events });
          const named = (r.json.errors ?? []).filter((e) => e.path === 'currency').length;
          // A few generated codes are real ISO 4217 codes; every other one is named.
          const ok = r.status === 400 && named > 900;
          return { ok, detail: `${r.status}, ${named} errors naming currency` };
        },
      },
      {
        name: "2b. 1,200 distinct devices in one window, then the page's device chart",
        send: async () => {
          // One user: one partition, so one partition's window holds all 1,200 (the bound is per window and chunk of a partition).
          const events = Array.from({ length: 1200 }, (_, i) => pageView('dev-user', '/', { device: `device-${i}` }));
          const answers = await Promise.all(
            Array.from({ length: 12 }, (_, k) => post({ events: events.slice(k * 100, (k + 1) * 100) })),
          );
          const ok = answers.every((a) => a.status === 202);
          if (ok) accept(events);
          // Counted in full (under __other__ past the bound), and the chart's answer stays bounded.
          await until(converged, 60_000);
          const series = (await (
            await fetch(
              `${dashboard}/api/timeseries?metric=user_events&groupBy=device&interval=1h&from=${new Date(windowOf(PROBE_T)).toISOString()}&to=${new Date(windowOf(PROBE_T) + 60_000).toISOString()}`,
            )
          ).json()) as { points: Array<{ group: string }>; truncated: boolean };
          const pipeline = (await (await fetch(`${dashboard}/api/pipeline`)).json()) as {
            folded: Record<string, number>;
          };
          const groups = new Set(series.points.map((p) => p.group)).size;
          const folded = pipeline.folded['users.device'] ?? 0;
          return {
            ok: ok && groups <= 21 && series.truncated && folded >= 200,
            detail: `202 × 12; chart ${groups} groups, truncated ${series.truncated}; ${folded} events folded into __other__`,
          };
        },
      },
      {
        name: '3. a schema with a 3,000-branch union (quadratic to check), then its reverse',
        send: async () => {
          const branches = Array.from({ length: 3000 }, (_, i) => ({
            type: 'record',
            name: `R${i}`,
            fields: [{ name: 'f', type: 'long' }],
          }));
          const register = async (schema: unknown[]) => {
            const res = await fetch(`${registry}/subjects/probe-union/versions`, {
              method: 'POST',
              headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
              body: JSON.stringify({ schema: JSON.stringify(schema) }),
            });
            return { status: res.status, body: (await res.json()) as { error_code?: number } };
          };
          const wide = await register(branches);
          const reverse = await register([...branches].reverse());
          const ok = wide.status === 422 && wide.body.error_code === 42201 && reverse.body.error_code === 42201;
          return {
            ok,
            detail: `${wide.status} (${wide.body.error_code}), ${reverse.status} (${reverse.body.error_code})`,
          };
        },
      },
      {
        name: '4. 80 concurrent 1 KB gzip bodies that each inflate past 1 MB',
        send: async () => {
          const body = gzipSync(JSON.stringify({ events: [pageView('gz', '/')], pad: 'x'.repeat(1_100_000) }));
          const answers = await Promise.all(
            Array.from({ length: 80 }, () => post(body, { 'content-encoding': 'gzip' })),
          );
          const statuses = answers.map((a) => a.status);
          // Each admitted as the 1 MiB it may inflate to (at most 64 at once in INGEST_MAX_INFLIGHT_BYTES' 64 MiB), then 413 once decoded past the body limit.
          const ok = statuses.every((s) => s === 413 || s === 429);
          return {
            ok,
            detail: `${statuses.filter((s) => s === 429).length} × 429, ${statuses.filter((s) => s !== 429).length} × ${[...new Set(statuses.filter((s) => s !== 429))].join('/')}`,
          };
        },
      },
      {
        name: '5. 8 live streams that never read',
        send: async () => {
          const sockets = await Promise.all(Array.from({ length: 8 }, () => fetch(`${dashboard}/api/stream`)));
          await sleep((LOAD_S * 1000) / 2);
          const open = sockets.filter((r) => r.status === 200).length;
          const ninth = await fetch(`${dashboard}/api/stream`);
          await ninth.body?.cancel();
          for (const s of sockets) await s.body?.cancel();
          return { ok: open === 8 && ninth.status === 429, detail: `${open} open, the 9th ${ninth.status}` };
        },
      },
      {
        name: '6. kill -9 of the sink+dashboard process under load',
        send: async () => {
          const before = (await supervisor()).find((s) => s.stage === 'sink+dashboard')!;
          process.kill(before.pid!, 'SIGKILL');
          const back = await until(async () => {
            const s = (await supervisor().catch(() => undefined))?.find((x) => x.stage === 'sink+dashboard');
            return s !== undefined && s.restarts === before.restarts + 1 && s.pid !== null && s.pid !== before.pid;
          }, 90_000);
          return {
            ok: back,
            detail: back ? 'restarted (1 restart in /api/pipeline)' : 'NOT restarted',
            killed: 'dashboard',
          };
        },
      },
      {
        name: '7. freshness reported against 6 probe orders counted from the outside',
        send: async () => {
          const latencies: number[] = [];
          for (let i = 0; i < 6; i++) {
            const window = windowOf(PROBE_T) - (i + 1) * 60_000;
            const posted = Date.now();
            const event = {
              type: 'order_paid',
              eventId: unique('f'),
              userId: `fresh-${i}`,
              orderId: `f-${i}`,
              occurredAt: window + 30_000,
              currency: 'EUR',
              amountCents: 1,
              country: 'DE',
            };
            if ((await post({ events: [event] })).status !== 202) return { ok: false, detail: 'probe order refused' };
            probe.add({ kind: 'order', ...event });
            await until(
              async () => (await totals(window, window + 60_000))?.orders.order_paid?.count === 1,
              30_000,
              25,
            );
            latencies.push(Date.now() - posted);
          }
          const { freshness } = (await (await fetch(`${dashboard}/api/pipeline`)).json()) as {
            freshness: { p50Ms: number; p99Ms: number } | null;
          };
          latencies.sort((a, b) => a - b);
          const median = latencies[3]!;
          const ok = freshness !== null && Math.abs(freshness.p50Ms - median) <= 1000;
          return {
            ok,
            detail: `reported p50 ${freshness?.p50Ms} ms, p99 ${freshness?.p99Ms} ms; probes ${latencies.join(', ')} ms`,
          };
        },
      },
    ];
    const only = process.env.PROBES?.split(',').filter(Boolean);
    const chosen = only ? cases.filter((c) => only.some((o) => c.name.startsWith(o))) : cases;
    const rows: Row[] = [];
    let seed = 900;
    for (const c of chosen) {
      const health = watchHealth(stages);
      const loading = runDemo({
        target: { via: 'http', url: ingest, writeKey: 'canary' },
        rate: RATE,
        durationS: LOAD_S,
        truth: canary,
        logger,
        seed: seed++,
        maxAttempts: 1000,
      });
      await sleep((LOAD_S * 1000) / 3);
      const answer: Answer = await c
        .send()
        .catch((err: unknown) => ({ ok: false, detail: `threw: ${(err as Error).message}` }));
      await loading;
      const slowest = health.stop(answer.killed);
      const ok = await until(converged, 120_000);
      const c2 = await totals(boundary, far);
      const p2 = await totals(early, boundary);
      const expected = eventCount(canary.totals(boundary, far));
      const actual = c2 ? eventCount(c2) : 0;
      rows.push({
        probe: c.name,
        answered: answer.detail,
        ok: answer.ok,
        canaryLost: Math.max(0, expected - actual),
        canaryDoubled: Math.max(0, actual - expected),
        probeExact: ok && p2 !== undefined && same(totalsView(p2), totalsView(probe.totals(early, boundary))),
        slowestHealthz: Object.entries(slowest)
          .map(([s, ms]) => `${s} ${ms === Infinity ? 'no answer' : `${ms} ms`}`)
          .join(', '),
        healthy: Object.values(slowest).every((ms) => ms < HEALTHZ_MAX_MS),
      });
      process.stderr.write(
        `probes: ${c.name}: ${answer.ok ? 'as documented' : 'NOT as documented'} (${answer.detail}); ${ok ? 'converged' : 'did NOT converge'}; canary ${actual}/${expected}\n`,
      );
    }
    const header =
      '| probe | answered | as documented | canary lost | canary double-counted | probe events exact | slowest /healthz per stage during the case | all under 1 s |\n|---|---|---|---|---|---|---|---|';
    const table = rows
      .map(
        (r) =>
          `| ${r.probe} | ${r.answered} | ${r.ok ? 'yes' : 'NO'} | ${r.canaryLost} | ${r.canaryDoubled} | ${r.probeExact ? 'yes' : 'NO'} | ${r.slowestHealthz} | ${r.healthy ? 'yes' : 'NO'} |`,
      )
      .join('\n');
    process.stdout.write(
      `\ntributary start (defaults), 1 broker, canary ${RATE} events/s over HTTP (${LOAD_S} s per case)\n\n${header}\n${table}\n\n`,
    );
    const failed = rows.some((r) => !r.ok || r.canaryLost > 0 || r.canaryDoubled > 0 || !r.probeExact || !r.healthy);
    process.stdout.write(
      failed
        ? 'PROBE SUITE FAILED\n'
        : `probe suite: ${rows.length} cases answered as documented, canary exact, every stage answered /healthz within 1 s\n`,
    );
    process.exitCode = failed ? 1 : 0;
  } finally {
    await killAndWait(start, 'SIGTERM');
    await broker.stop();
  }
}

/**
 * Polls every stage's /healthz every 100 ms until stopped, and gives each stage's slowest answer
 * (Infinity for one that did not answer within 5 s); the stage a case kills on purpose is left out.
 */
function watchHealth(stages: Record<string, string>): { stop: (killed?: string) => Record<string, number> } {
  const slowest: Record<string, number> = Object.fromEntries(Object.keys(stages).map((s) => [s, 0]));
  let running = true;
  const loops = Object.entries(stages).map(async ([stage, base]) => {
    while (running) {
      const t0 = performance.now();
      const ok = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5000) })
        .then((r) => r.status === 200)
        .catch(() => false);
      slowest[stage] = Math.max(slowest[stage]!, ok ? Math.round(performance.now() - t0) : Infinity);
      await sleep(100);
    }
  });
  return {
    stop: (killed) => {
      running = false;
      void Promise.all(loops);
      const out = { ...slowest };
      if (killed) delete out[killed];
      return out;
    },
  };
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err) => {
    process.stderr.write(`probes: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
