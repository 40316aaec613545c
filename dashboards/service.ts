import type { AddressInfo } from 'node:net';
import type { ClickHouseClient } from '@clickhouse/client';
import { type Kafka, connectAdmin } from '../platform/kafka/client';
import type { Registry } from 'prom-client';
import { urlFor, type Config } from '../platform/config';
import type { Logger } from '../platform/logger';
import type { ReadinessCheck } from '../platform/http/ops';
import { dashboardApp } from './api';
import { listenHardened } from '../platform/http/server';
import { DashboardQueries } from './queries';
import { openDeclarations } from '../schemas/declarations/log';

export interface DashboardService {
  url: string;
  close(): Promise<void>;
}

export async function startDashboard(deps: {
  config: Config;
  clickhouse: ClickHouseClient;
  kafka: Kafka;
  logger: Logger;
  metrics: Registry;
  port?: number;
  streamIntervalMs?: number;
  /** More readiness checks (`tributary start`: the sink it hosts). */
  checks?: ReadinessCheck[];
}): Promise<DashboardService> {
  const admin = await connectAdmin(deps.kafka);
  const declarations = await openDeclarations({
    kafka: deps.kafka,
    logger: deps.logger,
    rollupsTopic: deps.config.topics.rollups,
    replicationFactor: deps.config.kafka.replicationFactor,
  }).catch(async (err: unknown) => {
    await admin.disconnect();
    await declarations.log.close();
    throw err;
  });
  const app = dashboardApp({
    declarations: declarations.book,
    queries: new DashboardQueries(
      deps.clickhouse,
      deps.config.clickhouse.database,
      deps.config.dashboard.queryTimeoutMs,
      undefined,
      deps.config.dashboard.queryMaxMemoryBytes,
    ),
    admin,
    config: deps.config,
    logger: deps.logger,
    metrics: deps.metrics,
    streamIntervalMs: deps.streamIntervalMs,
    checks: [
      {
        name: 'clickhouse',
        check: async () => {
          await deps.clickhouse.query({ query: 'SELECT 1', format: 'JSONEachRow' }).then((r) => r.json());
        },
      },
      {
        name: 'kafka',
        check: async () => {
          await admin.describeCluster();
        },
      },
      ...(deps.checks ?? []),
    ],
  });
  const server = await listenHardened(
    app,
    deps.port ?? deps.config.dashboardPort,
    deps.config.hosts.dashboard,
    'dashboard',
    deps.config.http,
  ).catch(async (err: unknown) => {
    await admin.disconnect();
    await declarations.log.close();
    throw err;
  });
  const url = urlFor(deps.config.hosts.dashboard, (server.address() as AddressInfo).port);
  deps.logger.info({ url }, 'dashboard.listening');
  return {
    url,
    async close() {
      (app.locals.hub as { close(): void }).close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await admin.disconnect();
      await declarations.log.close();
    },
  };
}
