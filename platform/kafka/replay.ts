import type { Admin } from 'kafkajs';
import { TributaryError, type ErrorCode } from '../errors';

/** Where a replay moves a group: an offset, the first offset at or after a time, or the earliest. */
export type ReplayPosition = { offset: number } | { time: number } | { earliest: true };

export interface ReplayRequest {
  group: string;
  topic: string;
  /** Partitions to move; undefined means all. */
  partitions?: number[];
  position: ReplayPosition;
  /** Set for the processor's group: targets move back to their segment start. */
  segmentSize?: number;
}

export interface ReplayTarget {
  partition: number;
  /** The group's committed offset, or -1 when it has none. */
  committed: number;
  low: number;
  high: number;
  newOffset: number;
  /** Records the group will read again (negative: records it will skip). */
  toReprocess: number;
  note: string;
}

/** A replay that must not happen: one line saying why and what to do. */
export class ReplayError extends TributaryError {
  constructor(message: string, code: ErrorCode = 'refused') {
    super(code, message);
    this.name = 'ReplayError';
  }
}

const IDLE_STATES = new Set(['Empty', 'Dead']);

/** The group's members when it is active, or [] when offsets may be changed. */
export async function activeMembers(admin: Admin, group: string): Promise<string[]> {
  const { groups } = await admin.describeGroups([group]);
  const g = groups[0];
  if (!g || IDLE_STATES.has(g.state)) return [];
  return g.members.map((m) => `${m.clientId}@${m.clientHost}`);
}

/** Validates the request against the cluster and computes every partition's new offset. */
export async function planReplay(admin: Admin, req: ReplayRequest): Promise<ReplayTarget[]> {
  const topics = await admin.listTopics();
  if (!topics.includes(req.topic)) throw new ReplayError(`unknown topic ${req.topic}`, 'not_found');
  const known = (await admin.listGroups()).groups.some((g) => g.groupId === req.group);
  const committedOffsets = await admin.fetchOffsets({ groupId: req.group, topics: [req.topic] });
  const committed = new Map((committedOffsets[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  if (!known && [...committed.values()].every((o) => o < 0)) {
    throw new ReplayError(
      `unknown group ${req.group}: it has no members and no committed offsets on ${req.topic}`,
      'not_found',
    );
  }
  const ranges = await admin.fetchTopicOffsets(req.topic);
  const all = ranges.map((r) => r.partition).sort((a, b) => a - b);
  const wanted = req.partitions ?? all;
  for (const p of wanted) {
    if (!all.includes(p))
      throw new ReplayError(`topic ${req.topic} has no partition ${p} (partitions 0-${all.length - 1})`, 'not_found');
  }
  const byTime = 'time' in req.position ? await admin.fetchTopicOffsetsByTimestamp(req.topic, req.position.time) : [];
  return wanted.map((partition) => {
    const range = ranges.find((r) => r.partition === partition)!;
    const low = Number(range.low);
    const high = Number(range.high);
    let requested: number;
    if ('offset' in req.position) {
      requested = req.position.offset;
      if (requested < low || requested > high) {
        throw new ReplayError(
          `offset ${requested} is outside partition ${partition}'s range: valid offsets are ${low} to ${high}`,
          'invalid_input',
        );
      }
    } else if ('time' in req.position) {
      requested = Number(byTime.find((o) => o.partition === partition)?.offset ?? high);
      if (requested < 0) requested = high;
    } else {
      requested = low;
    }
    let newOffset = requested;
    let note = '';
    if (req.segmentSize) {
      newOffset = Math.max(low, requested - (requested % req.segmentSize));
      if (newOffset !== requested) note = `moved back to segment start ${newOffset}`;
    }
    const c = committed.get(partition) ?? -1;
    const resumeAt = c >= 0 ? c : high;
    return { partition, committed: c, low, high, newOffset, toReprocess: resumeAt - newOffset, note };
  });
}

export async function applyReplay(
  admin: Admin,
  req: Pick<ReplayRequest, 'group' | 'topic'>,
  targets: ReplayTarget[],
): Promise<void> {
  await admin.setOffsets({
    groupId: req.group,
    topic: req.topic,
    partitions: targets.map((t) => ({ partition: t.partition, offset: String(t.newOffset) })),
  });
}
