import type avro from 'avsc';
import type { Logger } from '../platform/logger';
import { errorMessage } from '../platform/errors';
import { retry } from '../platform/retry';
import { StallClock } from '../platform/stall';
import { sendIsolating } from '../platform/isolate';
import { readBatchLimits, recordBytes } from '../platform/kafka/batch-limit';
import {
  type Admin,
  type EachBatchPayload,
  type Kafka,
  type KafkaMessage,
  connectAdmin,
  CheckedProducer,
  keepingMembership,
} from '../platform/kafka/client';
import { GroupConsumer } from '../platform/kafka/consumer';
import { optionalTopic } from '../platform/kafka/topics';
import { partitionForKey } from '../platform/kafka/partitioner';
import { SCHEMAS, type OrderEvent, type PipelineEvent, type UserEvent } from '../schemas/catalog';
import type { CustomEvent } from '../schemas/events/avro';
import { decodeBody, schemaIdOf, type WireFormatError } from '../schemas/wire';
import { NOT_CACHED, type SchemaClient } from '../schemas/client';
import { deadLetter, type DeadLetterInput } from '../schemas/dead-letter';
import { customEventErrors, eventLimitErrors, type EventLimits } from '../schemas/limits';
import { deadLettered, taken, type DeadLetterReason, type RecordOutcome } from '../schemas/outcome';
import { includedRollups, processedMetadata } from '../schemas/progress';
import {
  DeclarationBook,
  legacyKey,
  type LegacyRecord,
  type VersionRecord,
  type VersionState,
} from '../schemas/declarations/book';
import { declaredRowKey, versionId, type DeclaredRow } from '../schemas/declarations/row';
import type { JsonLog } from '../platform/kafka/json-log';
import { sourceTopics } from '../schemas/declarations/format';
import { PartitionState, segmentOf } from './partition';
import { compileRollup, DeclaredState, type CompiledRollup, type DeclaredTaken } from './declared';
import type { ProcessorMetrics } from './metrics';
import { inSends, isRecordAtFault, type Emission } from './emission';

/**
 * Where the live path counts a declared version from on a partition: its handover (a segment
 * start), or its `--from` offset when that lies past the handover, in the last segment (the
 * backfill then has nothing to do; a recomputation from the segment start skips what lies before).
 */
const liveStart = (v: VersionRecord, partition: number) => Math.max(v.handover[partition] ?? 0, v.from[partition] ?? 0);

export interface ProcessorOptions {
  groupId: string;
  /** `custom`: the topic of the declared event types (docs/events.md); unset, none is read. */
  topics: { user: string; order: string; custom?: string; rollups: string; dlq: string };
  /** Offsets per segment (S). */
  segmentSize: number;
  flushIntervalMs: number;
  /** Dirty rows across partitions above which a batch waits for a flush (pauses fetching). */
  maxPendingRows: number;
  /** Distinct rows an open chunk of one partition's segment holds before the next chunk starts (bounded memory). */
  maxRowsPerPartition: number;
  /**
   * A backfill's fetch size per partition (PROCESS_BACKFILL_FETCH_BYTES). A backfill shares its
   * process (and event loop) with the live path: it takes one partition at a time in small
   * fetches, so the live path's batches and flushes never wait behind a long stretch of backfill
   * work (docs/benchmarks.md: freshness while a backfill runs).
   */
  backfillFetchBytes: number;
  /** The bounds of an event (EVENT_LIMITS): a record beyond them is dead-lettered, as ingest would have refused it. */
  eventLimits: EventLimits;
  /**
   * Set: this processor is the backfill of one declared rollup version (docs/rollups.md#backfill):
   * it reads that version's input topic from `from` to `handover` per partition, computes that
   * version only, and calls `onDone` once every partition of its group committed its handover.
   */
  backfill?: { version: VersionRecord; onDone: () => Promise<void> };
}

export interface ProcessorDeps {
  kafka: Kafka;
  schemas: SchemaClient;
  logger: Logger;
  metrics: ProcessorMetrics;
  options: ProcessorOptions;
  /** The rollups to compute (the built-in ones, and those declared, followed as they change); the built-in ones alone when absent. */
  declarations?: DeclarationBook;
  /** Where a partition resumed from a commit of before the built-in rollups were declarations is recorded (schemas/declarations/book.ts LegacyRecord). */
  declarationsLog?: Pick<JsonLog, 'append'>;
}

/**
 * Records per send, and bytes (recordBytes): a partition's record batch must stay under its
 * topic's max.message.bytes, read at start (1 MB by default); the lower of this and that counts.
 */
