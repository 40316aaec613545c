import type { PipelineEvent } from '../schemas/catalog';
import { contentFingerprint } from '../schemas/identity';
import { OTHER, rowKey, type RollupKind, type RollupRow } from '../schemas/rollup';
import { IdTable, hashId } from './id-table';
import { DEFAULT_BOUNDS } from '../schemas/declarations/format';

const NO_USERS: string[] = [];

export const WINDOW_MS = 60_000;
/**
 * Rows travel in blocks (#17): a block holds the rows of a chunk whose latest change (`version`)
 * lies in one range of this many input offsets, at most BLOCK_ROWS of them (the range's next
 * block takes the rest). A backlog's rows then travel ~300 to a record instead of one each.
 * Changing either only renames blocks (their keys hold the range's index and the block's place
 * in it): rows keep their keys and versions.
 */
export const BLOCK_OFFSETS = 512;
export const BLOCK_ROWS = 500;
export const windowStartOf = (t: number) => t - (((t % WINDOW_MS) + WINDOW_MS) % WINDOW_MS);
export const segmentOf = (offset: number, segmentSize: number) => Math.floor(offset / segmentSize);

/** Each kind's dimension names in the order rowKey lists them (sorted), so bump can build the same key without sorting. */
const DIMENSIONS: Record<Exclude<RollupKind, 'active_user' | 'active_users'>, readonly [string, string, string]> = {
  users: ['country', 'device', 'type'],
  orders: ['country', 'currency', 'type'],
  products: ['category', 'currency', 'sku'],
};
/**
 * A row's dims in DIMENSIONS order, as an object literal of one shape per kind: built with
 * computed names (`{ [names[0]]: a, ... }`) it was a fifth of bump's CPU (#17 profile).
 */
const DIMS_OF: Record<keyof typeof DIMENSIONS, (a: string, b: string, c: string) => Record<string, string>> = {
  users: (country, device, type) => ({ country, device, type }),
  orders: (country, currency, type) => ({ country, currency, type }),
  products: (category, currency, sku) => ({ category, currency, sku }),
};

/**
 * Distinct values a dimension takes per window in one chunk; the values past it are folded into
 * OTHER (their events still count, under that value). Codes are bounded by their lists already
 * (ISO 4217 and 3166-1, the event types); free text is bounded here: whatever values writers
 * send, a window's rows, and every answer split by a dimension, stay bounded. A function of the
 * records from the chunk's start, like the chunk: recomputations fold the same values.
 */
export const DIMENSION_BOUNDS: Readonly<Record<string, number>> = DEFAULT_BOUNDS;

/** What applying one record did. */
export type Applied = 'counted' | 'duplicate' | 'conflict' | 'seeded';

/**
 * One input partition's aggregation state under the deterministic-segments design (docs/processing.md):
 * segment k covers offsets [k·S, (k+1)·S); within the open segment, cumulative rows keyed by
 * (kind, window, dims); each row carries as `version` the offset of the last record that
 * changed it, so its metrics are a function of the records in [k·S, version] only. Pure logic:
 * no Kafka here.
 *
 * Bounded memory: a segment is cut into chunks. When the open chunk holds `maxRows` distinct
 * rows, the next record starts a new chunk: the closed chunk's rows are final (emitted once,
 * then dropped from memory) and the new chunk's rows start from zero. Where a chunk ends is a
 * function of the records from the segment start only, and every recomputation starts there
 * (commits and replays are segment starts), so it always cuts at the same records and re-emits
 * identical rows. A dashboard sums chunks as it sums segments.
 *
 * Distinct users (#17) are sets, not rows: per window, the users seen in the open chunk, and
 * emitted as deltas (`active_users` rows holding the users first seen since the window's previous
 * delta). A distinct count is a union, and a union is idempotent: whether a recomputation splits
 * the deltas the same way or not, ClickHouse's union of every delta ever inserted is the set of
 * users the segment's counted events name. Each user held counts as a row for the chunk bound.
 */
interface ActiveDelta { segment: number; chunk: number; windowStart: number; users: string[]; version: number; maxReceivedAt: number | null }
/**
 * A row of the open chunk (or a closed one not yet emitted) and its key, built once when the row
 * is created; the block its latest change puts it in, and whether it is in the dirty set.
 */
interface Held { key: string; row: RollupRow; block: Block | undefined; isDirty: boolean }
/**
 * The rows of a chunk whose version lies in offsets [range·BLOCK_OFFSETS, (range+1)·BLOCK_OFFSETS):
 * a function of the records from the segment start, like the chunk's. A row joins the block of
 * each change and leaves the one before, so every row is in exactly one block.
 */
