import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Kafka, connectAdmin, CheckedProducer } from '../../platform/kafka/client';
import type { Registry } from 'prom-client';
import { urlFor, type Config } from '../../platform/config';
import type { Logger } from '../../platform/logger';
import type { SchemaClient } from '../../schemas/client';
import { readBatchLimits } from '../../platform/kafka/batch-limit';
import { ProduceBatcher } from '../batcher';
import { EventEncoder } from '../encoder';
import { ingestApp } from './app';
import { resolveWriteAuth } from './auth';
import { DiskGuard } from '../../platform/local/data-dir';
import { listenHardened } from '../../platform/http/server';
import { openDeclarations } from '../../schemas/declarations/log';
import { optionalTopic } from '../../platform/kafka/topics';
import { TributaryError } from '../../platform/errors';

export interface IngestService {
  url: string;
  developmentKey: string | undefined;
  close(): Promise<void>;
}

export interface IngestServiceDeps {
  config: Config;
  kafka: Kafka;
  schemas: SchemaClient;
  logger: Logger;
  metrics: Registry;
  port?: number;
  topics?: { user: string; order: string };
}

/** Registers the event schemas, connects the producer, and serves POST /v1/events. */
export async function startIngest(deps: IngestServiceDeps): Promise<IngestService> {
  const auth = resolveWriteAuth(deps.config);
  const admin = await connectAdmin(deps.kafka);
  const producer = await CheckedProducer.connect(deps.kafka);
  let server: Server | undefined;
  let guard: DiskGuard | undefined;
  let declarations: Awaited<ReturnType<typeof openDeclarations>> | undefined;
  try {
    // The declared event types (docs/events.md), followed as they are applied.
    declarations = await openDeclarations({
      kafka: deps.kafka,
      logger: deps.logger,
      rollupsTopic: deps.config.topics.rollups,
      replicationFactor: deps.config.kafka.replicationFactor,
    });
    const plan = declarations.book.events;
    const custom = await optionalTopic(admin, deps.config.topics.custom, deps.logger, 'events.custom.missing');
    const encoder = await EventEncoder.create({
      schemas: deps.schemas,
      admin,
      topics: deps.topics ?? { user: deps.config.topics.users, order: deps.config.topics.orders },
      ...(custom ? { custom: { topic: custom, plan } } : {}),
    });
    const limits = await readBatchLimits(admin, [
      encoder.topics.user,
      encoder.topics.order,
      ...(custom ? [custom] : []),
    ]);
    const batcher = new ProduceBatcher(producer, {
      lingerMs: deps.config.ingest.lingerMs,
      limits,
      logger: deps.logger,
    });
    // Beside the local broker (tributary start), stop accepting before its disk is full: nothing acknowledged is then lost.
    guard = deps.config.ingest.diskGuard
      ? new DiskGuard(deps.config.dataDir, deps.config.dataDirMinFreeBytes)
      : undefined;
    const disk = guard;
    const app = ingestApp({
      config: deps.config.ingest,
      eventLimits: deps.config.eventLimits,
      plan,
      writeKeys: auth.keys,
      encoder,
      batcher,
      logger: deps.logger,
      metrics: deps.metrics,
      diskGuard: disk,
      metricsKeys: deps.config.readKeys,
      checks: [
        {
          name: 'kafka',
          check: async () => {
            await admin.describeCluster();
          },
        },
        ...(disk
          ? [
              {
                name: 'disk',
                check: () => {
                  if (disk.low) throw new TributaryError('data_dir', disk.low);
                },
              },
            ]
          : []),
      ],
    });
    server = await listenHardened(
      app,
      deps.port ?? deps.config.ingestPort,
      deps.config.hosts.ingest,
      'ingest',
      deps.config.http,
    );
    const url = urlFor(deps.config.hosts.ingest, (server.address() as AddressInfo).port);
    deps.logger.info({ url, auth: auth.keys ? 'write keys' : 'off' }, 'ingest.listening');
    const listening = server;
    return {
      url,
      developmentKey: auth.developmentKey,
      async close() {
        // Stop taking requests, let the accepted ones finish, then disconnect.
        await new Promise<void>((resolve) => {
          listening.close(() => resolve());
          listening.closeIdleConnections();
        });
        await batcher.drain();
        guard?.stop();
        await producer.disconnect();
        await admin.disconnect();
        await declarations?.log.close();
      },
    };
  } catch (err) {
    server?.close();
    guard?.stop();
    await declarations?.log.close().catch(() => undefined);
    await producer.disconnect();
    await admin.disconnect();
    throw err;
  }
}
