import path from 'node:path';
import { Command } from 'commander';
import { LOOPBACK, STAGES_FILE, urlFor, type Config } from '../platform/config';
import { loadConfig } from './config';
import { errorMessage } from '../platform/errors';
import { createLogger, resolveLogFormat, routeProcessWarnings, type Logger } from '../platform/logger';
import { assertPortFree } from '../platform/local/ports';
import { LocalKafka, localKafkaRoot } from '../platform/local/kafka';
import { acquireRunLock } from '../platform/local/run-lock';
import { prepareDataDir } from '../platform/local/data-dir';
import { connectAdmin, createKafka } from '../platform/kafka/client';
import { ensureTopics, pipelineTopics } from '../platform/kafka/topics';
import { describeClickHouse } from '../platform/clickhouse/client';
import { resolveWriteAuth, writeKeyBanner } from '../producers/ingest/auth';
import { LocalRabbitMQ } from '../platform/local/rabbitmq';
import { LocalSqs } from '../platform/local/elasticmq';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { sqsClient } from '../producers/bridge/sqs';
import { StageBoard, supervise, waitReady, type StageState } from './supervise';
import { liveStatus } from './status';
import { DEMO_RABBITMQ_QUEUE, demoOptions, driveDemo, type DemoCommandOptions } from './demo';
import { applyEventTypes } from './events';
import { applyDeclarations } from './rollups';

/** The example declarations shipped with Tributary (beside cli/, in the source and in dist/ alike). */
const EXAMPLE_ROLLUPS = path.join(__dirname, '..', 'rollups', 'examples');
const EXAMPLE_EVENTS = path.join(__dirname, '..', 'events', 'examples');
import type { CliContext } from './context';

export function startCommand(ctx: CliContext): Command {
  return demoOptions(
    new Command('start')
      .summary('run the whole pipeline on this machine (Kafka, registry, ingest, process, sink, dashboard)')
      .description(
        'The local Kafka broker unless KAFKA_BROKERS, the embedded registry unless SCHEMA_REGISTRY_URL, chDB unless CLICKHOUSE_URL. Ingest and the processor run as child processes (both cores); this process hosts the registry, the sink and the dashboard. With --via rabbitmq or sqs, also a bridge (and a local RabbitMQ node or ElasticMQ unless RABBITMQ_URL / SQS_QUEUE_URL). Ctrl-C stops every stage in order.',
      )
      .option(
        '--demo',
        'also send demo traffic (see `tributary demo`); applies the example event types (events/examples) unless --events and the example rollups (rollups/examples) unless --rollups',
      )
      .option(
        '--events <path>',
        'apply these event types (a file or directory, see `tributary events apply`) once the registry runs',
      )
      .option(
        '--rollups <path>',
        'apply these rollup declarations (a file or directory, see `tributary rollups apply`) once the topics exist',
      )
      .option('--verbose', "on a terminal, show the stages' info logs too (by default only their warnings and errors)"),
  ).action(
    async (opts: DemoCommandOptions & { demo?: boolean; verbose?: boolean; rollups?: string; events?: string }) => {
      const config = loadConfig(ctx.env);
      // For a person (pretty), the start-up is the banner and the status line; its steps are --verbose.
      const quiet = resolveLogFormat(config.logFormat) === 'pretty' && !opts.verbose && config.logLevel === 'info';
      const logger = createLogger(quiet ? 'warn' : config.logLevel, 'start', config.logFormat);
      routeProcessWarnings(logger);
      const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
      let shuttingDown = false;
      const shutdown = async (code: number) => {
        if (shuttingDown) return;
        shuttingDown = true;
        ctx.out('Stopping…\n');
        for (const { name, stop } of [...stops].reverse()) {
          try {
            await stop();
            logger.info({ stage: name }, 'start.stage.stopped');
          } catch (err) {
            logger.error({ stage: name, err }, 'start.stage.stop_failed');
          }
        }
        process.exit(code);
      };
      process.once('SIGINT', () => void shutdown(0));
      process.once('SIGTERM', () => void shutdown(0));
      try {
        await runAll(ctx, config, logger, opts, stops, () => shuttingDown);
      } catch (err) {
        ctx.err(`tributary: ${errorMessage(err)}\n`);
        await shutdown(1);
      }
    },
  );
}

