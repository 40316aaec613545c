import { writeKeyBanner } from '../producers/ingest/auth';
import { Command } from 'commander';
import { type ClickHouseClient, createClickHouse, describeClickHouse } from '../platform/clickhouse/client';
import { startEmbeddedRegistry } from '../schemas/registry/embedded';
import { SCHEMAS_TOPIC } from '../schemas/registry/kafka-log';
import { startIngest } from '../producers/ingest/service';
import { startProcessor } from '../streams/service';
import { startSink } from '../consumers/service';
import { startDashboard } from '../dashboards/service';
import type { CliContext } from './context';
import { intOption } from './options';
import { runStage, type RunningStage, type StageDeps } from './stage';
import { serveOps } from '../platform/http/ops';
import { boundHeapGrowth } from '../platform/heap-growth';

/**
 * The pipeline's stages, one process each (`tributary start` runs them all on one machine).
 * Each command is its stage's start and the line it prints; runStage does the rest.
 */

export function ingestCommand(ctx: CliContext): Command {
  return new Command('ingest')
    .summary('run the ingestion endpoint: POST /v1/events on :8080')
    .description(
      'Validates events against the registered Avro schemas and produces them to events.users / events.orders (acks=all), answering 202 with receipts once Kafka acknowledged. Needs a schema registry (SCHEMA_REGISTRY_URL, or `tributary registry`).',
    )
    .action(() =>
      runStage(ctx, 'ingest', async (deps) => {
        const ingest = await startIngest(deps);
        const key = writeKeyBanner(
          { keys: null, developmentKey: ingest.developmentKey },
          deps.config.dataDir,
          ctx.outIsTerminal === true,
        );
        return {
          stop: () => ingest.close(),
          banner: `Ingestion endpoint: ${ingest.url}/v1/events${key ? `  ${key}` : ''}`,
        };
      }),
    );
}

export function processCommand(ctx: CliContext): Command {
  return new Command('process')
    .summary('run the stream processor: per-partition 1-minute rollups to the rollups topic')
    .description(
      'Consumer group PROCESS_GROUP_ID (tributary-rollups) over events.users and events.orders; emits rollup rows every FLUSH_INTERVAL_MS and commits segment starts (SEGMENT_SIZE). Run more instances to spread partitions.',
    )
    .action(() => runStage(ctx, 'process', startProcessorStage));
}

/** The processor with its ops server (PROCESS_PORT); a test may pass deps with its own schema client. */
export async function startProcessorStage(deps: StageDeps): Promise<RunningStage> {
  boundHeapGrowth();
  const processor = await startProcessor(deps);
  const ops = await serveOps(
    deps.config.processor.port,
    deps.metrics,
    [{ name: 'progress', check: () => processor.checkProgress() }],
    'processor metrics, PROCESS_PORT',
    { host: deps.config.hosts.other, metricsKeys: deps.config.readKeys, http: deps.config.http },
  ).catch(async (err: unknown) => {
    await processor.stop();
    throw err;
  });
  return {
    stop: async () => {
      await processor.stop();
      await ops.close();
    },
    banner: `Stream processor running (group ${deps.config.processor.groupId}; ${ops.url}/readyz, /metrics)`,
  };
}

/**
 * The sink with its ClickHouse client; `wrapClickHouse` lets a test put a fault injector between
 * them (test/faults/faulty-sink.ts) without a switch in this code path.
 */
export async function startSinkStage(
  deps: StageDeps,
  wrapClickHouse: (client: ClickHouseClient) => ClickHouseClient = (client) => client,
): Promise<RunningStage> {
  const { config } = deps;
  const clickhouse = wrapClickHouse(createClickHouse(config.clickhouse, config.dataDir));
  try {
    const sink = await startSink({ ...deps, clickhouse });
    const ops = await serveOps(
      config.sink.port,
      deps.metrics,
      [{ name: 'progress', check: () => sink.checkProgress() }],
      'sink metrics, SINK_PORT',
      { host: config.hosts.other, metricsKeys: config.readKeys, http: config.http },
    ).catch(async (err: unknown) => {
      await sink.stop();
      throw err;
    });
    return {
      stop: async () => {
        await sink.stop();
        await ops.close();
        await clickhouse.close();
      },
      banner: `ClickHouse sink running into ${describeClickHouse(config.clickhouse, config.dataDir)} (group ${config.sink.groupId}; ${ops.url}/readyz, /metrics)`,
    };
  } catch (err) {
    await clickhouse.close();
    throw err;
  }
}

