import type avro from 'avsc';
import type { Logger } from '../platform/logger';
import { errorMessage, isRetriable } from '../platform/errors';
import { retry } from '../platform/retry';
import { type Admin, type EachBatchPayload, type Kafka, type OutgoingRecord, connectAdmin, CheckedProducer, keepingMembership } from '../platform/kafka/client';
import { GroupConsumer } from '../platform/kafka/consumer';
import { partitionForKey } from '../platform/kafka/partitioner';
import { SCHEMAS, type PipelineEvent } from '../schemas/catalog';
import { NOT_CACHED, type SchemaClient } from '../schemas/client';
import { deadLetter, type DeadLetterInput } from '../schemas/dead-letter';
import type { RecordOutcome } from '../schemas/outcome';
import type { RollupRow } from '../schemas/rollup';
import { PartitionState } from './partition';
import type { ProcessorMetrics } from './metrics';

export interface ProcessorOptions {
  groupId: string;
  topics: { user: string; order: string; rollups: string; dlq: string };
  /** Offsets per segment (S). */
  segmentSize: number;
  flushIntervalMs: number;
  /** Dirty rows across partitions above which a batch waits for a flush (pauses fetching). */
  maxDirtyRows: number;
}

export interface ProcessorDeps {
  kafka: Kafka;
  schemas: SchemaClient;
  logger: Logger;
  metrics: ProcessorMetrics;
  options: ProcessorOptions;
}

/** Rows per send: ~200 B each, so even all in one partition stay well under 1 MB. */
const EMIT_CHUNK = 2000;

/** A killed processor's partitions move to another member after this long without a heartbeat. */
const SESSION_TIMEOUT_MS = 10_000;
const HEARTBEAT_INTERVAL_MS = 1000;
/**
 * A flush that finished no send for this long stops heartbeating: longer than one send's kafkajs
 * retry budget (~17 s, platform/kafka/client.ts) plus our backoff (at most 5 s).
 */
const STALE_AFTER_MS = 30_000;

/**
 * The stream processor: per input partition, event-time rollups under deterministic segments.
 * Emits dirty rows every flush interval (acks=all), then commits each partition's open-segment
 * start. A crash, rebalance or replay recomputes the open segment from its start and re-emits
 * rows identical to those already emitted, so the ClickHouse totals stay exact.
 */
export class StreamProcessor {
  private readonly states = new Map<string, PartitionState>();
  private readonly pendingDeadLetters: OutgoingRecord[] = [];
  private consumer: GroupConsumer | undefined;
  private producer!: CheckedProducer;
  private admin!: Admin;
  private rollupSchemaId = 0;
  private dlqSchemaId = 0;
  private rollupPartitions = 0;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** The group heartbeat of the latest batch, kept alive while a flush waits on Kafka. */
  private heartbeat: (() => Promise<void>) | undefined;

  constructor(private readonly deps: ProcessorDeps) {}

  async start(): Promise<void> {
    const { kafka, schemas, options, logger } = this.deps;
    this.rollupSchemaId = await schemas.register({ ...SCHEMAS.rollup, subject: `${options.topics.rollups}-value` });
    this.dlqSchemaId = await schemas.register({ ...SCHEMAS.deadLetter, subject: `${options.topics.dlq}-value` });
    this.admin = await connectAdmin(kafka);
    const { topics } = await this.admin.fetchTopicMetadata({ topics: [options.topics.rollups] });
    this.rollupPartitions = topics[0]?.partitions.length ?? 0;
    this.producer = await CheckedProducer.connect(kafka);
    this.consumer = await GroupConsumer.start(kafka, {
      groupId: options.groupId, topics: [options.topics.user, options.topics.order],
      sessionTimeoutMs: SESSION_TIMEOUT_MS, heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, maxBytesPerPartition: 4 * 1024 * 1024,
      partitionsConsumedConcurrently: 4, eachBatchAutoResolve: false,
      eachBatch: (p) => this.eachBatch(p), onAssignment: (assignment) => this.onAssignment(assignment),
    });
    // NOTE: a failed flush is logged here, not swallowed (its rows were already taken from the dirty set).
    this.timer = setInterval(() => { void this.flush().catch((err: unknown) => logger.error({ err }, 'processor.flush.failed')); }, options.flushIntervalMs);
    logger.info({ groupId: options.groupId, segmentSize: options.segmentSize }, 'processor.started');
  }