const EMIT_CHUNK = 2000;
const EMIT_BYTES = 900 * 1024;
/**
 * A block (streams/partition.ts) larger than this once encoded goes as its rows alone: rows of
 * extreme dimension values stay sendable, whatever a block holds. kafkajs' cost is per record it
 * produces (the floor bench, docs/benchmarks.md), so a few hundred rows to a record of tens of KB
 * save nearly all of it.
 */
const BLOCK_MAX_BYTES = 256 * 1024;
/**
 * Batches handled at once: more than a member is usually assigned, so every partition starts at
 * once. With 4, a fifth partition's first batch (which only seeks back to seed the duplicate ids)
 * waited for a slot behind long batches of the others, and a backlog's partitions resumed tens
 * of seconds apart.
 */
const PARTITIONS_AT_ONCE = 64;

/**
 * Bytes fetched per partition per request. A fetched batch lives, decoded, until it is applied:
 * the smallest size that kept the catch-up as fast held the processor's peak at about half of what
 * 4 MiB did (kafkajs' default is 1; the figures are in docs/benchmarks.md).
 */
const FETCH_BYTES_PER_PARTITION = 512 * 1024;
/** A killed processor's partitions move to another member after this long without a heartbeat. */
const SESSION_TIMEOUT_MS = 10_000;
const HEARTBEAT_INTERVAL_MS = 1000;
/**
 * A flush that finished no send for this long stops heartbeating: longer than one send's kafkajs
 * retry budget (~17 s, platform/kafka/client.ts) plus our backoff (at most 5 s).
 */
const STALE_AFTER_MS = 30_000;
/** On SIGTERM, the last flush gets this long; what it could not send is recomputed by the next owner. */
const STOP_FLUSH_MS = 10_000;
/** Flushes failing for this long make /readyz say the processor cannot make progress. */
const STALLED_AFTER_MS = 30_000;

/**
 * The stream processor: per input partition, event-time rollups under deterministic segments.
 * Emits dirty rows every flush interval (acks=all), then commits each partition's open-segment
 * start. A crash, rebalance or replay recomputes the open segment from its start and re-emits
 * rows identical to those already emitted, so the ClickHouse totals stay exact.
 */
export class StreamProcessor {
  private readonly states = new Map<string, PartitionState>();
  private readonly book: DeclarationBook;
  /** Per partition (`topic/partition`), the declared versions computed over it, by `name@version`. */
  private readonly declared = new Map<string, Map<string, DeclaredState>>();
  private readonly compiled = new Map<string, CompiledRollup>();
  /** Partitions to recompute from an offset (a version applied behind their position), after the next flush. */
  private readonly rewinds = new Map<string, number>();
  private unfollow: (() => void) | undefined;
  private declaredSchemaId = 0;
  private readonly pendingDeadLetters: Emission[] = [];
  private consumer: GroupConsumer | undefined;
  private producer!: CheckedProducer;
  private admin!: Admin;
  /** What one send's records may add up to (EMIT_BYTES, or less when a topic takes smaller batches). */
  private emitBytes = EMIT_BYTES;
  private dlqSchemaId = 0;
  private rollupPartitions = 0;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Aborted when the processor stops (at most STOP_FLUSH_MS after stop() began): every retry gives up. */
  private readonly stopping = new AbortController();
  /** Since when flushes fail (undefined while they succeed), and why. */
  private readonly stall = new StallClock(STALLED_AFTER_MS, 'no rollup row could be emitted');
  /** The group heartbeat of the latest batch, kept alive while a flush waits on Kafka. */
  private heartbeat: (() => Promise<void>) | undefined;

  constructor(private readonly deps: ProcessorDeps) {
    this.book = deps.declarations ?? new DeclarationBook();
  }

  async start(): Promise<void> {
    const { kafka, schemas, options, logger } = this.deps;
    this.dlqSchemaId = await schemas.register({ ...SCHEMAS.deadLetter, subject: `${options.topics.dlq}-value` });
    this.declaredSchemaId = await schemas.register({
      ...SCHEMAS.declaredBlock,
      subject: `${options.topics.rollups}-${SCHEMAS.declaredBlock.name}`,
    });
    if (!options.backfill) this.unfollow = this.book.onChange((state, kind) => this.onDeclaration(state, kind));
    this.admin = await connectAdmin(kafka);
    const { topics } = await this.admin.fetchTopicMetadata({ topics: [options.topics.rollups] });
    this.rollupPartitions = topics[0]?.partitions.length ?? 0;
    const limits = await readBatchLimits(this.admin, [options.topics.rollups, options.topics.dlq]);
    this.emitBytes = Math.min(EMIT_BYTES, limits.budget(options.topics.rollups), limits.budget(options.topics.dlq));
    this.producer = await CheckedProducer.connect(kafka);
    const custom =
      options.topics.custom && !options.backfill
        ? await optionalTopic(this.admin, options.topics.custom, logger, 'processor.custom.missing')
        : undefined;
    this.consumer = await GroupConsumer.start(kafka, {
      groupId: options.groupId,
      topics: options.backfill
        ? [options.backfill.version.topic]
        : [options.topics.user, options.topics.order, ...(custom ? [custom] : [])],
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      maxBytesPerPartition: options.backfill ? options.backfillFetchBytes : FETCH_BYTES_PER_PARTITION,
      partitionsConsumedConcurrently: options.backfill ? 1 : PARTITIONS_AT_ONCE,
      eachBatchAutoResolve: false,
      eachBatch: (p) => this.eachBatch(p),
      onAssignment: (assignment) => this.onAssignment(assignment),
    });
    // A failed flush gave its rows back (dirty again) and committed nothing; the next one retries them.
    this.timer = setInterval(() => {
      this.deps.metrics.stalled.set(this.stall.stalled ? 1 : 0);
      void this.flush().catch(() => undefined);
    }, options.flushIntervalMs);
    logger.info({ groupId: options.groupId, segmentSize: options.segmentSize }, 'processor.started');
  }

