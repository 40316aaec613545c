import path from 'node:path';
import { rmSync } from 'node:fs';
import { LocalKafka } from '../platform/local/kafka';
import { createLogger } from '../platform/logger';
import { startOnFreePorts } from '../platform/local/kafka';

/**
 * One real Kafka broker for the whole integration run, on a free port, with its own data dir
 * and the project's Maven cache (./.tributary/maven, shared with `tributary kafka`).
 * With KAFKA_BROKERS set, the tests use that cluster instead and nothing is started.
 */
declare global {
  var __TRIBUTARY_KAFKA__: LocalKafka | undefined;
}

export default async function globalSetup(): Promise<void> {
  if (process.env.KAFKA_BROKERS) return;
  const root = path.resolve(__dirname, '..');
  const dataDir = path.join(root, '.tributary', 'test-run');
  rmSync(dataDir, { recursive: true, force: true });
  const logger = createLogger(process.env.TEST_LOG_LEVEL ?? 'warn', 'test-kafka');
  const kafka = await startOnFreePorts({
    dataDir,
    mavenRepo: path.join(root, '.tributary', 'maven'),
    logger,
    heapOpts: '-Xms256m -Xmx768m',
  });
  globalThis.__TRIBUTARY_KAFKA__ = kafka;
  // Test workers are forked after this and inherit the environment.
  process.env.KAFKA_BROKERS = kafka.brokers.join(',');
  process.env.TRIBUTARY_TEST_DATA_DIR = dataDir;
  process.env.TRIBUTARY_TEST_MAVEN_REPO = path.join(root, '.tributary', 'maven');
}
