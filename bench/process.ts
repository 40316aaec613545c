import os from 'node:os';
import { type Admin, connectAdmin } from '../platform/kafka/client';
import { ensureTopics, pipelineTopics } from '../platform/kafka/topics';
import { TributaryProducer } from '../producers/tributary-producer';
import { DemoShop } from '../producers/demo/shop';
import type { BenchEnv } from './env';
import { benchNodeArgs, logger, peakMemoryMiB, spawnStage, stopStage } from './env';
import { sleep } from '../platform/retry';

export interface ProcessResult {
  events: number;
  preloadEventsPerSecond: number;
  processedEvents: number;
  /** Wall time from spawning the process, start-up and group join included. */
  seconds: number;
  /** Wall time from the group being Stable (partitions assigned) to done. */
  steadySeconds: number;
  eventsPerSecond: number;
  eventsPerSecondWithStartup: number;
  /** Highest peak among the instances. */
  peakMemoryMiB: number | null;
  instances: number;
  rollupRecords: number;
}

/**
 * Pre-loads `events` straight into Kafka, then times `tributary process` over them: BENCH_PROCESSORS
 * instances in the consumer group, by default one per core (how the stage scales out).
 */
export async function benchProcess(
  env: BenchEnv,
  events = Number(process.env.BENCH_EVENTS ?? 2_000_000),
): Promise<ProcessResult> {
  const admin = await connectAdmin(env.kafka);
  await ensureTopics(admin, pipelineTopics(6, env.config.topics), logger, 1);
  const producer = await TributaryProducer.connect({
    kafka: env.config.kafka,
    registryUrl: env.registry.url,
    lingerMs: 5,
    topics: { user: env.config.topics.users, order: env.config.topics.orders },
  });
  const shop = new DemoShop(2, { retryShare: 0.01, lateShare: 0.02 });
  const preloadStart = Date.now();
  const inflight = new Set<Promise<unknown>>();
  for (let sent = 0; sent < events; sent += 2000) {
    const batch = shop.next(Math.min(2000, events - sent));
    const users = batch.filter((e) => e.kind === 'user').map(({ kind: _k, ...e }) => e);
    const orders = batch.filter((e) => e.kind === 'order').map(({ kind: _k, ...e }) => e);
    const p = Promise.all([producer.sendUserEvents(users as never), producer.sendOrderEvents(orders as never)]).finally(
      () => inflight.delete(p),
    );
    inflight.add(p);
    while (inflight.size >= 8) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  await producer.disconnect();
  const preloadSeconds = (Date.now() - preloadStart) / 1000;

  const segment = env.config.processor.segmentSize;
  const targets = await segmentTargets(admin, [env.config.topics.users, env.config.topics.orders], segment);
  const target = targets.reduce((n, t) => n + t.offset, 0);
  const started = Date.now();
  const nodeArgs = benchNodeArgs();
  const instances = Math.max(1, Number(process.env.BENCH_PROCESSORS ?? os.cpus().length));
  const children = Array.from({ length: instances }, () => spawnStage(env, ['process'], {}, nodeArgs));
  const exited = () => children.find((c) => c.exitCode !== null);
  const peaks: Array<number | null> = children.map(() => null);
  const samplePeaks = () =>
    children.forEach((c, i) => {
      peaks[i] = peakMemoryMiB(c.pid) ?? peaks[i]!;
    });
  let steadyFrom = 0;
  try {
    // Steady-state clock: from the moment the group is Stable (process started, partitions assigned).
    for (;;) {
      const g = (await admin.describeGroups([env.config.processor.groupId])).groups[0];
      if (g?.state === 'Stable' && g.members.length >= instances) break;
      if (exited()) throw new Error(`processor exited with ${exited()!.exitCode}`);
      await sleep(20);
    }
    steadyFrom = Date.now();
    // Done when every partition's committed offset reached its last full segment's end.
    for (;;) {
      samplePeaks();
      const committed = await admin.fetchOffsets({
        groupId: env.config.processor.groupId,
        topics: [env.config.topics.users, env.config.topics.orders],
      });
      const done = targets.every(
        (t) =>
          Number(
            committed.find((c) => c.topic === t.topic)?.partitions.find((p) => p.partition === t.partition)?.offset ??
              -1,
          ) >= t.offset,
      );
      if (done) break;
      if (exited()) throw new Error(`processor exited with ${exited()!.exitCode}`);
      await sleep(100);
    }
  } finally {
    samplePeaks();
    await Promise.all(children.map((c) => stopStage(c)));
  }
  const seconds = (Date.now() - started) / 1000;
  const steadySeconds = (Date.now() - steadyFrom) / 1000;
  const rollupRecords = (await admin.fetchTopicOffsets(env.config.topics.rollups)).reduce(
    (n, p) => n + Number(p.high),
    0,
  );
  await admin.disconnect();
  return {
    events,
    preloadEventsPerSecond: Math.round(events / preloadSeconds),
    processedEvents: target,
    seconds,
    steadySeconds,
    eventsPerSecond: Math.round(target / steadySeconds),
    eventsPerSecondWithStartup: Math.round(target / seconds),
    peakMemoryMiB: Math.max(...peaks.map((p) => p ?? 0)) || null,
    rollupRecords,
    instances,
  };
}

async function segmentTargets(admin: Admin, topics: string[], segment: number) {
  const out: Array<{ topic: string; partition: number; offset: number }> = [];
  for (const topic of topics) {
    for (const p of await admin.fetchTopicOffsets(topic))
      out.push({ topic, partition: p.partition, offset: Math.floor(Number(p.high) / segment) * segment });
  }
  return out;
}
