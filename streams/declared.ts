import type { OrderEvent, OrderItem, PipelineEvent, UserEvent } from '../schemas/catalog';
import {
  isEventTypeSource,
  WINDOWS,
  type PinnedProperty,
  type RollupDeclaration,
} from '../schemas/declarations/format';
import { decimalValue, type CustomEvent } from '../schemas/events/avro';
import { declaredRowKey, type DeclaredRow } from '../schemas/declarations/row';
import { OTHER } from '../schemas/rollup';
import { BLOCK_OFFSETS, BLOCK_ROWS, segmentOf } from './partition';

/** A user or an order record: a field the record's kind lacks reads as absent. */
type AnyRecord = Omit<UserEvent, 'type'> & Omit<OrderEvent, 'type'> & { type: string };
type Text = (r: AnyRecord, item: OrderItem | undefined) => string;
type Num = (r: AnyRecord, item: OrderItem | undefined) => number | null;

/** How each field is read from a decoded record (and, for order_lines, one of its items). */
const TEXT: Record<string, Text> = {
  type: (r) => r.type,
  userId: (r) => r.userId,
  country: (r) => r.country ?? '',
  device: (r) => r.device ?? '',
  page: (r) => r.page ?? '',
  sessionId: (r) => r.sessionId ?? '',
  orderId: (r) => r.orderId,
  currency: (r) => r.currency ?? '',
  sku: (_r, i) => i?.sku ?? '',
  category: (_r, i) => i?.category ?? '',
};
const NUMBER: Record<string, Num> = {
  amountCents: (r) => r.amountCents,
  units: (r) => r.items.reduce((n, i) => n + i.quantity, 0),
  lines: (r) => r.items.length,
  quantity: (_r, i) => i?.quantity ?? null,
  unitPriceCents: (_r, i) => i?.unitPriceCents ?? null,
  revenueCents: (_r, i) => (i ? i.quantity * i.unitPriceCents : null),
};
const text = (field: string, pinned: Record<string, PinnedProperty> | undefined): Text => {
  if (field.startsWith('properties.')) {
    const name = field.slice('properties.'.length);
    const p = pinned?.[name];
    if (!p) return (r) => (r as UserEvent).properties?.[name] ?? '';
    // A declared type's property: absent (written before it existed) reads as its pinned default; null as ''.
    const fallback = p.default === null ? '' : String(p.default);
    return (r) => {
      const v = (r as unknown as CustomEvent).properties[name];
      return v === undefined ? fallback : v === null ? '' : String(v);
    };
  }
  return TEXT[field]!;
};
const number = (field: string, pinned: Record<string, PinnedProperty> | undefined): Num => {
  const p = field.startsWith('properties.') ? pinned?.[field.slice('properties.'.length)] : undefined;
  if (!p) return NUMBER[field]!;
  const name = field.slice('properties.'.length);
  const fallback = typeof p.default === 'number' ? p.default : null;
  // A decimal travels as its Avro bytes and counts as its unscaled value (the measure keeps its scale).
  if (p.type === 'decimal') {
    return (r) => {
      const v = (r as unknown as CustomEvent).properties[name];
      return v === undefined ? fallback : v === null ? null : decimalValue(v as Buffer);
    };
  }
  return (r) => {
    const v = (r as unknown as CustomEvent).properties[name];
    return v === undefined ? fallback : (v as number | null);
  };
};

/** A declaration made into functions once: what the processor runs per event. */
export interface CompiledRollup {
  declaration: RollupDeclaration;
  version: number;
  /** The events it reads: user or order events, or both (`any`: source events), or one declared type (`custom`, `eventType`). */
  kind: 'user' | 'order' | 'any' | 'custom';
  eventType: string | undefined;
  lines: boolean;
  windowMs: number;
  /** Whether an event (a line) counts; undefined when every one does (no types, no filter: nothing to call per event). */
  accepts: ((r: AnyRecord, item: OrderItem | undefined) => boolean) | undefined;
  dims: Text[];
  /** Non-distinct measures, in declaration order: count, sum, min, max. */
  values: Array<{ fn: 'count' | 'sum' | 'min' | 'max'; read: Num }>;
  distinct: Text[];
}