  /** Revoked partitions drop their state; the new owner recomputes from the committed segment start. */
  private onAssignment(assignment: Record<string, number[]>): void {
    const owned = new Set(Object.entries(assignment).flatMap(([t, ps]) => ps.map((p) => `${t}/${p}`)));
    for (const key of [...this.states.keys()]) {
      if (owned.has(key)) continue;
      this.states.delete(key);
      this.declared.delete(key);
      this.rewinds.delete(key);
    }
    this.deps.logger.info({ partitions: [...owned] }, 'processor.assigned');
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    this.heartbeat = heartbeat;
    const { topic, partition } = batch;
    const key = `${topic}/${partition}`;
    const { segmentSize } = this.deps.options;
    let state = this.states.get(key);
    if (!state) {
      // First batch since this partition was assigned: it starts at the committed segment start.
      // Re-read the previous segment first to seed the duplicate-id set (seek, then drop this batch).
      let resumeAt = Number(batch.firstOffset() ?? batch.highWatermark);
      const backfill = this.deps.options.backfill?.version;
      // Where the built-in rollups start when the commit is one of before they were declarations.
      let legacyFrom: number | undefined;
      if (backfill) resumeAt = Math.max(resumeAt, backfill.from[partition] ?? 0);
      else {
        const committed = await this.committed(topic, partition);
        legacyFrom = await this.resumeLegacy(topic, partition, committed);
        resumeAt = Math.min(resumeAt, this.recomputeFrom(topic, partition, resumeAt, committed.metadata));
      }
      const low = Number((await this.admin.fetchTopicOffsets(topic)).find((o) => o.partition === partition)?.low ?? 0);
      const seedFrom = Math.max(low, resumeAt - (resumeAt % segmentSize) - segmentSize, 0);
      const aligned = resumeAt - (resumeAt % segmentSize);
      state = new PartitionState(topic, partition, segmentSize, resumeAt, Math.min(seedFrom, aligned));
      this.states.set(key, state);
      this.declared.set(key, new Map());
      for (const v of backfill ? [backfill] : this.liveVersions(topic)) {
        const from = backfill
          ? (v.from[partition] ?? 0)
          : v.builtin
            ? Math.max(legacyFrom ?? 0, resumeAt)
            : Math.max(liveStart(v, partition), resumeAt);
        this.addDeclared(key, v, from);
      }
      this.deps.metrics.segmentRestarts.inc({ topic });
      this.deps.logger.info({ topic, partition, resumeAt, seedFrom: state.position }, 'processor.partition.resume');
      if (state.position < resumeAt) {
        this.consumer!.seek(topic, partition, state.position);
        return;
      }
    }
    const kind =
      topic === this.deps.options.topics.user ? 'user' : topic === this.deps.options.topics.custom ? 'custom' : 'order';
    // The map itself, not a copy: a version applied while this batch runs joins it from its handover on.
    const declared = this.declared.get(key)!;
    const until = this.deps.options.backfill?.version.handover[partition] ?? Infinity;
    const reader = kind === 'user' ? SCHEMAS.user.type : SCHEMAS.order.type;
    const messages = batch.messages;
    // Whether the consumer still wants this batch (not stopping, not revoked, not sought
    // elsewhere) can change only while this loop awaits: asked again after every await.
    let ask = true;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!;
      if (ask && (!isRunning() || isStale())) return;
      ask = false;
      // Bound memory within a batch too: a batch of large orders can close many chunks.
      if (i % 64 === 63 && this.pendingRows() > this.deps.options.maxPendingRows) {
        await this.flush();
        if (!isRunning() || isStale()) return;
      }
      const offset = Number(message.offset);
      if (offset < state.position) continue; // redelivered after a retry: already applied
      if (offset >= until) {
        // A backfill ends at its handover: every record before it was applied, or is gone (retention).
        state.position = Math.max(state.position, until);
        break;
      }
      let outcome: RecordOutcome<PipelineEvent> | typeof NOT_CACHED;
      if (kind === 'custom') {
        outcome = this.decodeCustom(message.value, offset < state.seedUntil);
        if (outcome === NOT_CACHED) {
          await this.syncPlan();
          outcome = this.decodeCustom(message.value, offset < state.seedUntil, true) as RecordOutcome<PipelineEvent>;
          ask = true;
        }
      } else {
        let decoded = this.deps.schemas.decodeRecordNow<UserEvent | OrderEvent>(message.value, reader);
        if (decoded === NOT_CACHED) {
          decoded = await this.decodeFetchingSchema(message.value, reader);
          ask = true;
        }
        // Produced straight to Kafka, it never met ingest's checks: the same bounds apply here.
        const problems =
          !decoded.ok || offset < state.seedUntil
            ? []
            : eventLimitErrors(kind, decoded.value, this.deps.options.eventLimits);
        outcome = !decoded.ok
          ? decoded
          : problems.length > 0
            ? deadLettered('invalid_event', problems.map((e) => `${e.path}: ${e.message}`).join('; '))
            : taken({ kind, record: decoded.value } as PipelineEvent);
      }
      if (!outcome.ok) {
        // (A backfill's records were dead-lettered by the live path already.)
        if (!this.deps.options.backfill)
          this.deadLetterInput(topic, partition, offset, message, outcome.reason, outcome.message);
        state.skip(offset);
        continue;
      }
      const event = outcome.value;
      const applied = state.apply(offset, event);
      if (applied === 'counted') for (const d of declared.values()) d.apply(offset, event);
      else if (applied === 'conflict' && !this.deps.options.backfill) {
        this.deadLetterInput(
          topic,
          partition,
          offset,
          message,
          'conflicting_duplicate',
          `eventId ${JSON.stringify(event.record.eventId)} (origin ${event.record.origin ?? 'none'}) was used before for other content in this or the previous segment; the first one counts`,
        );
      }
    }
    const last = batch.messages.at(-1);
    if (last && isRunning() && !isStale()) resolveOffset(last.offset);
    this.deps.metrics.records.inc({ topic }, batch.messages.length);
    for (const d of declared.values()) {
      for (const [field, n] of d.folded)
        this.deps.metrics.folded.inc({ dimension: `${d.rollup.declaration.name}.${field}` }, n);
      d.folded.clear();
    }
    this.deps.metrics.lag.set(
      { topic, partition: String(partition) },
      Math.max(0, Number(batch.highWatermark) - state.position),
    );
    await heartbeat();
    // Bound memory: wait for the rollup producer when too much is waiting to be emitted.
    const pending = this.pendingRows();
    let open = pending;
    for (const ds of this.declared.values()) for (const d of ds.values()) open += d.rowCount;
    this.deps.metrics.openRows.set(open);
    if (pending > this.deps.options.maxPendingRows || this.pendingDeadLetters.length > 1000) await this.flush();
  }

  private pendingRows(): number {
    let n = 0;
    for (const ds of this.declared.values()) for (const d of ds.values()) n += d.dirtyCount;
    return n;
  }

  /** The versions the live path computes over `topic`: the built-in ones of its source, and those applied and not dropped. */
  private liveVersions(topic: string): VersionRecord[] {
    return this.book
      .live()
      .map((s) => s.record)
      .filter((v) => this.reads(v, topic) && this.alignedWith(v));
  }

  private reads(v: VersionRecord, topic: string): boolean {
    if (!v.builtin) return v.topic === topic;
    const { user, order } = this.deps.options.topics;
    return sourceTopics(v.declaration.source).some((t) => (t === 'users' ? user : order) === topic);
  }

  /**
   * A version whose handovers are not segment starts here (applied with another SEGMENT_SIZE)
   * is not computed: its live rows and its backfill's would meet inside a segment and share row
   * keys. Said once per version.
   */
  private readonly misaligned = new Set<string>();
  private alignedWith(v: VersionRecord): boolean {
    if (v.builtin || v.segmentSize === this.deps.options.segmentSize) return true;
    const id = versionId(v.name, v.version);
    if (!this.misaligned.has(id)) {
      this.misaligned.add(id);
      this.deps.logger.error(
        { rollup: id, appliedWith: v.segmentSize, segmentSize: this.deps.options.segmentSize },
        'processor.rollup.misaligned',
      );
    }
    return false;
  }

  private addDeclared(key: string, v: VersionRecord, from: number): void {
    const id = versionId(v.name, v.version);
    let compiled = this.compiled.get(id);
    if (!compiled) this.compiled.set(id, (compiled = compileRollup(v.declaration, v.version)));
    const [topic, partition] = [key.slice(0, key.lastIndexOf('/')), Number(key.slice(key.lastIndexOf('/') + 1))];
    this.declared
      .get(key)
      ?.set(
        id,
        new DeclaredState(
          compiled,
          topic,
          partition,
          this.deps.options.segmentSize,
          from,
          this.deps.options.maxRowsPerPartition,
        ),
      );
  }

  /** This group's commit of a partition: its offset (-1: none) and metadata. */
  private async committed(topic: string, partition: number): Promise<{ offset: number; metadata: string | null }> {
    const [offsets] = await this.admin.fetchOffsets({ groupId: this.deps.options.groupId, topics: [topic] });
    const mine = offsets?.partitions.find((p) => p.partition === partition);
    return { offset: Number(mine?.offset ?? -1), metadata: mine?.metadata ?? null };
  }

  /**
   * Where a partition resumed at `resumeAt` must recompute from: the handover of a declared
   * version its committed state did not include (the commit's metadata lists those it did), if
   * that lies before; else `resumeAt`.
   */
  private recomputeFrom(topic: string, partition: number, resumeAt: number, metadata: string | null): number {
    const included = includedRollups(metadata);
    let from = resumeAt;
    for (const v of this.liveVersions(topic)) {
      const handover = v.handover[partition] ?? 0;
      if (!v.builtin && handover < resumeAt && !included.has(versionId(v.name, v.version)))
        from = Math.min(from, handover);
    }
    return from;
  }

  /**
   * A commit made by a processor that computed the built-in rollups in code (its metadata names
   * none of them) means they were counted, in the old tables, up to that commit's segment: they
   * start there now, and the declarations topic records it for the sinks (LegacyRecord), before
   * this partition's first commit of its own makes the old commit go. The start (undefined for
   * any other commit), or throws if it could not be recorded.
   */
  private async resumeLegacy(
    topic: string,
    partition: number,
    committed: { offset: number; metadata: string | null },
  ): Promise<number | undefined> {
    if (committed.offset < 0) return undefined;
    const included = includedRollups(committed.metadata);
    const builtins = this.liveVersions(topic).filter((v) => v.builtin);
    if (builtins.some((v) => included.has(versionId(v.name, v.version)))) return undefined;
    const ends = await this.admin.fetchTopicOffsets(this.deps.options.topics.rollups);
    const record: LegacyRecord = {
      topic,
      partition,
      segment: segmentOf(committed.offset, this.deps.options.segmentSize),
      rollupsEnd: Object.fromEntries(ends.map((o) => [String(o.partition), Number(o.high)])),
      at: Date.now(),
    };
    if (this.deps.declarationsLog)
      await this.deps.declarationsLog.append([{ key: legacyKey('legacy', topic, partition), value: record }]);
    else this.deps.logger.warn({ topic, partition }, 'processor.legacy.unrecorded');
    this.deps.logger.info({ topic, partition, segment: record.segment }, 'processor.legacy.resume');
    return committed.offset;
  }

  /** A version applied or dropped while running: computed from its handover on, or no more. */
  private onDeclaration(state: VersionState, kind: string): void {
    if (kind === 'drop') {
      for (const ds of this.declared.values()) ds.delete(state.id);
      return;
    }
    if (kind !== 'version' || state.dropped || !this.alignedWith(state.record)) return;
    const v = state.record;
    for (const [key, partitionState] of this.states) {
      if (partitionState.topic !== v.topic || this.declared.get(key)?.has(state.id)) continue;
      const handover = v.handover[partitionState.partition] ?? 0;
      // Records below seedUntil only seed the duplicate ids: a handover among them needs a recomputation too.
      if (Math.max(partitionState.position, partitionState.seedUntil) <= handover)
        this.addDeclared(key, v, liveStart(v, partitionState.partition));
      else this.rewinds.set(key, Math.min(this.rewinds.get(key) ?? Infinity, handover));
    }
  }

  /**
   * A record of the declared event types' topic (docs/events.md): read by the version of its type
   * whose schema id it carries, and checked by that version's rules, so a record read again is
   * judged the same. NOT_CACHED: its schema id is not in the plan this processor has read (ask
   * again after syncPlan; `final`: dead-letter it then). `seeding`: only its id matters, no checks.
   */
  private decodeCustom(
    value: Buffer | null,
    seeding: boolean,
    final = false,
  ): RecordOutcome<PipelineEvent> | typeof NOT_CACHED {
    let id: number;
    try {
      id = schemaIdOf(value);
    } catch (err) {
      return deadLettered((err as WireFormatError).reason ?? 'undecodable', (err as Error).message);
    }
    const version = this.book.events.ofSchemaId(id);
    if (!version) {
      return final
        ? deadLettered(
            'unknown_event_type',
            `schema id ${id} is not a version of a declared event type (tributary events list)`,
          )
        : NOT_CACHED;
    }
    let record: CustomEvent;
    try {
      record = decodeBody<CustomEvent>(value!, version.avroType);
    } catch (err) {
      return deadLettered((err as WireFormatError).reason ?? 'undecodable', (err as Error).message);
    }
    const { declaration } = version.record;
    const problems = seeding ? [] : customEventErrors(record, declaration, this.deps.options.eventLimits);
    if (problems.length > 0)
      return deadLettered(
        'invalid_event',
        `${declaration.name}: ${problems.map((e) => `${e.path}: ${e.message}`).join('; ')}`,
      );
    return taken({ kind: 'custom', type: declaration.name, schemaId: id, record });
  }

  /**
   * Reads the declarations topic to its end, so a type applied before its first event is known
   * to this processor when that event arrives. At most once a second (more often is a flood of
   * records of unknown schemas: each is dead-lettered at once, without a wait).
   */
  private lastPlanSync = 0;
  private async syncPlan(): Promise<void> {
    if (Date.now() - this.lastPlanSync < 1000) return;
    this.lastPlanSync = Date.now();
    await this.book.events.sync();
  }

  /** The writer schema is not cached yet: fetch it, backing off while the registry is unreachable (never a dead letter for that). */
  private decodeFetchingSchema(
    value: Buffer | null,
    reader: avro.Type,
  ): Promise<RecordOutcome<UserEvent | OrderEvent>> {
    return retry(() => this.deps.schemas.decodeRecord<UserEvent | OrderEvent>(value, reader), {
      initialMs: 100,
      maxMs: 5000,
      giveUp: () => this.consumer?.isClosing ?? false,
      onRetry: (err, attempt) => this.deps.logger.warn({ err: errorMessage(err), attempt }, 'processor.registry.retry'),
    });
  }

  /** An input record that is not counted: its dead letter waits for the next flush. */
  private deadLetterInput(
    topic: string,
    partition: number,
    offset: number,
    message: KafkaMessage,
    reason: DeadLetterReason,
    detail: string,
  ): void {
    this.pendingDeadLetters.push(
      this.deadLetterRecord({
        source: topic,
        partition,
        offset,
        key: message.key,
        value: message.value,
        stage: 'process',
        reason,
        message: detail,
      }),
    );
    this.deps.metrics.deadLetters.inc({ reason });
  }

  private deadLetterRecord(draft: DeadLetterInput): Emission {
    const { key, value } = deadLetter(draft, this.dlqSchemaId, this.deps.schemas);
    return {
      record: { topic: this.deps.options.topics.dlq, partition: 0, key, value },
      describe: () => ({ ...draft, key: null, value: null }),
    };
  }

  /**
   * Emits every dirty row and pending dead letter (acks=all), then commits each partition's
   * open-segment start. One flush at a time. A send that fails for the infrastructure (broker
   * down, no leader) is retried with backoff until it succeeds or the processor stops; one that
   * fails for a record (too large, unencodable) isolates that record (emission.ts). A flush that
   * does not finish gives its rows back, dirty, and commits nothing: nothing is lost.
   */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.doFlush().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    const started = Date.now();
    const until = this.deps.options.backfill?.version.handover;
    const snapshot = [...this.states.entries()].map(([key, state]) => {
      const declared = [...(this.declared.get(key)?.values() ?? [])].map((d) => ({ d, rows: d.takeDirty() }));
      // A backfill commits its handover once it reached it (its records from there on are the live path's).
      const done = until !== undefined && state.position >= (until[state.partition] ?? 0);
      return { state, declared, commit: done ? until[state.partition]! : state.segmentStart, position: state.position };
    });
    const letters = this.pendingDeadLetters.splice(0);
    const emissions = this.emissionsOf(
      letters,
      snapshot.flatMap(({ declared }) => declared.map(({ rows }) => rows)),
    );
    let records = 0;
    try {
      await keepingMembership(
        () => this.heartbeat?.(),
        { intervalMs: HEARTBEAT_INTERVAL_MS, staleAfterMs: STALE_AFTER_MS },
        async (progressed) => {
          const limits = { maxRecords: EMIT_CHUNK, maxBytes: this.emitBytes };
          for (const send of inSends(emissions, (e) => recordBytes(e.record), limits)) {
            records += send.length;
            await this.emit(send, progressed);
          }
        },
      );
    } catch (err) {
      for (const { declared } of snapshot) {
        for (const { d, rows: taken } of declared) d.restoreDirty(taken);
      }
      this.pendingDeadLetters.unshift(...letters);
      this.deps.metrics.flushFailures.inc();
      const error = errorMessage(err);
      if (this.stall.failed(error)) this.deps.logger.error({ err: error, records }, 'processor.flush.failed');
      throw err;
    }
    const failedForMs = this.stall.succeeded();
    if (failedForMs !== undefined) this.deps.logger.info({ failedForMs }, 'processor.flush.recovered');
    this.deps.metrics.stalled.set(0);
    // Commit only partitions still owned by this state object (a revoked one is gone from the map).
    const commits = snapshot
      .filter(({ state }) => this.states.get(`${state.topic}/${state.partition}`) === state)
      // The offset is the open segment's start (where a restart recomputes from); the metadata says
      // how far the processor got, for a lag that means what it says (dashboards/pipeline-status.ts).
      .map(({ state, commit, position, declared }) => ({
        topic: state.topic,
        partition: state.partition,
        offset: String(commit),
        // The declared versions this state computed from their handover: a restart here need not recompute them.
        metadata: processedMetadata(
          position,
          this.deps.options.backfill
            ? []
            : declared.map(({ d }) => versionId(d.rollup.declaration.name, d.rollup.version)),
        ),
      }));
    if (commits.length > 0) {
      try {
        await this.consumer!.commitOffsets(commits);
      } catch (err) {
        // A rebalance took the partition away; its new owner starts from the last good commit.
        this.deps.logger.info({ err: (err as Error).message }, 'processor.commit.skipped');
      }
    }
    this.deps.logger.debug({ records, flushMs: Date.now() - started }, 'processor.flushed');
    this.rewind();
    if (this.deps.options.backfill && commits.length > 0) await this.checkBackfillDone();
  }

  /**
   * Partitions a declared version starts behind (its handover before their position), once a
   * flush emitted what they held: their state goes and they are read again from the handover,
   * so the version is computed from there on (the other rollups' rows come out identical). Done here,
   * not in a batch, so an idle partition is recomputed too; a batch in hand for it is stale.
   */
  private rewind(): void {
    for (const [key, offset] of this.rewinds) {
      this.rewinds.delete(key);
      const state = this.states.get(key);
      if (!state) continue;
      this.states.delete(key);
      this.declared.delete(key);
      this.deps.logger.info(
        { topic: state.topic, partition: state.partition, from: offset },
        'processor.partition.rewind',
      );
      this.consumer!.seek(state.topic, state.partition, offset);
    }
  }

  /** A backfill is done when every partition of its group committed its handover (or had nothing to backfill). */
  private async checkBackfillDone(): Promise<void> {
    const { version, onDone } = this.deps.options.backfill!;
    const [offsets] = await this.admin.fetchOffsets({ groupId: this.deps.options.groupId, topics: [version.topic] });
    const committed = new Map((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
    const done = Object.entries(version.handover).every(
      ([p, handover]) => (version.from[p] ?? 0) >= handover || (committed.get(Number(p)) ?? -1) >= handover,
    );
    if (done) await onDone();
  }

  /** Encoded send by send, as the flush takes them: a flush never holds every row's encoded form at once. */
  private *emissionsOf(letters: Emission[], taken: DeclaredTaken[][]): Generator<Emission> {
    yield* letters;
    for (const records of taken) for (const t of records) yield* this.declaredEmissions(t);
  }

  /**
   * A declared record to send: its rows as one DeclaredBlock; when that is larger than
   * BLOCK_MAX_BYTES or cannot be encoded, each row alone, and a block the broker refuses goes
   * again as its rows (`split`). A row that even alone cannot be encoded becomes the small dead
   * letter in its place.
   */
  private declaredEmissions({ key, rows }: DeclaredTaken): Emission[] {
    const first = rows[0]!;
    const alone = () =>
      rows.flatMap((row) =>
        this.declaredEmissions({
          key: declaredRowKey(row, row.sets.length > 0 ? row.rowVersion : undefined),
          rows: [row],
        }),
      );
    const describe = (): DeadLetterInput => ({
      source: first.topic,
      partition: first.partition,
      offset: first.rowVersion,
      key: Buffer.from(key),
      value: null,
      stage: 'process',
      reason: 'unsendable_row',
      message: `declared rollup record ${key.slice(0, 512)} of ${rows.length} rows`,
    });
    let value: Buffer;
    try {
      value = this.deps.schemas.encode(this.declaredSchemaId, SCHEMAS.declaredBlock.type, { rows } satisfies {
        rows: DeclaredRow[];
      });
    } catch (err) {
      return rows.length > 1 ? alone() : [this.isolated(describe(), err)];
    }
    if (rows.length > 1 && value.length > Math.min(BLOCK_MAX_BYTES, this.emitBytes / 2)) return alone();
    return [
      {
        record: {
          topic: this.deps.options.topics.rollups,
          partition: partitionForKey(key, this.rollupPartitions),
          key,
          value,
        },
        rows: rows.length,
        describe,
        ...(rows.length > 1 ? { split: alone } : {}),
      },
    ];
  }

  /**
   * Sends emissions (acks=all), retrying infrastructure failures with backoff until they succeed
   * or the processor stops. When the broker refuses a record itself, halves the batch until the
   * record is alone (sendIsolating), then sends a refused block's rows one by one, or the small
   * dead letter of a refused row instead.
   */
  private emit(emissions: Emission[], progressed: () => void): Promise<void> {
    const { signal } = this.stopping;
    return sendIsolating(emissions, (part) => this.sendRetrying(part, progressed), {
      atFault: (err) => !signal.aborted && isRecordAtFault(err),
      alone: async (alone, err) => {
        if (alone.split) {
          // A block the broker refused: its rows go alone, each isolated on its own if it must be.
          this.deps.logger.warn(
            { err: errorMessage(err), key: String(alone.record.key).slice(0, 256), rows: alone.rows },
            'processor.block.split',
          );
          await this.emit(alone.split(), progressed);
          return;
        }
        if (alone.isolated) {
          // Even the dead letter without payload was refused: nothing smaller exists. Loud, and on.
          this.deps.metrics.isolated.inc({ reason: 'dropped' });
          this.deps.logger.error({ err: errorMessage(err), ...alone.isolated }, 'processor.record.dropped');
          return;
        }
        await this.emit([this.isolated(alone.describe(), err)], progressed);
      },
    });
  }

  /** One send of `emissions` in one request, infrastructure failures retried with backoff. */
  private async sendRetrying(emissions: Emission[], progressed: () => void): Promise<void> {
    const { signal } = this.stopping;
    const began = Date.now();
    await retry(
      async () => {
        try {
          await this.producer.sendRecords(emissions.map((e) => e.record));
        } finally {
          progressed(); // an answer, even a failure, shows the processor is alive
        }
      },
      {
        initialMs: 200,
        maxMs: 5000,
        signal,
        giveUp: (err) => signal.aborted || isRecordAtFault(err),
        onRetry: (err, attempt) => {
          this.deps.metrics.emitRetries.inc();
          // Failing since this send began: one attempt can itself take kafkajs' whole retry budget.
          this.stall.failed(errorMessage(err), began);
          this.deps.logger[attempt < 3 ? 'warn' : 'error'](
            { err: errorMessage(err), attempt, messages: emissions.length },
            'processor.emit.retry',
          );
        },
      },
    );
    this.deps.metrics.rowsEmitted.inc(emissions.reduce((n, e) => n + (e.rows ?? 1), 0));
  }

  /** Counts and logs (once) a record that cannot be sent, and makes the small dead letter that replaces it. */
  private isolated(draft: DeadLetterInput, err: unknown): Emission {
    const coordinates = {
      source: draft.source,
      partition: draft.partition,
      offset: draft.offset,
      reason: draft.reason,
    };
    this.deps.metrics.isolated.inc({ reason: draft.reason });
    this.deps.logger.error({ err: errorMessage(err), ...coordinates }, 'processor.record.isolated');
    const letter = deadLetter(
      { ...draft, value: null, message: `${draft.message}: ${errorMessage(err)}` },
      this.dlqSchemaId,
      this.deps.schemas,
    );
    return {
      record: { topic: this.deps.options.topics.dlq, partition: 0, key: letter.key, value: letter.value },
      describe: () => draft,
      isolated: coordinates,
    };
  }

  /** For /readyz: throws when flushes have failed for longer than STALLED_AFTER_MS. */
  checkProgress(): void {
    this.deps.metrics.stalled.set(this.stall.stalled ? 1 : 0); // the metric and /readyz say the same
    this.stall.check();
  }

  private stopping$: Promise<void> | undefined;
  private markStopped: () => void = () => undefined;
  /** Resolves once stop() began. */
  readonly stopped = new Promise<void>((resolve) => {
    this.markStopped = resolve;
  });

  /** Stops within about STOP_FLUSH_MS plus one send's timeout, even mid-flush; what was not emitted is recomputed after. Once, however often called. */
  stop(): Promise<void> {
    this.stopping$ ??= this.doStop();
    return this.stopping$;
  }

  private async doStop(): Promise<void> {
    this.markStopped();
    this.unfollow?.();
    clearInterval(this.timer);
    await this.consumer?.stopWithin(STOP_FLUSH_MS, this.stopping, () => this.flush());
    this.stopping.abort();
    await this.producer?.disconnect();
    await this.admin?.disconnect();
  }
}