/**
 * The sink and the dashboard in one process, on one ClickHouse client: with the embedded engine
 * one process owns DATA_DIR/clickhouse, so the dashboard must read it from there. The
 * dashboard's /readyz also says whether the sink makes progress, and its /metrics serves the
 * sink's; the sink opens no ops port of its own.
 */
async function startSinkWithDashboard(deps: StageDeps): Promise<RunningStage> {
  const { config } = deps;
  const clickhouse = createClickHouse(config.clickhouse, config.dataDir);
  try {
    const sink = await startSink({ ...deps, clickhouse });
    const dashboard = await startDashboard({
      ...deps,
      clickhouse,
      checks: [{ name: 'sink', check: () => sink.checkProgress() }],
    }).catch(async (err: unknown) => {
      await sink.stop();
      throw err;
    });
    return {
      stop: async () => {
        await dashboard.close();
        await sink.stop();
        await clickhouse.close();
      },
      banner: `ClickHouse sink running into ${describeClickHouse(config.clickhouse, config.dataDir)} (group ${config.sink.groupId}); dashboard: ${dashboard.url}`,
    };
  } catch (err) {
    await clickhouse.close();
    throw err;
  }
}

export function sinkCommand(ctx: CliContext): Command {
  return new Command('sink')
    .summary('run the ClickHouse sink: rollups topic → ClickHouse tables, committed after insert')
    .description(
      'Consumer group SINK_GROUP_ID (tributary-clickhouse-sink). Runs the migrations first. With the embedded engine (no CLICKHOUSE_URL) this process owns DATA_DIR/clickhouse: add --with-dashboard to serve the dashboard from the same data (what `tributary start` runs).',
    )
    .option('--with-dashboard', "also serve the dashboard (DASHBOARD_PORT) from this process's ClickHouse client")
    .action((opts: { withDashboard?: boolean }) =>
      runStage(ctx, 'sink', (deps) => (opts.withDashboard ? startSinkWithDashboard(deps) : startSinkStage(deps))),
    );
}

export function dashboardCommand(ctx: CliContext): Command {
  return new Command('dashboard')
    .summary('serve the dashboard API and live web page on :3000')
    .description(
      'Reads ClickHouse (CLICKHOUSE_URL; the embedded engine only when no other process owns DATA_DIR/clickhouse, so prefer `tributary start` on one machine).',
    )
    .action(() =>
      runStage(ctx, 'dashboard', async (deps) => {
        const clickhouse = createClickHouse(deps.config.clickhouse, deps.config.dataDir);
        const dashboard = await startDashboard({ ...deps, clickhouse }).catch(async (err: unknown) => {
          await clickhouse.close();
          throw err;
        });
        return {
          stop: async () => {
            await dashboard.close();
            await clickhouse.close();
          },
          banner: `Dashboard: ${dashboard.url}`,
        };
      }),
    );
}

export function registryCommand(ctx: CliContext): Command {
  return new Command('registry')
    .summary('run the embedded Confluent-compatible Schema Registry (REST API on :8081)')
    .description(
      `Serves the Confluent Schema Registry REST API, storing schemas in the compacted ${SCHEMAS_TOPIC} topic of KAFKA_BROKERS. Run one instance that takes writes.`,
    )
    .option('--port <port>', 'HTTP port (default REGISTRY_PORT, 8081)', intOption('--port', 0, 65535))
    .action((opts: { port?: number }) =>
      runStage(ctx, 'registry', async ({ config, kafka, logger, metrics }) => {
        const registry = await startEmbeddedRegistry({
          kafka,
          logger,
          metrics,
          port: opts.port ?? config.registry.port,
          host: config.hosts.other,
          access: config.registry,
          http: config.http,
        });
        return {
          stop: () => registry.close(),
          banner: `Schema Registry ready: SCHEMA_REGISTRY_URL=${registry.url} (Ctrl-C to stop)`,
        };
      }),
    );
}