export function compileRollup(declaration: RollupDeclaration, version: number): CompiledRollup {
  const pinned = declaration.properties;
  const filters: Array<{ read: Text; values: Set<string> }> = Object.entries(declaration.filter ?? {}).map(
    ([f, vs]) => ({ read: text(f, pinned), values: new Set(vs) }),
  );
  const types = declaration.types ? new Set(declaration.types) : undefined;
  const custom = isEventTypeSource(declaration.source);
  return {
    declaration,
    version,
    kind: custom
      ? 'custom'
      : declaration.source === 'users'
        ? 'user'
        : declaration.source === 'events'
          ? 'any'
          : 'order',
    eventType: custom ? declaration.source : undefined,
    lines: declaration.source === 'order_lines',
    windowMs: WINDOWS[declaration.window],
    accepts:
      !types && filters.length === 0
        ? undefined
        : filters.length === 0
          ? (r) => types!.has(r.type)
          : (r, item) => (!types || types.has(r.type)) && filters.every((f) => f.values.has(f.read(r, item))),
    dims: declaration.dimensions.map((d) => text(d.field, pinned)),
    values: declaration.measures
      .filter((m) => m.fn !== 'distinct')
      .map((m) => ({
        fn: m.fn as 'count' | 'sum' | 'min' | 'max',
        read: m.fn === 'count' ? () => 1 : number(m.field!, pinned),
      })),
    distinct: declaration.measures.filter((m) => m.fn === 'distinct').map((m) => text(m.field!, pinned)),
  };
}

/**
 * A row of the open chunk: what varies per row only (its rollup, version, partition, segment and
 * chunk are the state's, added when it is emitted), one object per row (the memory bound counts rows).
 */
interface Held {
  /** The row's Kafka key, made when it is first sent alone. */
  key: string | undefined;
  windowStart: number;
  dims: string[];
  values: Array<number | null>;
  rowVersion: number;
  maxReceivedAt: number | null;
  isDirty: boolean;
  /** The block of the row's latest change (as the built-in rows travel: streams/partition.ts). */
  block: Block | undefined;
  /** Per distinct measure (none: empty): the values of this chunk, and those not emitted yet. */
  seen: Array<Set<string>>;
  pending: string[][];
  pendingVersion: number;
  pendingReceivedAt: number | null;
}

/**
 * The rows of a chunk whose latest change lies in one range of BLOCK_OFFSETS input offsets, at
 * most BLOCK_ROWS: a function of the records from the chunk's start. A flush sends the block of
 * each changed row whole, so the copy compaction keeps lacks only rows that moved on to a later
 * block, where they are newer.
 */
interface Block {
  key: string;
  range: number;
  part: number;
  members: Set<Held>;
}

/**
 * What takeDirty hands over: one `rollups` record, its key and its rows: a block of value rows
 * (or one row alone, keyed by the row), or the set deltas of one take (keyed by their last
 * offset: never replaced by another record).
 */
export interface DeclaredTaken {
  key: string;
  rows: DeclaredRow[];
}

/**
 * One declared rollup version over one input partition, under the deterministic-segments design
 * (docs/processing.md): rows cumulative per (segment, chunk, window, dimension values), each with
 * the offset of its last change. It covers offsets from `from` on only: the offset its live path
 * or its backfill starts at (docs/rollups.md#backfill). Its chunks and dimension bounds are its
 * own, so adding or dropping a rollup never moves another one's chunk cuts. Pure logic: the
 * caller has already dropped duplicates.
 */
/** window → first dimension's value → … → the row: found without building a key. */
type Node = Map<string, Node | Held>;
const NONE: never[] = [];

export class DeclaredState {
  private segment = -1;
  private chunk = 0;
  private index = new Map<number, Node | Held>();
  /** The dimension values of the event being added (reused). */
  private readonly scratch: string[];
  private held = 0;
  /** Rows changed since the last take, each once (isDirty). */
  private dirty: Held[] = [];
  /** Records of closed chunks not yet taken (their chunk's maps are gone), and records given back. */
  private closed: DeclaredTaken[] = [];
  /** The rows of `closed` (a record holds up to a block's). */
  private closedRows = 0;
  /** The block rows of the open chunk join now. */
  private block: Block | undefined;
  /** Per window, each dimension's values in the open chunk (for the bounds). */
  private values = new Map<number, Array<Set<string>>>();
  /** Events counted under __other__, per dimension field. */
  readonly folded = new Map<string, number>();

  constructor(
    readonly rollup: CompiledRollup,
    readonly topic: string,
    readonly partition: number,
    readonly segmentSize: number,
    readonly from: number,
    readonly maxRows = 10_000,
  ) {
    this.scratch = rollup.dims.map(() => '');
  }

