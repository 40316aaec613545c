import type { PipelineEvent } from '../schemas/catalog';
import { fingerprintOf } from '../schemas/identity';
import { IdTable, hashId } from './id-table';

/**
 * Rows travel in blocks (streams/declared.ts): a block holds the rows of a chunk whose latest
 * change (`version`) lies in one range of this many input offsets, at most BLOCK_ROWS of them
 * (the range's next block takes the rest). A backlog's rows then travel ~300 to a record instead
 * of one each. Changing either only renames blocks (their keys hold the range's index and the
 * block's place in it): rows keep their keys and versions.
 */
export const BLOCK_OFFSETS = 512;
export const BLOCK_ROWS = 500;
export const segmentOf = (offset: number, segmentSize: number) => Math.floor(offset / segmentSize);

/** What applying one record did. */
export type Applied = 'counted' | 'duplicate' | 'conflict' | 'seeded';

/**
 * One input partition's position and duplicate check under the deterministic-segments design
 * (docs/processing.md): segment k covers offsets [k·S, (k+1)·S); a record counts unless its
 * origin and eventId were seen in the open or the previous segment (a retry). Which records
 * count is a function of the records from the previous segment's start, so a recomputation from
 * a segment start (a crash, a rebalance, a replay) counts the same ones. The rollups themselves
 * are each a DeclaredState (streams/declared.ts) fed with the counted records. Pure logic: no
 * Kafka here.
 */
export class PartitionState {
  /** Index of the open segment. */
  segment: number;
  /** Next offset this state expects; records below it were already applied. */
  position: number;
  /** Records below this offset only seed the duplicate set (the previous segment, re-read at start). */
  seedUntil: number;
  /** Dedup ids (origin and eventId) → content fingerprint, of the open and the previous segment. */
  private currentIds = new IdTable();
  private previousIds = new IdTable();
  duplicates = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly segmentSize: number,
    resumeAt: number,
    seedFrom: number,
  ) {
    this.segment = segmentOf(resumeAt, segmentSize);
    this.position = seedFrom;
    this.seedUntil = resumeAt;
  }

  /** The offset to commit once every row emitted so far is acknowledged: the open segment's start. */
  get segmentStart(): number {
    return this.segment * this.segmentSize;
  }

  /** Marks `offset` as consumed without counting it (a record sent to the DLQ). */
  skip(offset: number): void {
    this.advanceTo(offset);
    this.position = offset + 1;
  }

  /**
   * Applies one decoded record at `offset`: counted, or a duplicate (same origin and eventId
   * with the same content in the current or previous segment: a retry, changes nothing), or a
   * conflict (same origin and eventId, other content: changes nothing, the caller dead-letters it).
   */
  apply(offset: number, event: PipelineEvent): Applied {
    const { origin, eventId } = event.record;
    const hash = hashId(origin, eventId);
    if (offset < this.seedUntil) {
      // Seeding: the previous segment's ids, so a retry straddling the boundary is still caught.
      if (this.previousIds.get(hash, origin, eventId) === undefined)
        this.previousIds.add(hash, origin, eventId, fingerprintOf(event));
      this.position = offset + 1;
      return 'seeded';
    }
    this.advanceTo(offset);
    this.position = offset + 1;
    const fingerprint = fingerprintOf(event);
    const seen = this.currentIds.get(hash, origin, eventId) ?? this.previousIds.get(hash, origin, eventId);
    if (seen !== undefined) {
      if (seen !== fingerprint) return 'conflict';
      this.duplicates += 1;
      return 'duplicate';
    }
    this.currentIds.add(hash, origin, eventId, fingerprint);
    return 'counted';
  }

  /** Rolls the ids over when `offset` opens a later segment. */
  private advanceTo(offset: number): void {
    const seg = segmentOf(offset, this.segmentSize);
    if (seg <= this.segment) return;
    // Only the segment right before the new one may hold duplicates we still check against.
    // The tables swap, the emptied one keeping its buffers for the new segment.
    if (seg === this.segment + 1) {
      const emptied = this.previousIds;
      emptied.clear();
      this.previousIds = this.currentIds;
      this.currentIds = emptied;
    } else {
      this.previousIds.clear();
      this.currentIds.clear();
    }
    this.segment = seg;
  }
}