interface Block { key: string; range: number; part: number; members: Set<Held> }
/** What takeDirty hands over: a row, and the key of the block it travels in, if it travels in one. */
export interface Taken { key: string; row: RollupRow; block?: string }
/** window → first → second → third dimension value (DIMENSIONS order) → row: found without building a key. */
type RowIndex = Map<number, Map<string, Map<string, Map<string, Held>>>>;
export class PartitionState {
  /** Index of the open segment. */
  segment: number;
  /** Next offset this state expects; records below it were already applied. */
  position: number;
  /** Records below this offset only seed the duplicate set (the previous segment, re-read at start). */
  seedUntil: number;
  /** Index of the open chunk of the open segment. */
  chunk = 0;
  /** The open chunk's rows per kind by their parts (for bump and restoreDirty), and their number. */
  private index = new Map<RollupKind, RowIndex>();
  private rowsHeld = 0;
  /** Rows changed since the last takeDirty. */
  private readonly dirty = new Set<Held>();
  /** The open chunk's block rows join now (a row's version only grows: no row joins an earlier one). */
  private block: Block | undefined;
  /** Window → users seen in it in the open chunk; their number, for the chunk bound. */
  private active = new Map<number, Set<string>>();
  private activeHeld = 0;
  /** Users not emitted yet: the open chunk's per window, and those of chunks closed since the last takeDirty. */
  private openDeltas = new Map<number, ActiveDelta>();
  private closedDeltas: ActiveDelta[] = [];
  /** Dedup ids (origin and eventId) → content fingerprint, of the open and the previous segment. */
  private currentIds = new IdTable();
  private previousIds = new IdTable();
  /** `kind|topic|partition|segment|` per kind for the open segment: the constant head of its row keys. */
  private keyHeads = new Map<RollupKind, string>();
  /** Per kind and window of the open chunk, the values each dimension took (DIMENSION_BOUNDS). */
  private values = new Map<RollupKind, Map<number, [Set<string>, Set<string>, Set<string>]>>();
  duplicates = 0;
  /** False: only decide which records count (duplicates), aggregate none of the built-in rollups (a backfill of a declared one). */
  aggregates = true;
  /** Events whose value of a dimension was folded into OTHER, per `kind.dimension` (each event once per row it bumps). */
  readonly folded = new Map<string, number>();

  constructor(readonly topic: string, readonly partition: number, readonly segmentSize: number, resumeAt: number, seedFrom: number,
    readonly maxRows = Infinity, readonly blockOffsets = BLOCK_OFFSETS) {
    this.segment = segmentOf(resumeAt, segmentSize);
    this.position = seedFrom;
    this.seedUntil = resumeAt;
  }

  /** The offset to commit once every row emitted so far is acknowledged: the open segment's start. */
  get segmentStart(): number {
    return this.segment * this.segmentSize;
  }

  /** Rows waiting to be emitted (a pending set delta counts each of its users). */
  get dirtyCount(): number {
    let users = 0;
    for (const d of this.openDeltas.values()) users += d.users.length;
    for (const d of this.closedDeltas) users += d.users.length;
    return this.dirty.size + users;
  }

