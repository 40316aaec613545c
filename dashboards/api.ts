import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Admin } from '../platform/kafka/client';
import { Counter, type Registry } from 'prom-client';
import type { Config } from '../platform/config';
import type { Logger } from '../platform/logger';
import { opsRouter, type ReadinessCheck } from '../platform/http/ops';
import { keyMatches, presentedKey, refuseReadKey } from '../platform/http/keys';
import { declaredParams, ParameterError, rangeParams, timeseriesParams, topProductsParams } from './params';
import { backfillGroup, DeclarationBook } from '../schemas/declarations/book';
import { coverageOf } from './coverage';
import { openApiDocument } from './openapi';
import { WINDOWS } from '../schemas/declarations/format';
import { setsTableOf, tableOf } from '../schemas/declarations/row';
import { stageLag, topicRecords } from './pipeline-status';
import type { DashboardQueries } from './queries';
import { Sessions, sessionToken } from './sessions';
import { StreamHub } from './stream';

export interface DashboardDeps {
  queries: DashboardQueries;
  admin: Admin;
  config: Pick<Config, 'topics' | 'processor' | 'sink' | 'readKeys' | 'dashboard'> &
    Partial<Pick<Config, 'stagesFile'>>;
  logger: Logger;
  metrics: Registry;
  checks?: ReadinessCheck[];
  /** How often /api/stream pushes (ms). */
  streamIntervalMs?: number;
  /** The declared rollups (/api/rollups). */
  declarations?: DeclarationBook;
}

const MINUTE = 60_000;

