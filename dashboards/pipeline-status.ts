import type { Admin } from '../platform/kafka/client';
import { processedPosition } from '../schemas/progress';

export interface StageLag {
  stage: string;
  group: string;
  /**
   * `committed`: the group's committed offset (for the processor, its open segment's start: where
   * a restart or replay recomputes from); `processed`: the next offset whose record it has yet to
   * count (the processor publishes it in its commit metadata; for others, the committed offset);
   * `lag`: end − processed.
   */
  partitions: Array<{
    topic: string;
    partition: number;
    committed: number;
    processed: number;
    end: number;
    lag: number;
  }>;
  totalLag: number;
}

/**
 * Consumer lag per stage and partition: the topic's end offset minus what the group has
 * processed. The processor commits its open segment's start, with how far it got in the commit
 * metadata (`processed=<offset>`); a lag from the commit alone would count the open segment as
 * not done (22,820 records "behind" while idle and caught up).
 */
export async function stageLag(admin: Admin, stage: string, group: string, topics: string[]): Promise<StageLag> {
  const partitions: StageLag['partitions'] = [];
  const committed = await admin.fetchOffsets({ groupId: group, topics });
  for (const topic of topics) {
    const ends = await admin.fetchTopicOffsets(topic);
    const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
    for (const e of ends) {
      const entry = mine.find((m) => m.partition === e.partition);
      const c = Number(entry?.offset ?? -1);
      const published = processedPosition(entry?.metadata);
      const processed = published !== undefined ? Math.max(published, c) : c < 0 ? Number(e.low) : c;
      partitions.push({
        topic,
        partition: e.partition,
        committed: c,
        processed,
        end: Number(e.high),
        lag: Math.max(0, Number(e.high) - processed),
      });
    }
  }
  partitions.sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition);
  return { stage, group, partitions, totalLag: partitions.reduce((n, p) => n + p.lag, 0) };
}

export async function topicRecords(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
}
