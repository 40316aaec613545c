import type { Admin } from '../platform/kafka/client';
import type { VersionState } from '../schemas/declarations/book';

/** How far a declared version covers its history (docs/rollups.md#coverage). */
export interface Coverage {
  /** Where its history starts: the `--from` time, or `earliest` (the oldest retained event). */
  from: string;
  /** Every row before the handover is in ClickHouse: the API serves this version. */
  complete: boolean;
  /** The backfill's share of [from, handover) emitted, 0..1. */
  progress: number;
  /** backfilling, writing (backfill emitted, the sink catching up), complete, dropped, superseded. */
  state: 'backfilling' | 'writing' | 'complete' | 'dropped' | 'superseded';
}

export async function coverageOf(admin: Admin, backfillGroupId: string, s: VersionState): Promise<Coverage> {
  const v = s.record;
  if (v.builtin) return { from: 'earliest', complete: true, progress: 1, state: 'complete' };
  const from = v.fromTime === null ? 'earliest' : new Date(v.fromTime).toISOString();
  const state = s.dropped ? s.dropped.reason : s.complete ? 'complete' : s.backfill ? 'writing' : 'backfilling';
  if (s.backfill || s.dropped) return { from, complete: !!s.complete, progress: s.backfill ? 1 : 0, state };
  const [offsets] = await admin.fetchOffsets({ groupId: backfillGroupId, topics: [v.topic] });
  const committed = new Map((offsets?.partitions ?? []).map((p) => [String(p.partition), Number(p.offset)]));
  let total = 0;
  let done = 0;
  for (const [p, handover] of Object.entries(v.handover)) {
    const start = v.from[p] ?? 0;
    if (handover <= start) continue;
    total += handover - start;
    const at = committed.get(p) ?? -1;
    done += Math.max(0, Math.min(at, handover) - start);
  }
  return { from, complete: false, progress: total === 0 ? 1 : Math.floor((done / total) * 1000) / 1000, state };
}
