import type { Registry } from 'prom-client';
import { type Config } from '../platform/config';
import { loadConfig } from './config';
import { createLogger, routeProcessWarnings, type Logger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { createKafka, type Kafka } from '../platform/kafka/client';
import { SchemaClient } from '../schemas/client';
import type { CliContext } from './context';
import { onShutdown } from './shutdown';

/** What every stage is built from: the validated config and the infrastructure made from it. */
export interface StageDeps {
  config: Config;
  logger: Logger;
  kafka: Kafka;
  schemas: SchemaClient;
  metrics: Registry;
}

/** A started stage: how to stop it (in reverse order of what it started) and the line to print. */
export interface RunningStage {
  stop: () => Promise<void>;
  banner: string;
}

/**
 * The shape every stage command shares: config → logger → Kafka → schema client → metrics, then
 * the stage's own start, then one line saying where it runs, and a stop on SIGINT/SIGTERM. A
 * command file says only what differs (its start and its banner).
 */
export async function runStage(
  ctx: CliContext,
  name: string,
  start: (deps: StageDeps) => Promise<RunningStage>,
): Promise<void> {
  const config = loadConfig(ctx.env);
  const logger = createLogger(config.logLevel, name, config.logFormat);
  routeProcessWarnings(logger);
  const kafka = createKafka({ config: config.kafka, logger, clientId: `tributary-${name}` });
  const stage = await start({
    config,
    logger,
    kafka,
    schemas: new SchemaClient(config.registry.url, logger, config.registry.auth),
    metrics: createMetrics(name),
  });
  onShutdown(logger, stage.stop);
  ctx.out(`${stage.banner}\n`);
}
