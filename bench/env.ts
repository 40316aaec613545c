import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Kafka } from 'kafkajs';
import { loadConfig, type Config } from '../platform/config';
import { createKafka } from '../platform/kafka/client';
import { createLogger } from '../platform/logger';
import { createMetrics } from '../platform/metrics';
import { startEmbeddedRegistry, type EmbeddedRegistry } from '../schemas/registry/embedded';
import { startOnFreePorts } from '../test/kafka';
import type { LocalKafka } from '../platform/kafka/broker';

export interface BenchEnv {
  config: Config;
  kafka: Kafka;
  broker: LocalKafka | undefined;
  registry: EmbeddedRegistry;
  stop(): Promise<void>;
}

export const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'bench');

/** A broker of the benchmark's own (unless KAFKA_BROKERS), an embedded registry, a fresh DATA_DIR. */
export async function benchEnv(): Promise<BenchEnv> {
  const root = path.resolve(__dirname, '..');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tributary-bench-'));
  const broker = process.env.KAFKA_BROKERS ? undefined
    : await startOnFreePorts({ dataDir, mavenRepo: path.join(root, '.tributary', 'maven'), logger, heapOpts: '-Xms512m -Xmx1g' });
  const brokers = broker ? broker.brokers.join(',') : process.env.KAFKA_BROKERS!;
  const config = loadConfig({ ...process.env, KAFKA_BROKERS: brokers, DATA_DIR: dataDir, INGEST_AUTH: 'off', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
  const kafka = createKafka({ config: config.kafka, logger, clientId: 'bench' });
  const registry = await startEmbeddedRegistry({ kafka, logger, metrics: createMetrics('registry'), port: 0, host: '127.0.0.1', topic: `_schemas-bench-${Date.now()}` });
  return {
    config: { ...config, registry: { ...config.registry, url: registry.url, embedded: false } },
    kafka, broker, registry,
    async stop() {
      await registry.close();
      await broker?.stop();
    },
  };
}

/** Peak resident memory (VmHWM) of a process, in MiB, from /proc. */
export function peakMemoryMiB(pid = process.pid): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

export const machine = () => `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