  /** Counts one event that is not a duplicate, if it is at or past `from` and the rollup takes it. */
  apply(offset: number, event: PipelineEvent): void {
    if (offset < this.from || (event.kind !== this.rollup.kind && this.rollup.kind !== 'any')) return;
    if (event.kind === 'custom' && event.type !== this.rollup.eventType) return;
    const seg = segmentOf(offset, this.segmentSize);
    if (seg !== this.segment) {
      this.closeChunk();
      this.segment = seg;
      this.chunk = 0;
    }
    const r = event.record as AnyRecord;
    if (this.rollup.lines) {
      const accepts = this.rollup.accepts;
      for (const item of r.items) if (!accepts || accepts(r, item)) this.add(offset, r, item);
    } else if (!this.rollup.accepts || this.rollup.accepts(r, undefined)) this.add(offset, r, undefined);
  }

  private add(offset: number, r: AnyRecord, item: OrderItem | undefined): void {
    if (this.held >= this.maxRows) {
      this.closeChunk();
      this.chunk += 1;
    }
    const { windowMs, dims: readers, values, distinct } = this.rollup;
    const t = r.occurredAt;
    const windowStart = t - (((t % windowMs) + windowMs) % windowMs);
    const dims = this.scratch;
    for (let i = 0; i < readers.length; i++) dims[i] = readers[i]!(r, item);
    let held = this.lookup(windowStart, dims);
    if (!held) {
      // A new row: its values count against their bounds first (an existing row's already did).
      const bounded = this.bounded(windowStart, dims);
      held = this.lookup(windowStart, bounded);
      if (!held) {
        held = {
          key: undefined,
          windowStart,
          dims: bounded,
          values: values.map((v) => (v.fn === 'min' || v.fn === 'max' ? null : 0)),
          rowVersion: offset,
          maxReceivedAt: null,
          isDirty: false,
          block: undefined,
          pendingVersion: offset,
          pendingReceivedAt: null,
          seen: distinct.length > 0 ? distinct.map(() => new Set()) : NONE,
          pending: distinct.length > 0 ? distinct.map(() => []) : NONE,
        };
        this.insert(windowStart, bounded, held);
        this.held += 1;
      }
    }
    for (let i = 0; i < values.length; i++) {
      const m = values[i]!;
      const v = m.read(r, item);
      if (v === null) continue;
      const cur = held.values[i]!;
      held.values[i] =
        m.fn === 'count' || m.fn === 'sum'
          ? (cur ?? 0) + v
          : cur === null
            ? v
            : m.fn === 'min'
              ? Math.min(cur, v)
              : Math.max(cur, v);
    }
    held.rowVersion = offset;
    const received = r.receivedAt ?? null;
    if (received !== null && (held.maxReceivedAt === null || received > held.maxReceivedAt))
      held.maxReceivedAt = received;
    for (let i = 0; i < distinct.length; i++) {
      const v = distinct[i]!(r, item);
      if (held.seen[i]!.has(v)) continue;
      held.seen[i]!.add(v);
      held.pending[i]!.push(v);
      held.pendingVersion = offset;
      if (received !== null && (held.pendingReceivedAt === null || received > held.pendingReceivedAt))
        held.pendingReceivedAt = received;
      this.held += 1;
    }
    if (values.length > 0) this.joinBlock(held, offset);
    if (!held.isDirty) {
      held.isDirty = true;
      this.dirty.push(held);
    }
  }

  /** The row joins the block being filled for this offset's range, leaving the one of its previous change. */
  private joinBlock(held: Held, offset: number): void {
    const range = Math.floor(offset / BLOCK_OFFSETS);
    if (held.block === this.block && held.block?.range === range) return;
    if (this.block?.range !== range || this.block.members.size >= BLOCK_ROWS) {
      const part = this.block?.range === range ? this.block.part + 1 : 0;
      this.block = {
        key: `dblock|${this.rollup.declaration.name}|${this.rollup.version}|${this.topic}|${this.partition}|${this.segment}|${this.chunk}|${range}.${part}`,
        range,
        part,
        members: new Set(),
      };
    }
    held.block?.members.delete(held);
    held.block = this.block;
    this.block.members.add(held);
  }

  private lookup(windowStart: number, dims: readonly string[]): Held | undefined {
    let node: Node | Held | undefined = this.index.get(windowStart);
    for (let i = 0; i < dims.length && node !== undefined; i++) node = (node as Node).get(dims[i]!);
    return node as Held | undefined;
  }

