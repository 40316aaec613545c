import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kafka } from '../../platform/kafka/client';
import type { Registry } from 'prom-client';
import type { Logger } from '../../platform/logger';
import { KafkaRegistryLog } from './kafka-log';
import { SchemaRegistryService, type RegistryLimits } from './registry';
import { registryApp, type RegistryAccessOptions } from './server';
import { listenHardened } from '../../platform/http/server';
import { RegistryState } from './state';
import { LOOPBACK, urlFor, type HttpLimits } from '../../platform/config';

export interface EmbeddedRegistry {
  url: string;
  service: SchemaRegistryService;
  close(): Promise<void>;
}

/** Reads the log, then serves the REST API on `port` (0: any free port). */
export async function startEmbeddedRegistry(deps: {
  kafka: Kafka;
  logger: Logger;
  metrics: Registry;
  port: number;
  host?: string;
  topic?: string;
  /** Users, anonymous reads, limits (config.registry); unset: open, DEFAULT_REGISTRY_LIMITS, 1 MiB bodies. */
  access?: RegistryAccessOptions & Partial<RegistryLimits>;
  http?: HttpLimits;
}): Promise<EmbeddedRegistry> {
  const state = new RegistryState();
  const log = await KafkaRegistryLog.open({ kafka: deps.kafka, logger: deps.logger, state, topic: deps.topic });
  const { maxSubjects, maxVersions, maxUnionBranches, maxNamedTypes, checkTimeoutMs } = deps.access ?? {};
  const service = new SchemaRegistryService(
    state,
    log,
    Object.fromEntries(
      Object.entries({ maxSubjects, maxVersions, maxUnionBranches, maxNamedTypes, checkTimeoutMs }).filter(
        ([, v]) => v !== undefined,
      ),
    ),
  );
  const app = registryApp(service, deps.metrics, [{ name: 'schemas-log', check: () => undefined }], deps.access);
  let server: Server;
  try {
    server = await listenHardened(app, deps.port, deps.host ?? LOOPBACK, 'schema registry', deps.http);
  } catch (err) {
    await log.close();
    await service.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const url = urlFor(deps.host ?? LOOPBACK, port);
  deps.logger.info(
    { url, auth: deps.access && deps.access.users.length > 0 ? `${deps.access.users.length} users` : 'off' },
    'registry.listening',
  );
  return {
    url,
    service,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await log.close();
      await service.close();
    },
  };
}