/** The dashboard: JSON API under /api, the web page at /, Chart.js served from node_modules (works offline). */
export function dashboardApp(deps: DashboardDeps): express.Express {
  const { queries } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.use(opsRouter(deps.metrics, deps.checks ?? [], deps.config.readKeys));
  app.use('/vendor/chart.js', express.static(path.dirname(require.resolve('chart.js'))));
  app.use(express.static(path.join(__dirname, 'public')));

  // The API's description: public, like the page that uses it.
  const openapi = openApiDocument();
  app.get('/api/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  const sessions = new Sessions();
  const readKeys = deps.config.readKeys;
  // The page trades a read key (in a header) for an HttpOnly cookie, so its EventSource needs no key in the URL.
  app.post('/api/session', (req: Request, res: Response) => {
    const key = presentedKey(req.headers.authorization);
    if (readKeys.length > 0 && (!key || !keyMatches(key, readKeys))) return unauthorized(res);
    res.set('Set-Cookie', sessions.cookie(sessions.create())).status(204).end();
  });
  app.use('/api', (req: Request, res: Response, next: NextFunction) => {
    if (readKeys.length === 0) return next();
    const key = presentedKey(req.headers.authorization);
    if ((key && keyMatches(key, readKeys)) || sessions.valid(sessionToken(req.headers.cookie))) return next();
    unauthorized(res);
  });
  // A query of a client that went away is cancelled in ClickHouse, not left running.
  app.use('/api', (req: Request, res: Response, next: NextFunction) => {
    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    res.locals.queries = queries.withSignal(abort.signal);
    next();
  });
  const q = (res: Response) => res.locals.queries as DashboardQueries;

  app.get('/api/totals', async (req, res) => {
    const r = rangeParams(req.query);
    res.json(await totalsBody(q(res), r));
  });

  app.get('/api/timeseries', async (req, res) => {
    const p = timeseriesParams(req.query);
    const { points, truncated } = await q(res).timeseries(p.metric, p, p.interval, p.groupBy);
    res.json({
      metric: p.metric,
      interval: p.interval,
      groupBy: p.groupBy ?? null,
      from: iso(p.from),
      to: iso(p.to),
      points,
      truncated,
    });
  });

  app.get('/api/top-products', async (req, res) => {
    const p = topProductsParams(req.query);
    res.json({ from: iso(p.from), to: iso(p.to), products: await q(res).topProducts(p, p.limit) });
  });

  const book = deps.declarations ?? new DeclarationBook();
  const describe = async (name: string) => {
    const versions = book.versionsOf(name) ?? [];
    const served = book.served(name);
    const latest = versions.filter((s) => !s.dropped).at(-1) ?? versions.at(-1);
    return {
      name,
      builtin: versions.some((s) => s.record.builtin),
      served: served?.record.version ?? null,
      declaration: (served ?? latest)?.record.declaration,
      versions: await Promise.all(
        versions.map(async (s) => ({
          version: s.record.version,
          appliedAt: s.record.builtin ? null : iso(s.record.appliedAt),
          declaration: s.record.declaration,
          coverage: await coverageOf(
            deps.admin,
            backfillGroup(deps.config.processor.groupId, s.record.name, s.record.version),
            s,
          ),
        })),
      ),
    };
  };
  app.get('/api/rollups', async (_req, res) => {
    const names = [...new Set((book.all() ?? []).map((s) => s.record.name))];
    res.json({ rollups: await Promise.all(names.map(describe)), upgrade: book.upgrade() });
  });
  app.get('/api/rollups/:name', async (req, res) => {
    const name = String(req.params.name);
    const versions = book.versionsOf(name) ?? [];
    if (versions.length === 0)
      return res.status(404).json({ error: 'not_found', message: `no declared rollup ${name}; see /api/rollups` });
    const served = book.served(name);
    const latest = versions.filter((s) => !s.dropped).at(-1) ?? versions.at(-1)!;
    const target = served ?? latest;
    const p = declaredParams(req.query, target.record.declaration);
    const coverage = await coverageOf(
      deps.admin,
      backfillGroup(deps.config.processor.groupId, target.record.name, target.record.version),
      target,
    );
    const head = {
      rollup: name,
      version: served ? served.record.version : null,
      measure: p.measure.column,
      window: target.record.declaration.window,
      interval: p.interval,
      groupBy: p.groupBy,
      filter: p.filter,
      from: iso(p.from),
      to: iso(p.to),
      coverage,
    };
    // Until a version covers its history, nothing is answered from it: no mix of versions, no partial history.
    if (!served) return res.json({ ...head, points: [], truncated: false });
    const { points, truncated } = await q(res).declaredSeries({
      table: tableOf(name, served.record.version),
      setsTable: setsTableOf(name, served.record.version),
      measure: p.measure,
      range: { from: p.from - (p.from % WINDOWS[served.record.declaration.window]), to: p.to },
      interval: p.interval,
      groupBy: p.groupBy,
      filter: p.filter,
    });
    res.json({ ...head, points, truncated });
  });

  const rates = new RateSampler();
  app.get('/api/pipeline', async (_req, res) => {
    const queries = q(res);
    const { topics, processor, sink } = deps.config;
    const [processLag, sinkLag, events, rollups, deadLetters, freshness, parts, folded] = await Promise.all([
      stageLag(deps.admin, 'process', processor.groupId, [topics.users, topics.orders]),
      stageLag(deps.admin, 'sink', sink.groupId, [topics.rollups]),
      topicRecords(deps.admin, topics.users).then(async (u) => u + (await topicRecords(deps.admin, topics.orders))),
      topicRecords(deps.admin, topics.rollups),
      topicRecords(deps.admin, topics.dlq),
      queries.freshness(),
      queries.parts(),
      queries.folded(),
    ]);
    const sinkCommitted = sinkLag.partitions.reduce((n, p) => n + Math.max(0, p.committed), 0);
    res.json({
      asOf: new Date().toISOString(),
      stages: [
        {
          stage: 'ingest',
          topic: `${topics.users}+${topics.orders}`,
          records: events,
          recordsPerSecond: rates.rate('events', events),
        },
        {
          stage: 'process',
          group: processor.groupId,
          lag: processLag.totalLag,
          partitions: processLag.partitions,
          rowsPerSecond: rates.rate('rollups', rollups),
        },
        {
          stage: 'sink',
          group: sink.groupId,
          lag: sinkLag.totalLag,
          partitions: sinkLag.partitions,
          rowsPerSecond: rates.rate('sink', sinkCommitted),
        },
      ],
      deadLetters,
      // Received → queryable of the events inserted in the last minute; null: idle.
      freshness,
      // Active parts and inserts so far per ClickHouse table (dashboards/queries.ts `parts`).
      clickhouse: { tables: parts },
      // Events counted under __other__ in rows written in the last hour, per kind.dimension: a window had more values than its bound.
      folded,
      // Under `tributary start`: each stage's process, and how often it died and was started again.
      supervisor: supervisedStages(deps.config.stagesFile),
    });
  });

  const hub = new StreamHub(
    async (signal) => {
      const live = queries.withSignal(signal);
      const now = Date.now();
      const windowStart = now - (now % MINUTE);
      const [current, lastHour, freshness] = await Promise.all([
        totalsBody(live, { from: windowStart, to: windowStart + MINUTE }),
        totalsBody(live, { from: windowStart - 59 * MINUTE, to: windowStart + MINUTE }),
        live.freshness(),
      ]);
      return { window: iso(windowStart), current, lastHour, freshness };
    },
    {
      intervalMs: deps.streamIntervalMs ?? 1000,
      maxStreams: deps.config.dashboard.maxStreams,
      maxPerClient: deps.config.dashboard.maxStreamsPerClient,
      timeoutMs: deps.config.dashboard.queryTimeoutMs,
    },
  );
  app.locals.hub = hub;
  new Counter({
    name: 'tributary_dashboard_streams_dropped_total',
    help: 'Live streams (/api/stream) closed because their client fell behind by more than 256 KiB',
    registers: [deps.metrics],
    collect() {
      this.reset();
      this.inc(hub.dropped);
    },
  });

  app.get('/api/stream', (req, res) => {
    const client = req.socket.remoteAddress ?? '?';
    const refusal = hub.refusal(client);
    if (refusal) return res.status(429).set('Retry-After', '10').json({ error: 'too_many_streams', message: refusal });
    res.set({
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    // An open stream is not a slow request: the server's request timeout does not apply to it.
    req.socket.setTimeout(0);
    hub.subscribe(res, client);
  });

  app.use('/api', (_req: Request, res: Response) => {
    res.status(404).json({ error: 'not_found', message: 'see /api/openapi.json' });
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ParameterError)
      return res.status(400).json({ error: 'invalid_parameter', parameter: err.parameter, message: err.message });
    if (/MEMORY_LIMIT_EXCEEDED|memory limit exceeded/i.test(String((err as Error).message))) {
      return res.status(422).json({
        error: 'query_too_large',
        message: `the query needs more than the ${deps.config.dashboard.queryMaxMemoryBytes} bytes a dashboard query may use (DASHBOARD_QUERY_MAX_MEMORY_BYTES): narrow from..to, or take a coarser interval`,
      });
    }
    deps.logger.error({ err }, 'dashboard.error');
    res
      .status(503)
      .set('Retry-After', '2')
      .json({ error: 'unavailable', message: `query failed: ${(err as Error).message}` });
  });
  return app;
}

function unauthorized(res: Response): void {
  refuseReadKey(res, ': Authorization: Bearer <key> (the page trades it for a session cookie at POST /api/session)');
}

async function totalsBody(queries: DashboardQueries, r: { from: number; to: number }) {
  const t = await queries.totals(r);
  const now = Date.now();
  return {
    from: iso(r.from),
    to: iso(r.to),
    orders: t.orders,
    userEvents: t.userEvents,
    activeUsers: t.activeUsers,
    asOf: iso(now),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Records per second between two calls, per counter. */
class RateSampler {
  private readonly last = new Map<string, { at: number; value: number }>();
  rate(name: string, value: number): number | null {
    const now = Date.now();
    const prev = this.last.get(name);
    if (prev && now - prev.at < 200) return null;
    this.last.set(name, { at: now, value });
    if (!prev) return null;
    return Math.max(0, Math.round(((value - prev.value) * 1000) / (now - prev.at)));
  }
}

/** The stages `tributary start` supervises, from its STAGES_FILE; null when not under start (or not written yet). */
function supervisedStages(
  file: string | undefined,
): Array<{ stage: string; pid: number | null; restarts: number; lastExit: unknown }> | null {
  if (!file) return null;
  try {
    const { stages } = JSON.parse(readFileSync(file, 'utf8')) as {
      stages: Array<{ stage: string; pid?: number; restarts: number; lastExit: unknown }>;
    };
    return stages.map((s) => ({ stage: s.stage, pid: s.pid ?? null, restarts: s.restarts, lastExit: s.lastExit }));
  } catch {
    return null;
  }
}
