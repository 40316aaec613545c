import { Command, Option } from 'commander';
import { type Config } from '../platform/config';
import { loadConfig } from './config';
import { startBridge, type BridgeSpec } from '../producers/bridge/service';
import { intOption } from './options';
import { runStage } from './stage';
import type { CliContext } from './context';
import { TributaryError } from '../platform/errors';

interface RabbitOptions {
  url?: string;
  queue: string;
  exchange?: string;
  type: 'direct' | 'topic' | 'fanout';
  bindingKey: string;
  prefetch: number;
  deadLetterExchange?: string;
  port?: number;
}
interface SqsOptions {
  queueUrl?: string;
  endpoint?: string;
  region?: string;
  concurrency: number;
  waitSeconds: number;
  visibilityTimeout: number;
  port?: number;
}

function runBridge(ctx: CliContext, spec: (config: Config) => BridgeSpec, port: number | undefined): Promise<void> {
  return runStage(ctx, 'bridge', async (deps) => {
    const { config } = deps;
    const bridge = await startBridge({ ...deps, spec: spec(config), ...(port !== undefined ? { port } : {}) });
    return {
      stop: () => bridge.close(),
      banner: `Bridge ${bridge.source} → ${config.topics.users}, ${config.topics.orders}; metrics ${bridge.opsUrl}/metrics`,
    };
  });
}

function rabbitmqCommand(ctx: CliContext): Command {
  return new Command('rabbitmq')
    .summary('consume a RabbitMQ queue into Kafka')
    .description(
      'Declares the durable queue (and its binding when --exchange is given), consumes with a bounded prefetch, validates each message like POST /v1/events, produces valid events (acks=all) and acks the message only after Kafka acknowledged. Invalid messages go to events.dlq with the reason and are rejected to the dead-letter exchange. Reconnects when RabbitMQ or Kafka restarts.',
    )
    .option('--url <amqp url>', 'RabbitMQ URL (default RABBITMQ_URL, else amqp://localhost:5672)')
    .requiredOption('--queue <name>', 'queue to consume (declared durable)')
    .option('--exchange <name>', 'bind the queue to this exchange (declared durable)')
    .addOption(
      new Option('--type <type>', 'type of --exchange').choices(['direct', 'topic', 'fanout']).default('direct'),
    )
    .option('--binding-key <key>', 'binding key of the queue on --exchange', '')
    .option('--prefetch <n>', 'unacknowledged messages held at once', intOption('--prefetch', 1, 65_535), 500)
    .option(
      '--dead-letter-exchange <name>',
      'exchange rejected messages go to (default <queue>.dlx, with a <queue>.dead queue)',
    )
    .option(
      '--port <port>',
      'port of /healthz, /readyz, /metrics (default BRIDGE_PORT, 8090)',
      intOption('--port', 0, 65_535),
    )
    .action(async (opts: RabbitOptions) => {
      if (opts.exchange === undefined && opts.bindingKey)
        throw new TributaryError('invalid_input', '--binding-key needs --exchange');
      await runBridge(
        ctx,
        (config) => ({
          kind: 'rabbitmq',
          options: {
            url: opts.url ?? config.bridge.rabbitmqUrl ?? 'amqp://localhost:5672',
            queue: opts.queue,
            exchange: opts.exchange,
            exchangeType: opts.type,
            bindingKey: opts.bindingKey,
            prefetch: opts.prefetch,
            deadLetterExchange: opts.deadLetterExchange,
          },
        }),
        opts.port,
      );
    });
}

function sqsCommand(ctx: CliContext): Command {
  return new Command('sqs')
    .summary('consume an Amazon SQS queue (standard or FIFO) into Kafka')
    .description(
      "Long-polls ReceiveMessage in batches of 10, validates each message like POST /v1/events, produces the batch (acks=all), then deletes only the messages Kafka acknowledged; extends visibility while Kafka is slow. Invalid messages go to events.dlq and are deleted. Credentials and region come from the AWS SDK's usual sources; a queue URL that is not AWS's is used as the endpoint (ElasticMQ, LocalStack).",
    )
    .option('--queue-url <url>', 'queue URL (default SQS_QUEUE_URL)')
    .option('--endpoint <url>', "SQS endpoint, when not the queue URL's own (default SQS_ENDPOINT)")
    .option('--region <region>', 'AWS region (default AWS_REGION, else from the queue URL)')
    .option('--concurrency <n>', 'receive loops at once (10 messages each)', intOption('--concurrency', 1, 64), 4)
    .option('--wait-seconds <s>', 'long-poll wait of ReceiveMessage', intOption('--wait-seconds', 0, 20), 20)
    .option(
      '--visibility-timeout <s>',
      'seconds a received message stays invisible (extended while in hand)',
      intOption('--visibility-timeout', 2, 43_200),
      30,
    )
    .option(
      '--port <port>',
      'port of /healthz, /readyz, /metrics (default BRIDGE_PORT, 8090)',
      intOption('--port', 0, 65_535),
    )
    .action(async (opts: SqsOptions) => {
      const queueUrl = opts.queueUrl ?? loadConfig(ctx.env).bridge.sqsQueueUrl;
      if (!queueUrl) throw new TributaryError('config', '--queue-url (or SQS_QUEUE_URL) is required');
      await runBridge(
        ctx,
        (config) => ({
          kind: 'sqs',
          options: {
            queueUrl,
            endpoint: opts.endpoint ?? config.bridge.sqsEndpoint,
            region: opts.region,
            concurrency: opts.concurrency,
            waitSeconds: opts.waitSeconds,
            visibilityTimeout: opts.visibilityTimeout,
          },
        }),
        opts.port,
      );
    });
}

export function bridgeCommand(ctx: CliContext): Command {
  return new Command('bridge')
    .summary('feed events from RabbitMQ or Amazon SQS into the pipeline')
    .description(
      'Takes events services already publish to a queue, with the same validation and guarantees as the ingestion endpoint: at-least-once, acknowledged only after Kafka did, redeliveries deduplicated by eventId (a message without eventIds gets ids derived from its message id).',
    )
    .addCommand(rabbitmqCommand(ctx))
    .addCommand(sqsCommand(ctx));
}
