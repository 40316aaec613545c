import { declarationFingerprint, type RollupDeclaration } from './format';
import { versionId } from './row';
import { EventPlan } from '../events/plan';
import { BUILTIN_NAMES, builtinStates } from './builtin';

/**
 * The declared rollups of a pipeline, as the declarations topic (`<rollups topic>.declarations`,
 * compacted, JSON) records them: every version applied, where its backfill and its live path
 * hand over, when its backfill finished and when the sink had written it, and when it was
 * dropped. Every stage rebuilds this book from the topic and follows it (docs/rollups.md).
 */

/** A version as `tributary rollups apply` registered it. */
export interface VersionRecord {
  name: string;
  version: number;
  declaration: RollupDeclaration;
  appliedAt: number;
  /** The input topic it reads, and the segment size the handover offsets are aligned to. */
  topic: string;
  segmentSize: number;
  /** Per input partition: the backfill covers [from, handover), the live path handover on. */
  from: Record<string, number>;
  handover: Record<string, number>;
  /** Per input partition: its end when applied. Complete means counted up to here at least, by the backfill or the live path. */
  end: Record<string, number>;
  /** The event time the backfill was asked to start at (`--from`); null: the earliest retained offset. */
  fromTime: number | null;
  /**
   * A built-in rollup (schemas/declarations/builtin.ts), never on the topic: it reads the input
   * topics of its source, has no handover (computed from the first event on) and is complete.
   */
  builtin?: boolean;
}

/** Written by the backfill once it emitted everything before the handover: the rollups topic's end offsets then. */
export interface BackfillRecord {
  at: number;
  rollupsEnd: Record<string, number>;
}

/** Written by a sink once it inserted every row up to the backfill's `rollupsEnd`: the version covers its history. */
export interface CompleteRecord {
  at: number;
}

export interface DropRecord {
  at: number;
  reason: 'dropped' | 'superseded';
}

/**
 * Written by the processor that first resumes an input partition from a commit of a processor
 * that computed the built-in rollups in code (before they were declarations): the built-in
 * versions count that partition from `segment`'s start on; the rows of earlier segments are in
 * the old tables (rollup_orders, …), which a sink copies over once it read the rollups topic up
 * to `rollupsEnd` (docs/rollups.md#upgrading). The same on every retry: it is written before
 * the partition's first new commit, from the old one.
 */
export interface LegacyRecord {
  topic: string;
  partition: number;
  segment: number;
  rollupsEnd: Record<string, number>;
  at: number;
}

export interface LegacyState {
  record: LegacyRecord;
  /** When a sink copied that partition's old rows. */
  migrated?: { at: number };
}

export const legacyKey = (kind: 'legacy' | 'migrated', topic: string, partition: number) =>
  `${kind}/${topic}/${partition}`;

export interface VersionState {
  id: string;
  record: VersionRecord;
  backfill?: BackfillRecord;
  complete?: CompleteRecord;
  dropped?: DropRecord;
}

/** The consumer group of a version's backfill: its progress is that group's committed offsets. */
export const backfillGroup = (processorGroup: string, name: string, version: number) =>
  `${processorGroup}-backfill-${name}-${version}`;

export const declarationsTopic = (rollupsTopic: string) => `${rollupsTopic}.declarations`;

type Kind = 'version' | 'backfill' | 'complete' | 'drop';
export const bookKey = (kind: Kind, name: string, version: number) => `${kind}/${name}/${version}`;

export class DeclarationBook {
  private readonly states = new Map<string, VersionState>();
  private readonly listeners = new Set<(state: VersionState, kind: Kind) => void>();

  /** A book holds the built-in versions from the start (none in tests that ask for an empty one). */
  constructor(builtins: VersionState[] = builtinStates()) {
    for (const s of builtins) this.states.set(s.id, s);
  }

  private readonly legacies = new Map<string, LegacyState>();
  /** The declared event types (docs/events.md): the same topic records them, before any rollup that reads one. */
  readonly events = new EventPlan();

  /** One record of the topic; keys this book does not know are skipped. */
  apply(key: string, value: unknown): void {
    if (key.startsWith('event/')) {
      this.events.apply(key, value);
      return;
    }
    const old = /^(legacy|migrated)\/(.+)\/(\d+)$/.exec(key);
    if (old) {
      if (value === null || typeof value !== 'object') return;
      const id = `${old[2]}/${old[3]}`;
      if (old[1] === 'legacy') this.legacies.set(id, { ...this.legacies.get(id), record: value as LegacyRecord });
      else {
        const known = this.legacies.get(id);
        if (known) known.migrated ??= value as { at: number };
      }
      return;
    }
    const m = /^(version|backfill|complete|drop)\/([a-z][a-z0-9_]*)\/(\d+)$/.exec(key);
    if (!m || value === null || typeof value !== 'object' || BUILTIN_NAMES.has(m[2]!)) return;
    const kind = m[1] as Kind;
    const id = versionId(m[2]!, Number(m[3]));
    let state = this.states.get(id);
    if (kind === 'version') {
      if (state) return; // a version never changes
      this.states.set(id, (state = { id, record: value as VersionRecord }));
    } else {
      if (!state) return;
      if (kind === 'backfill') state.backfill ??= value as BackfillRecord;
      else if (kind === 'complete') state.complete ??= value as CompleteRecord;
      else state.dropped ??= value as DropRecord;
    }
    for (const listener of this.listeners) listener(state, kind);
  }

  /** Partitions resumed from a commit before the built-in rollups were declarations: where they count from, and whether their old rows were copied. */
  legacy(): LegacyState[] {
    return [...this.legacies.values()];
  }

  /**
   * How far an upgrade from the per-kind rollups got (docs/rollups.md#upgrading-from-the-per-kind-rollups):
   * the input partitions that resumed from an old commit, those whose old rows a sink copied, and
   * those still waiting (`topic/partition`). Null when this pipeline never had per-kind rollups.
   */
  upgrade(): { partitions: number; copied: number; waiting: string[] } | null {
    const all = this.legacy();
    if (all.length === 0) return null;
    const waiting = all.filter((l) => !l.migrated).map((l) => `${l.record.topic}/${l.record.partition}`);
    return { partitions: all.length, copied: all.length - waiting.length, waiting };
  }

  onChange(listener: (state: VersionState, kind: Kind) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get(name: string, version: number): VersionState | undefined {
    return this.states.get(versionId(name, version));
  }

  /** Every version, by name then version. */
  all(): VersionState[] {
    return [...this.states.values()].sort(
      (a, b) => a.record.name.localeCompare(b.record.name) || a.record.version - b.record.version,
    );
  }

  /** Versions being computed: applied and not dropped. */
  live(): VersionState[] {
    return this.all().filter((s) => !s.dropped);
  }

  versionsOf(name: string): VersionState[] {
    return this.all().filter((s) => s.record.name === name);
  }

  /** What the API answers with: the newest version of `name` that covers its history and is not dropped. */
  served(name: string): VersionState | undefined {
    return this.versionsOf(name)
      .filter((s) => s.complete && !s.dropped)
      .at(-1);
  }

  /** The version `apply` would register for `d`: the live one with the same meaning, or the next number. */
  plan(d: RollupDeclaration): { existing: VersionState } | { version: number } {
    const versions = this.versionsOf(d.name);
    const same = versions
      .filter((s) => !s.dropped)
      .find((s) => declarationFingerprint(s.record.declaration) === declarationFingerprint(d));
    if (same) return { existing: same };
    return { version: (versions.at(-1)?.record.version ?? 0) + 1 };
  }
}