async function runAll(
  ctx: CliContext,
  config: Config,
  logger: Logger,
  opts: DemoCommandOptions & { demo?: boolean; verbose?: boolean; rollups?: string; events?: string },
  stops: Array<{ name: string; stop: () => Promise<void> }>,
  stopping: () => boolean,
): Promise<void> {
  prepareDataDir(config.dataDir, config.dataDirMinFreeBytes);
  // One supervisor per DATA_DIR, before anything binds a port; leftovers of a killed one are stopped.
  const lock = await acquireRunLock(config.dataDir, 'start');
  stops.push({ name: 'run lock', stop: async () => lock.release() });
  if (lock.stoppedLeftovers.length > 0)
    ctx.err(
      `tributary: stopped what an earlier run on ${config.dataDir} left running: ${lock.stoppedLeftovers.join('; ')}\n`,
    );
  await assertPortFree(config.ingestPort, 'ingestion endpoint, INGEST_PORT');
  await assertPortFree(config.dashboardPort, 'dashboard, DASHBOARD_PORT');
  if (config.registry.embedded) await assertPortFree(config.registry.port, 'schema registry, REGISTRY_PORT');
  if (config.processor.port !== 0) await assertPortFree(config.processor.port, 'processor metrics, PROCESS_PORT');

  // For a person: what is happening while nothing is listening yet (the logs say it in JSON).
  const step = (text: string) => {
    if (resolveLogFormat(config.logFormat) === 'pretty') ctx.out(`${text}\n`);
  };
  let brokers = config.kafka.brokers;
  if (config.kafka.local) {
    // Its broker's directory too: a `tributary kafka` may be running there.
    const brokerLock = await acquireRunLock(localKafkaRoot(config.dataDir, 1), 'start');
    stops.push({ name: 'broker run lock', stop: async () => brokerLock.release() });
    step(
      `Starting Kafka on :${brokers[0]!.split(':')[1]} (the first run fetches its jars from Maven Central into ${path.join(config.dataDir, 'maven')})…`,
    );
    const broker = await LocalKafka.start({
      dataDir: config.dataDir,
      mavenRepo: path.join(config.dataDir, 'maven'),
      logger,
      port: Number(brokers[0]!.split(':')[1]),
      env: ctx.env,
    });
    stops.push({ name: 'kafka', stop: () => broker.stop() });
    broker.pids.forEach((pid) => lock.addChild(pid));
    brokers = broker.brokers;
  }
  const kafkaConfig = { ...config.kafka, brokers };
  const kafka = createKafka({ config: kafkaConfig, logger, clientId: 'tributary-start' });
  const admin = await connectAdmin(kafka);
  await ensureTopics(
    admin,
    pipelineTopics(config.kafka.eventPartitions, config.topics, config.kafka.eventRetentionMs),
    logger,
    config.kafka.replicationFactor,
  );
  await admin.disconnect();

  step('Starting the registry, the sink and the dashboard, then ingest and the processor…');
  // Every stage is a process of its own, started again if it dies (supervise): one stage's crash,
  // out-of-memory or blocked event loop cannot stop another. Their states go to STAGES_FILE, which
  // the dashboard's /api/pipeline reads.
  const board = new StageBoard(path.join(config.dataDir, STAGES_FILE));
  const record = (child: { pid?: number }) => lock.addChild(child.pid);
  const registryUrl = config.registry.embedded ? urlFor(config.hosts.other, config.registry.port) : config.registry.url;
  const auth = resolveWriteAuth(config);
  // Child stages see the running broker and registry as if configured externally.
  const childEnv: NodeJS.ProcessEnv = {
    ...ctx.env,
    KAFKA_BROKERS: brokers.join(','),
    SCHEMA_REGISTRY_URL: registryUrl,
    ...(auth.keys ? { WRITE_KEYS: auth.keys.join(',') } : { INGEST_AUTH: 'off' }),
    // Our own broker writes into DATA_DIR: ingest stops accepting before that disk is full.
    ...(config.kafka.local ? { INGEST_DISK_GUARD: 'on' } : {}),
    STAGES_FILE: path.join(config.dataDir, STAGES_FILE),
    // The stages log as this process does; for a person (pretty), only their warnings and errors unless --verbose.
    LOG_FORMAT: resolveLogFormat(config.logFormat),
    ...(resolveLogFormat(config.logFormat) === 'pretty' && !opts.verbose && config.logLevel === 'info'
      ? { LOG_LEVEL: 'warn' }
      : {}),
  };
  if (config.registry.embedded) {
    // The registry answers to its own users (REGISTRY_USERS), as configured for this command.
    const registry = supervise(
      ctx.self,
      ['registry'],
      { ...childEnv, SCHEMA_REGISTRY_URL: undefined },
      logger,
      stopping,
      record,
      board.update,
    );
    stops.push({ name: 'registry', stop: () => registry.stop() });
    await waitReady(`${registryUrl}/readyz`, 120_000);
  }
  // Declared event types, then rollups (which may read them): refused before the other stages start when one is wrong, like `events apply` and `rollups apply`.
  const given = {
    config: { ...config, kafka: kafkaConfig, registry: { ...config.registry, url: registryUrl } },
    kafka,
  };
  const events = opts.events ?? (opts.demo ? EXAMPLE_EVENTS : undefined);
  if (events)
    ctx.out(
      `Declared event types from ${path.relative(process.cwd(), events) || '.'}:\n${await applyEventTypes(ctx, events, { brief: true }, given)}`,
    );
  const rollups = opts.rollups ?? (opts.demo ? EXAMPLE_ROLLUPS : undefined);
  if (rollups)
    ctx.out(
      `Declared rollups from ${path.relative(process.cwd(), rollups) || '.'}:\n${await applyDeclarations(ctx, rollups, {}, given)}`,
    );
  // The sink and the dashboard share one process: with the embedded engine one process owns
  // DATA_DIR/clickhouse. The dashboard's /metrics serves the sink's.
  const store = supervise(ctx.self, ['sink', '--with-dashboard'], childEnv, logger, stopping, record, board.update);
  stops.push({ name: 'sink+dashboard', stop: () => store.stop() });
  const dashboardUrl = urlFor(config.hosts.dashboard, config.dashboardPort);
  await waitReady(`${dashboardUrl}/readyz`, 120_000);

  const processor = supervise(ctx.self, ['process'], childEnv, logger, stopping, record, board.update);
  stops.push({ name: 'process', stop: () => processor.stop() });
  const ingest = supervise(ctx.self, ['ingest'], childEnv, logger, stopping, record, board.update);
  stops.push({ name: 'ingest', stop: () => ingest.stop() });
  const ingestUrl = urlFor(config.hosts.ingest, config.ingestPort);
  await waitReady(`${ingestUrl}/readyz`, 120_000);
  // The processor opens its ops port once it has joined its group: the banner below waits for it too.
  if (config.processor.port !== 0)
    await waitReady(`${urlFor(config.hosts.other, config.processor.port)}/healthz`, 120_000);

  const bridge =
    opts.via === 'rabbitmq' || opts.via === 'sqs'
      ? await startBridgeStage(ctx, config, opts, childEnv, logger, stops, stopping, record, board.update)
      : undefined;

  ctx.out(
    [
      'Tributary is running:',
      `  dashboard   ${dashboardUrl}`,
      `  ingest      ${ingestUrl}/v1/events${auth.developmentKey ? `   ${writeKeyBanner(auth, config.dataDir, ctx.outIsTerminal === true)}` : ''}`,
      `  registry    ${registryUrl}`,
      `  kafka       ${brokers.join(',')}`,
      `  clickhouse  ${describeClickHouse(config.clickhouse, config.dataDir)}`,
      ...(bridge ? [`  bridge      ${bridge.description}`] : []),
      exposure(config),
      'Ctrl-C stops every stage in order.',
      '',
    ].join('\n'),
  );

  if (opts.demo) {
    const controller = new AbortController();
    const demo = driveDemo(
      {
        ...config,
        kafka: kafkaConfig,
        registry: { ...config.registry, url: registryUrl },
        bridge: { ...config.bridge, ...bridge?.config },
      },
      logger,
      { ...opts, ...(bridge ? { queue: bridge.queue } : {}) },
      controller.signal,
      ingestUrl,
    );
    // First to stop on Ctrl-C: the demo, so every event it sent is either acknowledged or not counted.
    stops.push({
      name: 'demo',
      stop: async () => {
        controller.abort();
        await demo;
      },
    });
    ctx.out(
      `Demo traffic: ${opts.rate} events/s via ${opts.via}; ground truth in ${path.join(config.dataDir, 'demo-ledger.json')} on stop\n`,
    );
  }
  // On a terminal: a status line refreshed in place (the first thing stopped on Ctrl-C).
  const stopStatus = liveStatus(dashboardUrl, config.readKeys[0]);
  stops.push({ name: 'status', stop: async () => stopStatus() });
}

