import { type Kafka, connectAdmin, CheckedProducer } from '../../platform/kafka/client';
import type { Registry } from 'prom-client';
import type { Config } from '../../platform/config';
import type { Logger } from '../../platform/logger';
import { serveOps, type OpsServer } from '../../platform/http/ops';
import { SCHEMAS } from '../../schemas/catalog';
import type { SchemaClient } from '../../schemas/client';
import { readBatchLimits } from '../../platform/kafka/batch-limit';
import { ProduceBatcher } from '../batcher';
import { openDeclarations } from '../../schemas/declarations/log';
import { optionalTopic } from '../../platform/kafka/topics';
import { EventEncoder } from '../encoder';
import { BridgeCore, type QueueSource } from './core';
import { bridgeMetrics } from './metrics';
import { RabbitBridge, type RabbitBridgeOptions } from './rabbitmq';
import { SqsBridge, sqsClient, type SqsBridgeOptions, type SqsClientOptions } from './sqs';
import { TributaryError } from '../../platform/errors';

export type BridgeSpec =
  { kind: 'rabbitmq'; options: RabbitBridgeOptions } | { kind: 'sqs'; options: SqsBridgeOptions & SqsClientOptions };

export interface BridgeService {
  /** `rabbitmq:<queue>` or `sqs:<queue url>`. */
  source: string;
  /** The bridge's /healthz, /readyz and /metrics. */
  opsUrl: string;
  close(): Promise<void>;
}

export interface BridgeServiceDeps {
  config: Config;
  kafka: Kafka;
  schemas: SchemaClient;
  logger: Logger;
  metrics: Registry;
  spec: BridgeSpec;
  /** Ops port; 0 picks a free one. Default BRIDGE_PORT. */
  port?: number;
  /** How long close() lets messages in hand reach Kafka before leaving them unacknowledged. */
  drainTimeoutMs?: number;
}

/**
 * Composes one bridge: the Kafka producer and encoder the ingestion endpoint uses (same schemas,
 * keys, partitions), the dead-letter schema, the queue consumer, and an ops server.
 */
export async function startBridge(deps: BridgeServiceDeps): Promise<BridgeService> {
  const { config, logger } = deps;
  const admin = await connectAdmin(deps.kafka);
  const producer = await CheckedProducer.connect(deps.kafka);
  const abort = new AbortController();
  let ops: OpsServer | undefined;
  let declarations: Awaited<ReturnType<typeof openDeclarations>> | undefined;
  try {
    // The declared event types (docs/events.md), followed as they are applied.
    declarations = await openDeclarations({
      kafka: deps.kafka,
      logger,
      rollupsTopic: config.topics.rollups,
      replicationFactor: config.kafka.replicationFactor,
    });
    const plan = declarations.book.events;
    const custom = await optionalTopic(admin, config.topics.custom, logger, 'events.custom.missing');
    const encoder = await EventEncoder.create({
      schemas: deps.schemas,
      admin,
      topics: { user: config.topics.users, order: config.topics.orders },
      ...(custom ? { custom: { topic: custom, plan } } : {}),
    });
    const dlqSchemaId = await deps.schemas.register({ ...SCHEMAS.deadLetter, subject: `${config.topics.dlq}-value` });
    const limits = await readBatchLimits(admin, [
      encoder.topics.user,
      encoder.topics.order,
      config.topics.dlq,
      ...(custom ? [custom] : []),
    ]);
    const batcher = new ProduceBatcher(producer, { lingerMs: config.ingest.lingerMs, limits, logger });
    const metrics = bridgeMetrics(deps.metrics);
    const spec = deps.spec;
    const source = spec.kind === 'rabbitmq' ? `rabbitmq:${spec.options.queue}` : `sqs:${spec.options.queueUrl}`;
    const core = new BridgeCore({
      source,
      encoder,
      batcher,
      schemas: deps.schemas,
      dlq: { topic: config.topics.dlq, schemaId: dlqSchemaId },
      limits: { ...config.ingest, event: config.eventLimits },
      plan,
      metrics,
      logger,
      signal: abort.signal,
    });
    const bridge: QueueSource =
      spec.kind === 'rabbitmq'
        ? new RabbitBridge(spec.options, core, metrics, logger, abort.signal)
        : new SqsBridge(spec.options, sqsClient(spec.options), core, metrics, logger, abort.signal);
    await bridge.start();

    ops = await serveOps(
      deps.port ?? config.bridge.port,
      deps.metrics,
      [
        {
          name: 'kafka',
          check: async () => {
            await admin.describeCluster();
          },
        },
        {
          name: spec.kind,
          check: () => {
            if (!bridge.isConnected) throw new TributaryError('unavailable', `not connected to ${source}`);
          },
        },
      ],
      'bridge metrics, BRIDGE_PORT',
      { host: config.hosts.other, metricsKeys: config.readKeys, http: config.http },
    );
    const opsUrl = ops.url;
    logger.info({ source, opsUrl }, 'bridge.started');
    const running = ops;
    return {
      source,
      opsUrl,
      async close() {
        const timer = setTimeout(() => abort.abort(), deps.drainTimeoutMs ?? 10_000);
        await bridge.stop();
        clearTimeout(timer);
        abort.abort();
        await batcher.drain();
        await running.close();
        await producer.disconnect();
        await admin.disconnect();
        await declarations?.log.close();
      },
    };
  } catch (err) {
    abort.abort();
    await ops?.close();
    await declarations?.log.close().catch(() => undefined);
    await producer.disconnect();
    await admin.disconnect();
    throw err;
  }
}
