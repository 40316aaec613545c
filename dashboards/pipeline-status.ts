import type { Admin } from '../platform/kafka/client';

export interface StageLag {
  stage: string;
  group: string;
  partitions: Array<{ topic: string; partition: number; committed: number; end: number; lag: number }>;
  totalLag: number;
}

/**
 * Consumer lag per stage and partition: the topic's end offset minus the group's committed
 * offset. (The processor commits segment starts, so its lag includes the open segment.)
 */
export async function stageLag(admin: Admin, stage: string, group: string, topics: string[]): Promise<StageLag> {
  const partitions: StageLag['partitions'] = [];
  const committed = await admin.fetchOffsets({ groupId: group, topics });
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
    for (const e of ends) {
      const c = Number(mine.find((m) => m.partition === e.partition)?.offset ?? -1);
      const start = c < 0 ? Number(e.low) : c;
      partitions.push({ topic, partition: e.partition, committed: c, end: Number(e.high), lag: Math.max(0, Number(e.high) - start) });
    }
  }
  partitions.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  return { stage, group, partitions, totalLag: partitions.reduce((n, p) => n + p.lag, 0) };
}

export async function topicRecords(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
}
