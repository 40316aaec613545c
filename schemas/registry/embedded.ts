import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Kafka } from '../../platform/kafka/client';
import type { Registry } from 'prom-client';
import type { Logger } from '../../platform/logger';
import { KafkaRegistryLog } from './kafka-log';
import { SchemaRegistryService } from './registry';
import { registryApp } from './server';
import { RegistryState } from './state';
import { LOOPBACK, urlFor } from '../../platform/config';

export interface EmbeddedRegistry {
  url: string;
  service: SchemaRegistryService;
  close(): Promise<void>;
}

/** Reads the log, then serves the REST API on `port` (0: any free port). */
export async function startEmbeddedRegistry(deps: { kafka: Kafka; logger: Logger; metrics: Registry; port: number; host?: string; topic?: string }): Promise<EmbeddedRegistry> {
  const state = new RegistryState();
  const log = await KafkaRegistryLog.open({ kafka: deps.kafka, logger: deps.logger, state, topic: deps.topic });
  const service = new SchemaRegistryService(state, log);
  const app = registryApp(service, deps.metrics, [{ name: 'schemas-log', check: () => undefined }]);
  let server: Server;
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = app.listen(deps.port, deps.host ?? '127.0.0.1', () => resolve(s));
      s.once('error', reject);
    });
  } catch (err) {
    await log.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const url = urlFor(deps.host ?? LOOPBACK, port);
  deps.logger.info({ url }, 'registry.listening');
  return {
    url,
    service,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await log.close();
    },
  };
}