  private insert(windowStart: number, dims: readonly string[], held: Held): void {
    if (dims.length === 0) {
      this.index.set(windowStart, held);
      return;
    }
    let node = this.index.get(windowStart) as Node | undefined;
    if (!node) this.index.set(windowStart, (node = new Map()));
    for (let i = 0; i < dims.length - 1; i++) {
      let next = node.get(dims[i]!) as Node | undefined;
      if (!next) node.set(dims[i]!, (next = new Map()));
      node = next;
    }
    node.set(dims[dims.length - 1]!, held);
  }

  /** Dimension values of a new row (a new array): each as given while its window has room under the bound, else OTHER. */
  private bounded(windowStart: number, dims: string[]): string[] {
    const { dimensions } = this.rollup.declaration;
    let sets = this.values.get(windowStart);
    if (!sets) this.values.set(windowStart, (sets = dimensions.map(() => new Set())));
    return dims.map((value, i) => {
      const seen = sets[i]!;
      if (seen.has(value)) return value;
      if (seen.size < dimensions[i]!.bound) {
        seen.add(value);
        return value;
      }
      const field = dimensions[i]!.field;
      this.folded.set(field, (this.folded.get(field) ?? 0) + 1);
      return OTHER;
    });
  }

  /** The open chunk's dirty rows wait as records; its maps go. */
  private closeChunk(): void {
    for (const taken of this.drain()) {
      this.closed.push(taken);
      this.closedRows += taken.rows.length;
    }
    this.index = new Map();
    this.values = new Map();
    this.held = 0;
    this.block = undefined;
  }

  private drain(): DeclaredTaken[] {
    const out: DeclaredTaken[] = [];
    const blocks = new Set<Block>();
    const deltas: DeclaredRow[] = [];
    const { name } = this.rollup.declaration;
    const { version } = this.rollup;
    // The rows as they leave: a copy, so that later events do not change what a send holds.
    const copy = (h: Held): DeclaredRow => ({
      rollup: name,
      version,
      topic: this.topic,
      partition: this.partition,
      segment: this.segment,
      chunk: this.chunk,
      windowStart: h.windowStart,
      dims: h.dims,
      values: [...h.values],
      sets: NONE,
      rowVersion: h.rowVersion,
      maxReceivedAt: h.maxReceivedAt,
    });
    for (const held of this.dirty) {
      held.isDirty = false;
      if (held.block && held.block.members.size > 1) blocks.add(held.block);
      else if (this.rollup.values.length > 0) {
        const row = copy(held);
        out.push({ key: (held.key ??= declaredRowKey(row)), rows: [row] });
      }
      if (held.pending.some((p) => p.length > 0)) {
        deltas.push({
          ...copy(held),
          values: [],
          sets: held.pending,
          rowVersion: held.pendingVersion,
          maxReceivedAt: held.pendingReceivedAt,
        });
        held.pending = this.rollup.distinct.map(() => []);
        held.pendingReceivedAt = null;
      }
    }
    for (const block of blocks) out.push({ key: block.key, rows: [...block.members].map(copy) });
    if (deltas.length > 0) {
      // Each addition is newer than any of an earlier take's: the last one names the record.
      let last = 0;
      for (const d of deltas) last = Math.max(last, d.rowVersion);
      const r = deltas[0]!;
      out.push({
        key: `dsets|${r.rollup}|${r.version}|${r.topic}|${r.partition}|${r.segment}|${r.chunk}|v${last}`,
        rows: deltas,
      });
    }
    this.dirty = [];
    return out;
  }

  /** Records for every row changed since the last call; until restoreDirty or the next take, the caller owns them. */
  takeDirty(): DeclaredTaken[] {
    const out = [...this.closed, ...this.drain()];
    this.closed = [];
    this.closedRows = 0;
    return out;
  }

  /** Records whose send failed: sent again with the next take (a newer one of the same key, if the row changed since, supersedes it). */
  restoreDirty(taken: DeclaredTaken[]): void {
    this.closed.unshift(...taken);
    for (const t of taken) this.closedRows += t.rows.length;
  }

  /** Rows waiting to be taken: of closed chunks, and changed in the open one. */
  get dirtyCount(): number {
    return this.closedRows + this.dirty.length;
  }

  /** Rows and distinct values held for the open chunk (the memory bound counts these). */
  get rowCount(): number {
    return this.held;
  }
}
