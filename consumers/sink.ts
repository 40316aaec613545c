import type { ClickHouseClient } from '@clickhouse/client';
import {
  type Admin,
  type EachBatchPayload,
  type Kafka,
  CheckedProducer,
  connectAdmin,
  keepingMembership,
} from '../platform/kafka/client';
import { GroupConsumer } from '../platform/kafka/consumer';
import type { Logger } from '../platform/logger';
import { errorMessage, TributaryError } from '../platform/errors';
import { retry } from '../platform/retry';
import { StallClock } from '../platform/stall';
import { sendIsolating } from '../platform/isolate';
import { isDataError, isTooLarge } from './insert-faults';
import { SCHEMAS } from '../schemas/catalog';
import type { SchemaClient } from '../schemas/client';
import type { DeadLetterDraft } from '../schemas/outcome';
import { rowKey, type RollupBlock, type RollupRow } from '../schemas/rollup';
import { deadLetter } from '../schemas/dead-letter';
import type { SinkMetrics } from './metrics';
import { INSERT_COLUMNS, toTableRow } from './rows';
import { batchDue, QUIET_MS } from './batching';
import { AdvancedRows } from './advanced';
import { bookKey, DeclarationBook, legacyKey } from '../schemas/declarations/book';
import { declaredRowKey, type DeclaredRow } from '../schemas/declarations/row';
import type { JsonLog } from '../platform/kafka/json-log';
import { declaredTableRow, declaredTableStatements, dropDeclaredStatements } from './declared-tables';
import { legacyCopyStatements } from './tables';

export interface SinkOptions {
  groupId: string;
  topics: { rollups: string; dlq: string };
  database: string;
  /** Insert when this many rows are buffered… */
  batchRows: number;
  /** …or the oldest buffered row is this old, or sooner once rows stopped arriving (consumers/batching.ts). */
  batchDelayMs: number;
}

export interface SinkDeps {
  kafka: Kafka;
  clickhouse: Pick<ClickHouseClient, 'insert'>;
  schemas: SchemaClient;
  logger: Logger;
  metrics: SinkMetrics;
  options: SinkOptions;
  /** Test hook: called after a successful insert, before the commit. */
  afterInsert?: () => void | Promise<void>;
  /**
   * The declared rollups (docs/rollups.md): their tables are created before their first rows,
   * a version is recorded complete once this group wrote every row up to its backfill's end, and
   * a dropped version's tables go after `dropGraceMs`; the old tables' rows of an upgraded
   * partition are copied into the built-in ones. Absent: the built-in rollups only (their tables
   * are made by the migrations), nothing followed.
   */
  declarations?: {
    book: DeclarationBook;
    log: JsonLog;
    clickhouse: Pick<ClickHouseClient, 'command'>;
    dropGraceMs: number;
  };
}

/** What a `rollups` record holds: a row alone, a block of rows, or a declared rollup's row. */
const ROLLUP_READERS = [SCHEMAS.rollup.type, SCHEMAS.rollupBlock.type, SCHEMAS.declaredBlock.type];

const isDeclared = (row: RollupRow | DeclaredRow): row is DeclaredRow => 'rollup' in row;
/** Rows of values carry the freshness of their newest event; set deltas do not (a user already seen adds none). */
const measuresFreshness = (row: RollupRow | DeclaredRow) =>
  row.maxReceivedAt !== null &&
  (isDeclared(row) ? row.sets.length === 0 : row.kind !== 'active_user' && row.kind !== 'active_users');

/** A row as read: where it came from, so a row ClickHouse refuses can be dead-lettered by its coordinates. */
interface BufferedRow {
  row: RollupRow | DeclaredRow;
  partition: number;
  offset: number;
}

interface Buffered {
  rows: BufferedRow[];
  /** Next offset to commit per partition: last buffered offset + 1. */
  offsets: Map<number, string>;
  /** When the first and the latest of these rows arrived. */
  since: number;
  latest: number;
}

const emptyBuffer = (): Buffered => ({ rows: [], offsets: new Map(), since: 0, latest: 0 });