/**
 * `--via rabbitmq|sqs`: the bridge as a supervised child, consuming the demo queue of a local
 * RabbitMQ node / ElasticMQ started here unless RABBITMQ_URL / SQS_QUEUE_URL point elsewhere.
 */
async function startBridgeStage(
  ctx: CliContext,
  config: Config,
  opts: DemoCommandOptions,
  env: NodeJS.ProcessEnv,
  logger: Logger,
  stops: Array<{ name: string; stop: () => Promise<void> }>,
  stopping: () => boolean,
  onSpawn: (child: { pid?: number }) => void,
  onChange: (state: StageState) => void,
): Promise<{ description: string; queue: string; config: Partial<Config['bridge']> }> {
  await assertPortFree(config.bridge.port, 'bridge metrics, BRIDGE_PORT');
  let args: string[];
  let queue: string;
  let bridgeConfig: Partial<Config['bridge']>;
  if (opts.via === 'rabbitmq') {
    let url = config.bridge.rabbitmqUrl;
    if (!url) {
      const rabbit = await LocalRabbitMQ.start({ dataDir: config.dataDir, logger, env: ctx.env });
      stops.push({ name: 'rabbitmq', stop: () => rabbit.stop() });
      url = rabbit.url;
    }
    queue = opts.queue ?? DEMO_RABBITMQ_QUEUE;
    // The URL (with its password) goes to the bridge in its environment, never on argv, which `ps` shows.
    args = ['bridge', 'rabbitmq', '--queue', queue];
    bridgeConfig = { rabbitmqUrl: url };
  } else {
    let queueUrl = opts.queue ?? config.bridge.sqsQueueUrl;
    if (!queueUrl) {
      const sqs = await LocalSqs.start({
        dataDir: config.dataDir,
        mavenRepo: path.join(config.dataDir, 'maven'),
        logger,
        env: ctx.env,
      });
      stops.push({ name: 'sqs', stop: () => sqs.stop() });
      const client = sqsClient({ queueUrl: `${sqs.endpoint}/000000000000/tributary-events` });
      queueUrl = (await client.send(new CreateQueueCommand({ QueueName: 'tributary-events' }))).QueueUrl!;
      client.destroy();
    }
    queue = queueUrl;
    args = ['bridge', 'sqs', '--queue-url', queueUrl];
    bridgeConfig = { sqsQueueUrl: queueUrl };
  }
  const bridge = supervise(
    ctx.self,
    args,
    { ...env, ...(bridgeConfig.rabbitmqUrl ? { RABBITMQ_URL: bridgeConfig.rabbitmqUrl } : {}) },
    logger,
    stopping,
    onSpawn,
    onChange,
  );
  stops.push({ name: 'bridge', stop: () => bridge.stop() });
  const bridgeUrl = urlFor(config.hosts.other, config.bridge.port);
  await waitReady(`${bridgeUrl}/readyz`, 60_000);
  return { description: `${opts.via}:${queue} → Kafka (metrics ${bridgeUrl}/metrics)`, queue, config: bridgeConfig };
}

/** What this machine exposes: loopback only by default; any server opened by a host setting, named. */
function exposure(config: Config): string {
  const open = [
    ['ingest', config.hosts.ingest, 'INGEST_HOST'],
    ['dashboard', config.hosts.dashboard, 'DASHBOARD_HOST'],
    ['registry and metrics', config.hosts.other, 'BIND_HOST'],
  ].filter(([, host]) => host !== LOOPBACK && host !== 'localhost' && host !== '::1');
  if (open.length === 0)
    return 'Listening on 127.0.0.1 only (BIND_HOST, INGEST_HOST, DASHBOARD_HOST open them to a network).';
  return `Open to the network: ${open.map(([what, host, setting]) => `${what} on ${host === '0.0.0.0' || host === '::' ? 'every interface' : host} (${setting})`).join(', ')}; the rest on 127.0.0.1.`;
}
