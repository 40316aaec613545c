import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { connectAdmin } from '../platform/kafka/client';
import { kafkaClasspath } from '../platform/local/maven';
import { DemoShop } from '../producers/demo/shop';
import { convertEvent } from '../schemas/validation';
import { SCHEMAS } from '../schemas/catalog';
import type { BenchEnv } from './env';
import { logger } from './env';

const run = promisify(execFile);

export interface CeilingResult {
  recordSize: number;
  records: number;
  producerRecordsPerSecond: number;
  consumerRecordsPerSecond: number;
}

/**
 * The broker's own ceiling on this machine, from Kafka's perf tools (kafka-tools, fetched by the
 * same Maven manifest): acks=all producer and a consumer, same partition count, record size of
 * an average Tributary event in the wire format.
 */
export async function benchCeiling(
  env: BenchEnv,
  records = Number(process.env.BENCH_CEILING_RECORDS ?? 2_000_000),
): Promise<CeilingResult> {
  const sample = new DemoShop(3).next(2000).map((e) => {
    const { kind: _k, ...raw } = e as never as Record<string, unknown>;
    const c = convertEvent(raw, { receivedAt: Date.now() });
    return c.ok ? 5 + (c.kind === 'user' ? SCHEMAS.user.type : SCHEMAS.order.type).toBuffer(c.record).length : 0;
  });
  const recordSize = Math.round(sample.reduce((a, b) => a + b, 0) / sample.length);
  const topic = `ceiling-${Date.now()}`;
  const admin = await connectAdmin(env.kafka);
  await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const classpath = await kafkaClasspath(path.resolve(__dirname, '..', '.tributary', 'maven'), logger);
  const bootstrap = env.config.kafka.brokers.join(',');
  const produced = await run(
    'java',
    [
      '-Xmx512m',
      '-cp',
      classpath,
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      topic,
      '--num-records',
      String(records),
      '--record-size',
      String(recordSize),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${bootstrap}`,
      'acks=all',
      'linger.ms=5',
      'batch.size=262144',
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  const p = /(\d+) records sent, ([\d.]+) records\/sec/.exec(produced.stdout.trim().split('\n').at(-1) ?? '');
  const consumed = await run(
    'java',
    [
      '-Xmx512m',
      '-cp',
      classpath,
      'org.apache.kafka.tools.ConsumerPerformance',
      '--bootstrap-server',
      bootstrap,
      '--topic',
      topic,
      '--messages',
      String(records),
      '--timeout',
      '60000',
    ],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  // Header then one CSV line: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, …
  const line = consumed.stdout
    .trim()
    .split('\n')
    .at(-1)!
    .split(',')
    .map((x) => x.trim());
  return {
    recordSize,
    records,
    producerRecordsPerSecond: Math.round(Number(p?.[2] ?? NaN)),
    consumerRecordsPerSecond: Math.round(Number(line[5])),
  };
}
