// A `tributary process` for `npm run bench -- declared`'s paired run: the built-in rollups alone
// (BENCH_BUILTIN=on, no declarations) or the declared ones alone (BENCH_BUILTIN=off), the same
// process otherwise, so the two paths compare side by side. Config from the environment.
import { Registry } from 'prom-client';
import { loadConfig } from '../platform/config';
import { createKafka } from '../platform/kafka/client';
import { createLogger } from '../platform/logger';
import { SchemaClient } from '../schemas/client';
import { openDeclarations } from '../schemas/declarations/log';
import { processorMetrics } from '../streams/metrics';
import { StreamProcessor } from '../streams/processor';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger('warn', 'process', config.logFormat);
  const kafka = createKafka({ config: config.kafka, logger, clientId: 'bench-process' });
  const declarations = await openDeclarations({ kafka, logger, rollupsTopic: config.topics.rollups, replicationFactor: 1 });
  const processor = new StreamProcessor({
    kafka, schemas: new SchemaClient(config.registry.url, logger), logger, metrics: processorMetrics(new Registry()), declarations: declarations.book,
    options: {
      groupId: config.processor.groupId, segmentSize: config.processor.segmentSize, flushIntervalMs: config.processor.flushIntervalMs,
      topics: { user: config.topics.users, order: config.topics.orders, rollups: config.topics.rollups, dlq: config.topics.dlq },
      maxDirtyRows: config.processor.maxPendingRows, maxRowsPerPartition: config.processor.maxRowsPerPartition, eventLimits: config.eventLimits,
      builtinRollups: process.env.BENCH_BUILTIN !== 'off',
    },
  });
  await processor.start();
  process.once('SIGTERM', () => void processor.stop().then(() => declarations.log.close()).then(() => process.exit(0)));
}

void main().catch((err: unknown) => {
  process.stderr.write(`bench processor: ${String(err)}\n`);
  process.exit(1);
});