  /** Revoked partitions drop their state; the new owner recomputes from the committed segment start. */
  private onAssignment(assignment: Record<string, number[]>): void {
    const owned = new Set(Object.entries(assignment).flatMap(([t, ps]) => ps.map((p) => `${t}/${p}`)));
    for (const key of [...this.states.keys()]) if (!owned.has(key)) this.states.delete(key);
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
      const resumeAt = Number(batch.firstOffset() ?? batch.highWatermark);
      const low = Number((await this.admin.fetchTopicOffsets(topic)).find((o) => o.partition === partition)?.low ?? 0);
      const seedFrom = Math.max(low, resumeAt - (resumeAt % segmentSize) - segmentSize, 0);
      const aligned = resumeAt - (resumeAt % segmentSize);
      state = new PartitionState(topic, partition, segmentSize, resumeAt, Math.min(seedFrom, aligned));
      this.states.set(key, state);
      this.deps.metrics.segmentRestarts.inc({ topic });
      this.deps.logger.info({ topic, partition, resumeAt, seedFrom: state.position }, 'processor.partition.resume');
      if (state.position < resumeAt) {
        this.consumer!.seek(topic, partition, state.position);
        return;
      }
    }
    const kind = topic === this.deps.options.topics.user ? 'user' : 'order';
    const reader = kind === 'user' ? SCHEMAS.user.type : SCHEMAS.order.type;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      const offset = Number(message.offset);
      if (offset < state.position) continue; // redelivered after a retry: already applied
      const now = this.deps.schemas.decodeRecordNow<PipelineEvent['record']>(message.value, reader);
      const outcome = now === NOT_CACHED ? await this.decodeFetchingSchema(message.value, reader) : now;
      if (outcome.ok) {
        state.apply(offset, { kind, record: outcome.value } as PipelineEvent);
      } else {
        this.pendingDeadLetters.push(this.deadLetterRecord({ source: topic, partition, offset, key: message.key, value: message.value, stage: 'process', reason: outcome.reason, message: outcome.message }));
        this.deps.metrics.deadLetters.inc({ reason: outcome.reason });
        state.skip(offset);
      }
    }
    const last = batch.messages.at(-1);
    if (last && isRunning() && !isStale()) resolveOffset(last.offset);
    this.deps.metrics.records.inc({ topic }, batch.messages.length);
    this.deps.metrics.lag.set({ topic, partition: String(partition) }, Math.max(0, Number(batch.highWatermark) - state.position));
    await heartbeat();
    // Bound memory: wait for the rollup producer when too much is waiting to be emitted.
    const dirty = [...this.states.values()].reduce((n, s) => n + s.dirtyCount, 0);
    if (dirty > this.deps.options.maxDirtyRows || this.pendingDeadLetters.length > 1000) await this.flush();
  }

  /** The writer schema is not cached yet: fetch it, backing off while the registry is unreachable (never a dead letter for that). */
  private decodeFetchingSchema(value: Buffer | null, reader: avro.Type): Promise<RecordOutcome<PipelineEvent['record']>> {
    return retry(() => this.deps.schemas.decodeRecord<PipelineEvent['record']>(value, reader), {
      initialMs: 100, maxMs: 5000, giveUp: () => this.consumer?.isClosing ?? false,
      onRetry: (err, attempt) => this.deps.logger.warn({ err: errorMessage(err), attempt }, 'processor.registry.retry'),
    });
  }

  private deadLetterRecord(draft: DeadLetterInput): OutgoingRecord {
    const { key, value } = deadLetter(draft, this.dlqSchemaId, this.deps.schemas);
    return { topic: this.deps.options.topics.dlq, partition: 0, key, value };
  }

  /**
   * Emits every dirty row and pending dead letter (acks=all), then commits each partition's
   * open-segment start. One flush at a time; a failed send is retried with backoff until it
   * succeeds or the processor stops, and nothing is committed meanwhile.
   */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.doFlush().finally(() => { this.flushing = undefined; });
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    const snapshot = [...this.states.values()].map((state) => ({ state, rows: state.takeDirty(), commit: state.segmentStart }));
    const messages: OutgoingRecord[] = this.pendingDeadLetters.splice(0);
    for (const { rows } of snapshot) {
      for (const { key, row } of rows) messages.push({ topic: this.deps.options.topics.rollups, partition: partitionForKey(key, this.rollupPartitions), key, value: this.encodeRow(row) });
    }
    // Bounded sends: a partition's record batch must stay under the broker's message.max.bytes (1 MB by default).
    await keepingMembership(() => this.heartbeat?.(), { intervalMs: HEARTBEAT_INTERVAL_MS, staleAfterMs: STALE_AFTER_MS }, async (progressed) => {
      for (let i = 0; i < messages.length; i += EMIT_CHUNK) await this.emit(messages.slice(i, i + EMIT_CHUNK), progressed);
    });
    // Commit only partitions still owned by this state object (a revoked one is gone from the map).
    const commits = snapshot
      .filter(({ state }) => this.states.get(`${state.topic}/${state.partition}`) === state)
      .map(({ state, commit }) => ({ topic: state.topic, partition: state.partition, offset: String(commit) }));
    if (commits.length > 0) {
      try {
        await this.consumer!.commitOffsets(commits);
      } catch (err) {
        // A rebalance took the partition away; its new owner starts from the last good commit.
        this.deps.logger.info({ err: (err as Error).message }, 'processor.commit.skipped');
      }
    }
  }

  /** Sends one chunk (acks=all), retrying with backoff until it succeeds or the processor stops. */
  private async emit(messages: OutgoingRecord[], progressed: () => void): Promise<void> {
    await retry(async () => {
      try {
        await this.producer.sendRecords(messages);
      } finally {
        progressed(); // an answer, even a failure, shows the processor is alive
      }
    }, {
      initialMs: 200, maxMs: 5000, giveUp: () => this.stopped,
      onRetry: (err, attempt) => this.deps.logger[isRetriable(err) ? 'warn' : 'error']({ err: errorMessage(err), attempt, messages: messages.length }, 'processor.emit.retry'),
    });
    this.deps.metrics.rowsEmitted.inc(messages.length);
  }

  private encodeRow(row: RollupRow): Buffer {
    return this.deps.schemas.encode(this.rollupSchemaId, SCHEMAS.rollup.type, row);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.consumer?.stop();
    await this.flush().catch(() => undefined);
    this.stopped = true;
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
    await this.admin?.disconnect();
  }
}