/** A killed sink's partitions move to another member after this long without a heartbeat. */
const SESSION_TIMEOUT_MS = 10_000;
const HEARTBEAT_INTERVAL_MS = 1000;
/** A flush that finished no insert attempt for this long (a hung insert) stops heartbeating; backoff is at most 10 s. */
const STALE_AFTER_MS = 20_000;
/** On SIGTERM, the last insert gets this long; what it could not write is redelivered (not committed). */
const STOP_FLUSH_MS = 10_000;
/** Inserts failing for this long make /readyz say the sink cannot make progress. */
const STALLED_AFTER_MS = 30_000;
/** Freshness looks at events received this recently (the dashboard's query, dashboards/queries.ts). */
const FRESH_FOR_MS = 10 * 60_000;

/**
 * Reads rollup rows and inserts them into ClickHouse in batches (by rows and by time). Offsets
 * are committed only after ClickHouse acknowledged the insert; while ClickHouse is down the sink
 * retries with exponential backoff and, since the insert happens inside the batch handler,
 * stops fetching. Re-delivered rows are harmless: the tables keep the highest version per key.
 */
export class ClickHouseSink {
  private consumer: GroupConsumer | undefined;
  private producer!: CheckedProducer;
  private dlqSchemaId = 0;
  private buffer: Buffered = emptyBuffer();
  private readonly advanced = new AdvancedRows();
  /** When the latest insert began (inserts are at least batchDelayMs / 2 apart). */
  private lastInsertAt = 0;
  private flushing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  /** Aborted when the sink stops (at most STOP_FLUSH_MS after stop() began): the insert retries give up. */
  private readonly stopping = new AbortController();
  /** Since when inserts fail (undefined while they succeed), and why. */
  private readonly stall = new StallClock(STALLED_AFTER_MS, 'no insert into ClickHouse succeeded');
  /** The group heartbeat of the latest batch, for flushes that outlast the session timeout. */
  private heartbeat: (() => Promise<void>) | undefined;
  /** Versions whose tables this sink created (or found). */
  private readonly tablesMade = new Set<string>();
  private readonly book: DeclarationBook;
  private declaredTimer: NodeJS.Timeout | undefined;
  private admin: Admin | undefined;

  constructor(private deps: SinkDeps) {
    this.book = deps.declarations?.book ?? new DeclarationBook();
  }

  async start(): Promise<void> {
    const { kafka, options } = this.deps;
    this.dlqSchemaId = await this.deps.schemas.register({
      ...SCHEMAS.deadLetter,
      subject: `${options.topics.dlq}-value`,
    });
    // The built-in rollups' tables before any row, for the dashboard's fixed queries (migration 5
    // made those of its day; a built-in rollup added since gets its tables here).
    for (const s of this.book.all().filter((v) => v.record.builtin)) {
      if (this.deps.declarations)
        for (const query of declaredTableStatements(options.database, s.record.declaration, s.record.version))
          await this.deps.declarations.clickhouse.command({ query });
      this.tablesMade.add(s.id);
    }
    this.producer = await CheckedProducer.connect(kafka);
    this.consumer = await GroupConsumer.start(kafka, {
      groupId: options.groupId,
      topics: [options.topics.rollups],
      sessionTimeoutMs: SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS,
      maxBytesPerPartition: 4 * 1024 * 1024,
      eachBatch: (p) => this.eachBatch(p),
      // A rebalance hands partitions to others: what is buffered and uncommitted is theirs to redo.
      onAssignment: () => {
        this.buffer = emptyBuffer();
      },
    });
    this.timer = setInterval(
      () => {
        this.deps.metrics.stalled.set(this.stall.stalled ? 1 : 0);
        if (
          batchDue(
            { ...this.buffer, rows: this.buffer.rows.length, lastInsertAt: this.lastInsertAt },
            Date.now(),
            options.batchDelayMs,
          )
        )
          void this.flush().catch((err: unknown) => this.deps.logger.error({ err }, 'sink.flush.failed'));
      },
      Math.max(10, Math.min(QUIET_MS / 2, Math.floor(options.batchDelayMs / 4))),
    );
    if (this.deps.declarations) {
      let following = false;
      const tick = () => {
        if (following) return; // one at a time: a slow tick is not overtaken by the next
        following = true;
        void this.followDeclarations()
          .catch((err: unknown) => this.deps.logger.warn({ err: errorMessage(err) }, 'sink.declarations.failed'))
          .finally(() => {
            following = false;
          });
      };
      this.declaredTimer = setInterval(tick, 1000);
    }
    this.deps.logger.info({ groupId: options.groupId }, 'sink.started');
  }

