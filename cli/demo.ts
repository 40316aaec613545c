import { mkdirSync } from 'node:fs';
import { writePrivateFile } from '../platform/local/data-dir';
import path from 'node:path';
import { Command, Option } from 'commander';
import type { Config } from '../platform/config';
import { loadConfig } from './config';
import { createLogger, type Logger } from '../platform/logger';
import { resolveWriteAuth } from '../producers/ingest/auth';
import { TributaryProducer } from '../producers/tributary-producer';
import { GroundTruth } from '../producers/demo/ground-truth';
import { runDemo, type DemoResult, type DemoTarget } from '../producers/demo/run';
import { RabbitPublisher, SqsPublisher } from '../producers/demo/queues';
import type { DeclaredProperties } from '../producers/demo/shop';
import { openDeclarations } from '../schemas/declarations/log';
import type { EventPlan, EventTypeVersion } from '../schemas/events/plan';
import { createKafka } from '../platform/kafka/client';
import { sqsClient } from '../producers/bridge/sqs';
import { intOption } from './options';
import type { CliContext } from './context';
import { randomInt } from 'node:crypto';
import { TributaryError } from '../platform/errors';

export interface DemoCommandOptions {
  rate: number;
  duration: number;
  via: 'http' | 'kafka' | 'rabbitmq' | 'sqs';
  queue?: string;
  seed?: number;
}

/** The RabbitMQ queue the demo and `start --via rabbitmq` use unless --queue names another. */
export const DEMO_RABBITMQ_QUEUE = 'tributary.events';

export function demoOptions(command: Command): Command {
  return (
    command
      .option('--rate <events/s>', 'events per second', intOption('--rate', 1, 1_000_000), 100)
      .option(
        '--duration <seconds>',
        'stop after this long; 0 runs until Ctrl-C',
        intOption('--duration', 0, 86_400 * 7),
        0,
      )
      .addOption(
        new Option(
          '--via <path>',
          'send through the ingestion endpoint, straight to Kafka, or to a queue a bridge consumes',
        )
          .choices(['http', 'kafka', 'rabbitmq', 'sqs'])
          .default('http'),
      )
      .option(
        '--queue <name or url>',
        `with --via rabbitmq: the queue (default ${DEMO_RABBITMQ_QUEUE}, on RABBITMQ_URL); with --via sqs: the queue URL (default SQS_QUEUE_URL)`,
      )
      // No fixed default: the shop's eventIds come from its seed, and a second run with the same
      // seed would reuse the first run's ids for other events (dead-lettered as conflicting_duplicate).
      .option(
        '--seed <n>',
        'random seed of the simulated shop (default: a new one each run; give one to repeat a run)',
        intOption('--seed', 0, 2 ** 31),
      )
  );
}

/**
 * Drives demo traffic at a running pipeline and writes the ground-truth ledger (expected totals
 * of every acknowledged event) to DATA_DIR/demo-ledger.json.
 */
