import { type Admin, type Consumer, type EachBatchPayload, type Kafka, connectAdmin, CheckedProducer, keepingMembership, stopAwareRetry } from '../platform/kafka/client';
import type { Logger } from '../platform/logger';
import { isRetriable } from '../platform/errors';
import { partitionForKey } from '../platform/kafka/partitioner';
import { SCHEMAS } from '../schemas/catalog';
import { NOT_CACHED, type SchemaClient } from '../schemas/client';
import { WireFormatError, schemaIdOf } from '../schemas/wire';
import { deadLetter, type DeadLetterDraft, type DeadLetterInput } from '../schemas/dead-letter';
import type { PipelineEvent } from '../schemas/catalog';
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
  /** Test switch (TRIBUTARY_TEST_AMOUNT_FACTOR): a stand-in for an aggregation change. */
  amountFactor?: number;
}

export interface ProcessorDeps {
  kafka: Kafka;
  schemas: SchemaClient;
  logger: Logger;
  metrics: ProcessorMetrics;
  options: ProcessorOptions;
}

type Outgoing = { topic: string; partition: number; key: string; value: Buffer };

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
  private readonly pendingDeadLetters: Outgoing[] = [];
  private consumer!: Consumer;
  private producer!: CheckedProducer;
  private admin!: Admin;
  private rollupSchemaId = 0;
  private dlqSchemaId = 0;
  private rollupPartitions = 0;
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** stop() has begun: the consumer must not restart after a crash. */
  private closing = false;
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
    this.consumer = kafka.consumer({ groupId: options.groupId, maxBytesPerPartition: 4 * 1024 * 1024, sessionTimeout: SESSION_TIMEOUT_MS, heartbeatInterval: HEARTBEAT_INTERVAL_MS, retry: stopAwareRetry(() => this.closing) });
    this.consumer.on(this.consumer.events.GROUP_JOIN, ({ payload }) => this.onAssignment(payload.memberAssignment));
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [options.topics.user, options.topics.order], fromBeginning: true });
    await this.consumer.run({ autoCommit: false, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 4, eachBatch: (p) => this.eachBatch(p) });
    this.timer = setInterval(() => { void this.flush().catch(() => undefined); }, options.flushIntervalMs);
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
      state = new PartitionState(topic, partition, segmentSize, resumeAt, Math.min(seedFrom, aligned), this.deps.options.amountFactor ?? 1);
      this.states.set(key, state);
      this.deps.metrics.segmentRestarts.inc({ topic });
      this.deps.logger.info({ topic, partition, resumeAt, seedFrom: state.position }, 'processor.partition.resume');
      if (state.position < resumeAt) {
        this.consumer.seek({ topic, partition, offset: String(state.position) });
        return;
      }
    }
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      const offset = Number(message.offset);
      if (offset < state.position) continue; // redelivered after a retry: already applied
      const fast = this.decodeNow(topic, message.value);
      const decoded = fast === NOT_CACHED ? await this.decode(topic, message.value) : fast;
      if ('reason' in decoded) {
        this.pendingDeadLetters.push(this.deadLetterRecord({ source: topic, partition, offset, key: message.key, value: message.value, stage: 'process', reason: decoded.reason, message: decoded.message }));
        this.deps.metrics.deadLetters.inc({ reason: decoded.reason });
        state.skip(offset);
      } else {
        state.apply(offset, decoded);
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

  /** Synchronous when the writer schema is cached (the hot path); fetches it once otherwise. */
  private decodeNow(topic: string, value: Buffer | null): PipelineEvent | DeadLetterDraft | typeof NOT_CACHED {
    const kind = topic === this.deps.options.topics.user ? 'user' : 'order';
    const reader = kind === 'user' ? SCHEMAS.user.type : SCHEMAS.order.type;
    try {
      const writer = this.deps.schemas.cachedType(schemaIdOf(value));
      if (!writer) return NOT_CACHED;
      const writerName = (writer as { name?: string }).name ?? '';
      if (writerName.split('.').pop() !== reader.name!.split('.').pop()) {
        return { reason: 'wrong_schema', message: `a ${writerName || writer.typeName} record on ${topic}, expected ${reader.name}` };
      }
      const record = this.deps.schemas.decodeCached<PipelineEvent['record']>(value, reader);
      return { kind, record } as PipelineEvent;
    } catch (err) {
      if (err instanceof WireFormatError) return { reason: err.reason, message: err.message };
      return { reason: 'incompatible_schema', message: (err as Error).message };
    }
  }

  private async decode(topic: string, value: Buffer | null): Promise<PipelineEvent | DeadLetterDraft> {
    for (let attempt = 0; ; attempt++) {
      const now = this.decodeNow(topic, value);
      if (now !== NOT_CACHED) return now;
      try {
        await this.deps.schemas.typeOf(schemaIdOf(value));
      } catch (err) {
        if (err instanceof WireFormatError) return { reason: err.reason, message: err.message };
        // The registry is unreachable: never dead-letter for that; back off and try again.
        this.deps.logger.warn({ err: (err as Error).message, attempt }, 'processor.registry.retry');
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
  }

  private deadLetterRecord(draft: DeadLetterInput): Outgoing {
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
    const messages: Outgoing[] = this.pendingDeadLetters.splice(0);
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
        await this.consumer.commitOffsets(commits);
      } catch (err) {
        // A rebalance took the partition away; its new owner starts from the last good commit.
        this.deps.logger.info({ err: (err as Error).message }, 'processor.commit.skipped');
      }
    }
  }

  /** Sends one chunk (acks=all), retrying with backoff until it succeeds or the processor stops. */
  private async emit(messages: Outgoing[], progressed: () => void): Promise<void> {
    const byTopic = new Map<string, Outgoing[]>();
    for (const m of messages) {
      const list = byTopic.get(m.topic);
      if (list) list.push(m);
      else byTopic.set(m.topic, [m]);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.producer.send([...byTopic].map(([topic, ms]) => ({ topic, messages: ms.map(({ key, value, partition }) => ({ key, value, partition })) })));
        progressed();
        this.deps.metrics.rowsEmitted.inc(messages.length);
        return;
      } catch (err) {
        progressed(); // an answer, even a failure, shows the processor is alive
        if (this.stopped) throw err;
        this.deps.logger[isRetriable(err) ? 'warn' : 'error']({ err: (err as Error).message, attempt, messages: messages.length }, 'processor.emit.retry');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    }
  }

  private encodeRow(row: RollupRow): Buffer {
    return this.deps.schemas.encode(this.rollupSchemaId, SCHEMAS.rollup.type, row);
  }

  async stop(): Promise<void> {
    this.closing = true;
    clearInterval(this.timer);
    await this.consumer?.stop();
    await this.flush().catch(() => undefined);
    this.stopped = true;
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
    await this.admin?.disconnect();
  }
}