  /** Marks `offset` as consumed without aggregating it (a record sent to the DLQ). */
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
      if (this.previousIds.get(hash, origin, eventId) === undefined) this.previousIds.add(hash, origin, eventId, contentFingerprint(event.record));
      this.position = offset + 1;
      return 'seeded';
    }
    this.advanceTo(offset);
    this.position = offset + 1;
    const fingerprint = contentFingerprint(event.record);
    const seen = this.currentIds.get(hash, origin, eventId) ?? this.previousIds.get(hash, origin, eventId);
    if (seen !== undefined) {
      if (seen !== fingerprint) return 'conflict';
      this.duplicates += 1;
      return 'duplicate';
    }
    this.currentIds.add(hash, origin, eventId, fingerprint);
    if (!this.aggregates) return 'counted';
    if (this.rowsHeld + this.activeHeld >= this.maxRows) this.startChunk();
    const r = event.record;
    const window = windowStartOf(r.occurredAt);
    const received = r.receivedAt ?? null;
    this.addActiveUser(window, r.userId, offset, received);
    // Dimension values in DIMENSIONS order.
    if (event.kind === 'user') {
      const u = event.record;
      this.bump('users', window, u.country ?? '', u.device ?? '', u.type, offset, received, 1, 0, 0);
    } else {
      const o = event.record;
      let quantity = 0;
      for (const item of o.items) quantity += item.quantity;
      this.bump('orders', window, o.country ?? '', o.currency ?? '', o.type, offset, received, 1, o.amountCents ?? 0, quantity);
      if (o.type === 'order_placed') {
        for (const item of o.items) {
          this.bump('products', window, item.category ?? '', o.currency ?? '', item.sku, offset, received, 1, item.quantity * item.unitPriceCents, item.quantity);
        }
      }
    }
    return 'counted';
  }

  /** Closes the open chunk: its rows stay dirty until emitted, then nothing holds them. */
  private startChunk(): void {
    this.chunk += 1;
    this.closeChunk();
  }

  /** Forgets the open chunk's rows and sets (dirty ones stay until emitted); its pending deltas wait with the closed ones. */
  private closeChunk(): void {
    this.block = undefined;
    this.rowsHeld = 0;
    this.index = new Map();
    this.active = new Map();
    this.activeHeld = 0;
    this.keyHeads.clear();
    this.values = new Map();
    for (const d of this.openDeltas.values()) this.closedDeltas.push(d);
    this.openDeltas = new Map();
  }

  /** A user of `window` not yet seen in this chunk joins the window's set and its pending delta. */
  private addActiveUser(windowStart: number, userId: string, offset: number, receivedAt: number | null): void {
    let seen = this.active.get(windowStart);
    if (!seen) this.active.set(windowStart, (seen = new Set()));
    if (seen.has(userId)) return;
    seen.add(userId);
    this.activeHeld += 1;
    let delta = this.openDeltas.get(windowStart);
    if (!delta) this.openDeltas.set(windowStart, (delta = { segment: this.segment, chunk: this.chunk, windowStart, users: [], version: offset, maxReceivedAt: null }));
    delta.users.push(userId);
    delta.version = offset;
    if (receivedAt !== null && (delta.maxReceivedAt === null || receivedAt > delta.maxReceivedAt)) delta.maxReceivedAt = receivedAt;
  }

  /** Closes segments before `offset`'s: their rows stay dirty until emitted; ids roll over. */
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
    this.closeChunk();
    this.segment = seg;
    this.chunk = 0;
  }

  /**
   * Adds to the row of (kind, window, dims) in the open chunk. This runs two to four times per
   * event, so the row is found through nested maps of the values as decoded, and its key (as
   * rowKey builds it: the test pins that) is built only when the row is created — the per-event
   * key string was a tenth of the processor's CPU (docs/benchmarks.md).
   */
  private bump(kind: keyof typeof DIMENSIONS, windowStart: number, a: string, b: string, c: string, offset: number, receivedAt: number | null,
    count: number, amountCents: number, quantity: number): void {
    let byWindow = this.index.get(kind);
    if (!byWindow) this.index.set(kind, (byWindow = new Map()));
    // A new row: its values count against their bounds first (an existing row's already did).
    if (byWindow.get(windowStart)?.get(a)?.get(b)?.get(c) === undefined) [a, b, c] = this.bounded(kind, windowStart, a, b, c);
    let byA = byWindow.get(windowStart);
    if (!byA) byWindow.set(windowStart, (byA = new Map()));
    let byB = byA.get(a);
    if (!byB) byA.set(a, (byB = new Map()));
    let byC = byB.get(b);
    if (!byC) byB.set(b, (byC = new Map()));
    let held = byC.get(c);
    if (!held) {
      const names = DIMENSIONS[kind];
      let head = this.keyHeads.get(kind);
      if (head === undefined) this.keyHeads.set(kind, (head = `${kind}|${this.topic}|${this.partition}|${this.segment}|${this.chunk}|`));
      const key = `${head}${windowStart}|${names[0]}=${a.length}:${a},${names[1]}=${b.length}:${b},${names[2]}=${c.length}:${c}`;
      const dims = DIMS_OF[kind](a, b, c);
      held = {
        key, block: undefined, isDirty: false,
        row: { kind, topic: this.topic, partition: this.partition, segment: this.segment, chunk: this.chunk, windowStart, dims, count: 0, amountCents: 0, quantity: 0, version: offset, users: NO_USERS, maxReceivedAt: null },
      };
      byC.set(c, held);
      this.rowsHeld += 1;
    }
    const row = held.row;
    row.count += count;
    row.amountCents += amountCents;
    row.quantity += quantity;
    row.version = offset;
    if (receivedAt !== null && (row.maxReceivedAt === null || receivedAt > row.maxReceivedAt)) row.maxReceivedAt = receivedAt;
    const range = Math.floor(offset / this.blockOffsets);
    if (held.block?.range !== range || held.block !== this.block) {
      // Joins the block being filled (of this range, not full yet), leaving the one of its previous change.
      if (this.block?.range !== range || this.block.members.size >= BLOCK_ROWS) {
        const part = this.block?.range === range ? this.block.part + 1 : 0;
        this.block = { key: `block|${this.topic}|${this.partition}|${this.segment}|${this.chunk}|${range}.${part}`, range, part, members: new Set() };
      }
      if (held.block !== this.block) {
        held.block?.members.delete(held);
        held.block = this.block;
        this.block.members.add(held);
      }
    }
    this.markDirty(held);
  }

  /** The values a new row of (kind, window) takes: each as given while within its dimension's bound, OTHER past it. */
  private bounded(kind: keyof typeof DIMENSIONS, windowStart: number, a: string, b: string, c: string): [string, string, string] {
    let byWindow = this.values.get(kind);
    if (!byWindow) this.values.set(kind, (byWindow = new Map()));
    let sets = byWindow.get(windowStart);
    if (!sets) byWindow.set(windowStart, (sets = [new Set(), new Set(), new Set()]));
    const names = DIMENSIONS[kind];
    const out: [string, string, string] = [a, b, c];
    for (let i = 0; i < 3; i++) {
      const seen = sets[i]!;
      const value = out[i]!;
      if (seen.has(value)) continue;
      if (seen.size < DIMENSION_BOUNDS[names[i]!]!) {
        seen.add(value);
        continue;
      }
      out[i] = OTHER;
      const name = `${kind}.${names[i]}`;
      this.folded.set(name, (this.folded.get(name) ?? 0) + 1);
    }
    return out;
  }

  private markDirty(held: Held): void {
    if (held.isDirty) return;
    held.isDirty = true;
    this.dirty.add(held);
  }

  /**
   * Snapshots (copies) of the rows changed since the last call, and clears the dirty set. Until
   * `restoreDirty` or the next take, the caller owns them: a failed send gives them back.
   *
   * A changed row is taken with every other row of its block (next to each other, marked with
   * the block's key), to go as one record under that key. Each copy of a block holds all its rows
   * at their newest version, so the copy compaction keeps lacks only rows that moved on to a later
   * block, where they are newer. Unchanged rows of a block go again as they went before (same
   * key, same version): only the block a flush fell in has any, one per partition. A block of one
   * row, or a row given back by restoreDirty after its chunk closed, is taken alone.
   */
  takeDirty(): Taken[] {
    const out: Taken[] = [];
    const whole = new Set<Block>();
    for (const held of this.dirty) {
      const block = held.block;
      if (block && block.members.size > 1) {
        if (whole.has(block)) continue;
        whole.add(block);
        for (const h of block.members) out.push({ key: h.key, row: { ...h.row }, block: block.key });
      } else {
        out.push({ key: held.key, row: { ...held.row } });
      }
    }
    for (const held of this.dirty) held.isDirty = false;
    this.dirty.clear();
    for (const d of [...this.closedDeltas, ...this.openDeltas.values()]) {
      const row: RollupRow = {
        kind: 'active_users', topic: this.topic, partition: this.partition, segment: d.segment, chunk: d.chunk, windowStart: d.windowStart,
        dims: {}, count: d.users.length, amountCents: 0, quantity: 0, version: d.version, users: d.users, maxReceivedAt: d.maxReceivedAt,
      };
      out.push({ key: rowKey(row), row });
    }
    this.closedDeltas = [];
    this.openDeltas = new Map();
    return out;
  }

  /** Gives back rows whose send failed: dirty again (the live row if its chunk is still open); a set delta joins the pending ones. */
  restoreDirty(taken: Taken[]): void {
    for (const { key, row } of taken) {
      if (row.kind === 'active_users') {
        const delta = { segment: row.segment, chunk: row.chunk, windowStart: row.windowStart, users: [...row.users], version: row.version, maxReceivedAt: row.maxReceivedAt };
        if (row.segment !== this.segment || row.chunk !== this.chunk) this.closedDeltas.push(delta);
        else if (this.openDeltas.has(row.windowStart)) this.openDeltas.get(row.windowStart)!.users.push(...delta.users);
        else this.openDeltas.set(row.windowStart, delta);
        continue;
      }
      // A live row that changed since is dirty already; a closed chunk's row comes back as taken, alone.
      this.markDirty(this.liveRow(row) ?? { key, row, block: undefined, isDirty: false });
    }
  }

  /** The open chunk's row for `row`'s kind, window and dims, if `row` is of the open chunk and it holds one. */
  private liveRow(row: RollupRow): Held | undefined {
    if (row.segment !== this.segment || row.chunk !== this.chunk || !(row.kind in DIMENSIONS)) return undefined;
    const names = DIMENSIONS[row.kind as keyof typeof DIMENSIONS];
    return this.index.get(row.kind)?.get(row.windowStart)?.get(row.dims[names[0]] ?? '')?.get(row.dims[names[1]] ?? '')?.get(row.dims[names[2]] ?? '');
  }

  /** Rows held for the open chunk, each user of a window's set counting as one (the memory bound counts these, plus the dirty ones of closed chunks). */
  get rowCount(): number {
    return this.rowsHeld + this.activeHeld;
  }
}