export async function driveDemo(
  config: Config,
  logger: Logger,
  opts: DemoCommandOptions,
  signal: AbortSignal,
  ingestUrl = `http://localhost:${config.ingestPort}`,
): Promise<DemoResult> {
  const truth = new GroundTruth();
  let producer: TributaryProducer | undefined;
  let target: DemoTarget;
  if (opts.via === 'kafka') {
    producer = await TributaryProducer.connect({
      kafka: config.kafka,
      registryUrl: config.registry.url,
      logger,
      topics: { user: config.topics.users, order: config.topics.orders },
    });
    target = { via: 'kafka', producer };
  } else if (opts.via === 'rabbitmq') {
    target = {
      via: 'rabbitmq',
      publisher: new RabbitPublisher(
        config.bridge.rabbitmqUrl ?? 'amqp://localhost:5672',
        opts.queue ?? DEMO_RABBITMQ_QUEUE,
      ),
    };
  } else if (opts.via === 'sqs') {
    const queueUrl = opts.queue ?? config.bridge.sqsQueueUrl;
    if (!queueUrl) throw new TributaryError('config', '--via sqs needs the queue URL: --queue <url> or SQS_QUEUE_URL');
    target = {
      via: 'sqs',
      publisher: new SqsPublisher(sqsClient({ queueUrl, endpoint: config.bridge.sqsEndpoint }), queueUrl),
    };
  } else {
    const writeKey = config.ingest.authOff
      ? undefined
      : (config.ingest.writeKeys[0] ?? resolveWriteAuth(config).developmentKey);
    target = { via: 'http', url: ingestUrl, writeKey };
  }
  // The example declared types (events/examples), when the pipeline has them: not through the
  // producer library, which sends the built-in families only.
  const declarations =
    opts.via === 'kafka'
      ? undefined
      : await openDeclarations({
          kafka: createKafka({ config: config.kafka, logger, clientId: 'tributary-demo' }),
          logger,
          rollupsTopic: config.topics.rollups,
          replicationFactor: config.kafka.replicationFactor,
        });
  try {
    if ('publisher' in target) await target.publisher.check();
    const declared = declarations ? exampleTypes(declarations.book.events) : undefined;
    return await runDemo({
      target,
      rate: opts.rate,
      durationS: opts.duration,
      seed: opts.seed ?? randomInt(2 ** 31),
      truth,
      logger,
      signal,
      ...(declared ? { declared } : {}),
    });
  } finally {
    await declarations?.log.close();
    await producer?.disconnect();
    if ('publisher' in target) await target.publisher.close();
    mkdirSync(config.dataDir, { recursive: true });
    const ledger = path.join(config.dataDir, 'demo-ledger.json');
    writePrivateFile(
      ledger,
      JSON.stringify(
        {
          writtenAt: new Date().toISOString(),
          events: truth.size,
          totals: truth.totals(),
          declared: truth.declaredTotals(),
        },
        null,
        2,
      ),
    );
    logger.info({ ledger, events: truth.size }, 'demo.ledger.written');
  }
}

/** What the demo shop sends of each example type: a declaration it can send to has these, and requires no other. */
const EXAMPLE_SENDS: Record<string, { needs: string[]; may: string[] }> = {
  subscription_started: { needs: ['plan', 'seats'], may: ['trial'] },
  invoice_paid: { needs: ['plan', 'amount'], may: ['discount'] },
};

/** The example types as the plan declares them now (followed live), for the shop; a type declared otherwise is left out. */
function exampleTypes(plan: EventPlan): DeclaredProperties {
  const seen = new Map<EventTypeVersion, ReadonlySet<string> | undefined>();
  return (type) => {
    const version = plan.latest(type);
    const sends = EXAMPLE_SENDS[type];
    if (!version || !sends) return undefined;
    if (!seen.has(version)) {
      const props = version.record.declaration.properties;
      const names = new Set(props.map((p) => p.name));
      const fits =
        sends.needs.every((n) => names.has(n)) && props.every((p) => !p.required || sends.needs.includes(p.name));
      seen.set(version, fits ? names : undefined);
    }
    return seen.get(version);
  };
}

export function demoCommand(ctx: CliContext): Command {
  return demoOptions(
    new Command('demo')
      .summary('send demo shop traffic to a running pipeline, writing a ground-truth ledger')
      .description(
        'Users sign up, log in, browse, place orders that get paid, shipped, cancelled or refunded; Zipf products; some late events and client retries. Writes expected totals to DATA_DIR/demo-ledger.json. `tributary start --demo` runs the pipeline with it.',
      ),
  ).action(async (opts: DemoCommandOptions) => {
    const config = loadConfig(ctx.env);
    const logger = createLogger(config.logLevel, 'demo', config.logFormat);
    const controller = new AbortController();
    process.once('SIGINT', () => controller.abort());
    process.once('SIGTERM', () => controller.abort());
    const result = await driveDemo(config, logger, opts, controller.signal);
    ctx.out(`demo: ${result.accepted} events accepted of ${result.sent} sent (${result.retried} retried batches)\n`);
  });
}