  /**
   * Records each version complete once this group committed, on every rollups partition, at
   * least the offset its backfill ended at (then every row of its history is in ClickHouse), and
   * a version it replaces dropped; drops the tables of versions dropped over the grace period ago.
   */
  private async followDeclarations(): Promise<void> {
    const { book, log, clickhouse, dropGraceMs } = this.deps.declarations!;
    const waiting = book.live().filter((s) => s.backfill && !s.complete);
    const upgraded = book.legacy().filter((l) => !l.migrated);
    if (waiting.length > 0 || upgraded.length > 0) {
      this.admin ??= await connectAdmin(this.deps.kafka);
      const [offsets] = await this.admin.fetchOffsets({
        groupId: this.deps.options.groupId,
        topics: [this.deps.options.topics.rollups],
      });
      const committed = new Map((offsets?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
      const wrote = (ends: Record<string, number>) =>
        Object.entries(ends).every(([p, end]) => end === 0 || (committed.get(Number(p)) ?? -1) >= end);
      for (const { record: l } of upgraded) {
        if (!wrote(l.rollupsEnd)) continue;
        for (const query of legacyCopyStatements(this.deps.options.database, l.topic, l.partition, l.segment))
          await clickhouse.command({ query });
        await log.append([{ key: legacyKey('migrated', l.topic, l.partition), value: { at: Date.now() } }]);
        this.deps.logger.info(
          { topic: l.topic, partition: l.partition, beforeSegment: l.segment },
          'sink.legacy.migrated',
        );
      }
      for (const s of waiting) {
        if (!wrote(s.backfill!.rollupsEnd)) continue;
        const older = book.versionsOf(s.record.name).filter((o) => o.record.version < s.record.version && !o.dropped);
        await log.append([
          { key: bookKey('complete', s.record.name, s.record.version), value: { at: Date.now() } },
          ...older.map((o) => ({
            key: bookKey('drop', o.record.name, o.record.version),
            value: { at: Date.now(), reason: 'superseded' },
          })),
        ]);
        this.deps.logger.info({ rollup: s.id, replaces: older.map((o) => o.id) }, 'sink.rollup.complete');
      }
    }
    for (const s of book.all()) {
      if (!s.dropped || Date.now() - s.dropped.at < dropGraceMs || this.tablesMade.has(`dropped:${s.id}`)) continue;
      for (const query of dropDeclaredStatements(this.deps.options.database, s.record.name, s.record.version))
        await clickhouse.command({ query });
      this.tablesMade.add(`dropped:${s.id}`);
      this.deps.logger.info({ rollup: s.id }, 'sink.rollup.tables.dropped');
    }
  }

  /**
   * A row keeps its maxReceivedAt (what freshness is measured on, in the metric and in the
   * tables' max_received_at) only when its version advanced (AdvancedRows); a row re-sent
   * unchanged is stored without it. Rows of events received over FRESH_FOR_MS ago are left as
   * they are: freshness never looks at them.
   */
  private stampFreshness(row: RollupRow | DeclaredRow, now: number): RollupRow | DeclaredRow {
    if (!measuresFreshness(row) || now - row.maxReceivedAt! > FRESH_FOR_MS) return row;
    if (isDeclared(row))
      return this.advanced.advanced(declaredRowKey(row), row.rowVersion) ? row : { ...row, maxReceivedAt: null };
    return this.advanced.advanced(rowKey(row), row.version) ? row : { ...row, maxReceivedAt: null };
  }

  private async eachBatch({ batch, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    this.heartbeat = heartbeat;
    for (const message of batch.messages) {
      if (!isRunning() || isStale()) return;
      // A registry that cannot be reached rejects here: kafkajs retries the batch.
      // A row alone or a block of rows, each read by its own schema.
      const outcome = await this.deps.schemas.decodeRecordOf<RollupRow | RollupBlock | { rows: DeclaredRow[] }>(
        message.value,
        ROLLUP_READERS,
      );
      if (!outcome.ok)
        await this.deadLetter(batch.topic, batch.partition, message.offset, message.key, message.value, outcome);
      const now = Date.now();
      if (this.buffer.rows.length === 0) this.buffer.since = now;
      this.buffer.latest = now;
      if (outcome.ok)
        for (const row of 'kind' in outcome.value ? [outcome.value] : outcome.value.rows)
          this.buffer.rows.push({
            row: this.stampFreshness(row, now),
            partition: batch.partition,
            offset: Number(message.offset),
          });
      this.buffer.offsets.set(batch.partition, String(Number(message.offset) + 1));
      if (this.buffer.rows.length >= this.deps.options.batchRows) {
        await this.flush();
        await heartbeat();
      }
    }
    await heartbeat();
  }

  private async deadLetter(
    topic: string,
    partition: number,
    offset: string,
    key: Buffer | null,
    value: Buffer | null,
    { reason, message }: DeadLetterDraft,
  ): Promise<void> {
    const letter = deadLetter(
      { source: topic, partition, offset: Number(offset), key, value, stage: 'sink', reason, message },
      this.dlqSchemaId,
      this.deps.schemas,
    );
    await this.producer.sendRecords([{ topic: this.deps.options.topics.dlq, partition: 0, ...letter }]);
    this.deps.metrics.deadLetters.inc({ reason });
  }

  /** Inserts what is buffered, then commits; one flush at a time. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.doFlush());
    return this.flushing;
  }

  private async doFlush(): Promise<void> {
    const batch = this.buffer;
    if (batch.offsets.size === 0) return;
    this.buffer = emptyBuffer();
    const started = Date.now();
    this.lastInsertAt = started;
    try {
      // A killed sink is replaced within SESSION_TIMEOUT_MS; a ClickHouse outage does not cost this one its partitions.
      await keepingMembership(
        () => this.heartbeat?.(),
        { intervalMs: HEARTBEAT_INTERVAL_MS, staleAfterMs: STALE_AFTER_MS },
        (progressed) => this.insertWithRetry(batch.rows, progressed),
      );
    } catch (err) {
      // Stopping mid-insert: give the rows back, commit nothing (a restart redelivers them).
      this.buffer = {
        rows: [...batch.rows, ...this.buffer.rows],
        offsets: new Map([...batch.offsets, ...this.buffer.offsets]),
        since: batch.since,
        latest: Math.max(batch.latest, this.buffer.latest),
      };
      throw err;
    }
    const failedForMs = this.stall.succeeded();
    if (failedForMs !== undefined) this.deps.logger.info({ failedForMs }, 'sink.insert.recovered');
    this.deps.metrics.stalled.set(0);
    this.deps.metrics.insertSeconds.observe((Date.now() - started) / 1000);
    this.deps.metrics.batchRows.observe(batch.rows.length);
    this.deps.metrics.rows.inc(batch.rows.length);
    this.deps.logger.debug(
      { rows: batch.rows.length, insertMs: Date.now() - started, bufferedMs: started - batch.since },
      'sink.inserted',
    );
    const now = Date.now();
    for (const { row: r } of batch.rows)
      if (measuresFreshness(r)) this.deps.metrics.freshness.observe((now - r.maxReceivedAt!) / 1000);
    await this.deps.afterInsert?.();
    try {
      await this.consumer!.commitOffsets(
        [...batch.offsets].map(([partition, offset]) => ({
          topic: this.deps.options.topics.rollups,
          partition,
          offset,
        })),
      );
    } catch (err) {
      // Lost the partitions in a rebalance: the new owner re-inserts from the last commit (harmless).
      this.deps.logger.info({ err: (err as Error).message }, 'sink.commit.skipped');
    }
  }

  /**
   * Exponential backoff while ClickHouse is unavailable. A batch ClickHouse refuses for its size
   * is split; one it refuses for its data (a value it cannot parse or store) is halved until the
   * row at fault is alone (sendIsolating), and that row becomes a dead letter: one row never
   * stops the sink.
   */
  private insertWithRetry(rows: BufferedRow[], progressed: () => void = () => undefined): Promise<void> {
    const { signal } = this.stopping;
    return sendIsolating(rows, (part) => this.insertRetrying(part, progressed), {
      // (A lone row refused for its size is retried by insertRetrying: only a data error comes here alone.)
      atFault: (err) => !signal.aborted && (isTooLarge(err) || isDataError(err)),
      alone: (row, err) => this.deadLetterRow(row, err),
      split: (part, err) => this.deps.logger.warn({ rows: part.length, err: errorMessage(err) }, 'sink.insert.split'),
    });
  }

  /** One insert of `rows` (a statement per table), ClickHouse's outages retried with backoff. */
  private async insertRetrying(rows: BufferedRow[], progressed: () => void): Promise<void> {
    const { signal } = this.stopping;
    await retry(
      async () => {
        const byTable = await this.byTable(rows);
        try {
          for (const [table, { columns, values }] of byTable) {
            await this.deps.clickhouse.insert({
              table: `${this.deps.options.database}.${table}`,
              values,
              format: 'JSONCompactEachRow',
              columns,
            });
            progressed();
          }
        } catch (err) {
          progressed(); // an answer, even a failure, shows the sink is alive
          throw err;
        }
      },
      {
        initialMs: 100,
        maxMs: 10_000,
        signal,
        giveUp: (err) => signal.aborted || (isTooLarge(err) && rows.length > 1) || isDataError(err),
        onRetry: (err, attempt, delay) => {
          this.deps.metrics.retries.inc();
          this.stall.failed(errorMessage(err));
          this.deps.logger.warn({ err: errorMessage(err), attempt, delay }, 'sink.insert.retry');
        },
      },
    );
  }

  /**
   * Rows by table, with the table's columns. A declared version's tables are made before its
   * first rows; its rows wait (retried) until this sink has read its declaration, and rows of a
   * dropped version are left out.
   */
  private async byTable(
    rows: BufferedRow[],
  ): Promise<Map<string, { columns: [string, ...string[]]; values: unknown[][] }>> {
    const byTable = new Map<string, { columns: [string, ...string[]]; values: unknown[][] }>();
    for (const { row } of rows) {
      let out: { table: string; columns: [string, ...string[]]; values: unknown[] };
      if (isDeclared(row)) {
        const state = this.book.get(row.rollup, row.version);
        if (state?.dropped) continue;
        if (!state)
          throw new TributaryError(
            'unavailable',
            `declared rollup ${row.rollup}@${row.version} is not known to this sink yet (declarations topic)`,
          );
        if (!this.tablesMade.has(state.id)) {
          for (const query of declaredTableStatements(
            this.deps.options.database,
            state.record.declaration,
            row.version,
          ))
            await this.deps.declarations!.clickhouse.command({ query });
          this.tablesMade.add(state.id);
        }
        out = declaredTableRow(row, state.record.declaration);
      } else {
        const { table, values } = toTableRow(row);
        out = { table, columns: INSERT_COLUMNS[table], values };
      }
      let entry = byTable.get(out.table);
      if (!entry) byTable.set(out.table, (entry = { columns: out.columns, values: [] }));
      entry.values.push(out.values);
    }
    return byTable;
  }

  /** A row ClickHouse will never take: recorded in events.dlq by its rollups coordinates, counted, logged. */
  private async deadLetterRow({ row, partition, offset }: BufferedRow, err: unknown): Promise<void> {
    const key = isDeclared(row)
      ? `${row.rollup}@${row.version}|${row.topic}|${row.partition}|${row.segment}|${row.windowStart}`
      : rowKey(row);
    this.deps.logger.error({ err: errorMessage(err), partition, offset, row: key.slice(0, 256) }, 'sink.row.refused');
    await this.deadLetter(this.deps.options.topics.rollups, partition, String(offset), Buffer.from(key), null, {
      reason: 'refused_by_clickhouse',
      message: `${errorMessage(err)} (row ${key.slice(0, 512)})`,
    });
  }

  /** For /readyz: throws when inserts have failed for longer than STALLED_AFTER_MS. */
  checkProgress(): void {
    this.deps.metrics.stalled.set(this.stall.stalled ? 1 : 0); // the metric and /readyz say the same
    this.stall.check();
  }

  /** Leaves as a crashed process would: no flush, no commit (tests). */
  async abort(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.declaredTimer);
    this.stopping.abort();
    await this.admin?.disconnect();
    this.deps = { ...this.deps, afterInsert: () => new Promise(() => undefined) };
    await this.consumer?.disconnect();
    await this.producer?.disconnect();
    await this.deps.declarations?.log.close();
  }

  /** Stops within about STOP_FLUSH_MS even mid-insert; what was not written is redelivered after. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.declaredTimer);
    await this.consumer?.stopWithin(STOP_FLUSH_MS, this.stopping, () => this.flush());
    this.stopping.abort();
    await this.producer?.disconnect();
    await this.admin?.disconnect();
    await this.deps.declarations?.log.close();
  }
}
