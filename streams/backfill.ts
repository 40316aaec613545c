import { Registry } from 'prom-client';
import { connectAdmin, type Admin, type Kafka } from '../platform/kafka/client';
import { sleep } from '../platform/retry';
import { includedRollups, processedPosition } from '../schemas/progress';
import { versionId } from '../schemas/declarations/row';
import type { JsonLog } from '../platform/kafka/json-log';
import type { Logger } from '../platform/logger';
import { errorMessage } from '../platform/errors';
import {
  backfillGroup,
  bookKey,
  type BackfillRecord,
  type DeclarationBook,
  type VersionRecord,
  type VersionState,
} from '../schemas/declarations/book';
import type { SchemaClient } from '../schemas/client';
import { processorMetrics } from './metrics';
import { StreamProcessor, type ProcessorOptions } from './processor';

/**
 * Runs the backfills of declared versions, one at a time, in every processor: a version without
 * a backfill record gets a processor in backfill mode under its own group (members of every
 * processor share its partitions), which computes that version over [from, handover) per
 * partition and commits like the live path, so a killed backfill resumes from its last commit
 * and re-emits identical rows. When every partition committed its handover, the rollups topic's
 * end offsets go to the declarations topic (a sink then knows which rows it must have written
 * for the version to be complete) and the group is deleted.
 */
export class Backfills {
  private readonly queue: VersionState[] = [];
  private running: { id: string; processor: StreamProcessor } | undefined;
  private stopped = false;
  private unfollow: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: {
      kafka: Kafka;
      schemas: SchemaClient;
      logger: Logger;
      options: ProcessorOptions;
      declarations: DeclarationBook;
      log: JsonLog;
    },
  ) {}

  start(): void {
    for (const state of this.deps.declarations.live()) this.enqueue(state);
    this.unfollow = this.deps.declarations.onChange((state, kind) => {
      if (kind === 'version') this.enqueue(state);
      // Dropped, or finished by another processor's member (this one may own only partitions with nothing to do).
      if ((kind === 'drop' || kind === 'backfill') && this.running?.id === state.id) void this.running.processor.stop();
    });
  }

  private enqueue(state: VersionState): void {
    if (state.record.builtin || state.backfill || state.dropped || this.queue.some((s) => s.id === state.id)) return;
    if (state.record.segmentSize !== this.deps.options.segmentSize) {
      this.deps.logger.error(
        { rollup: state.id, appliedWith: state.record.segmentSize, segmentSize: this.deps.options.segmentSize },
        'backfill.misaligned',
      );
      return;
    }
    this.queue.push(state);
    this.loop = this.loop.then(() => this.next());
  }

  private async next(): Promise<void> {
    const state = this.queue.shift();
    if (!state || this.stopped || state.backfill || state.dropped) return;
    const v = state.record;
    const log = this.deps.logger.child({ rollup: state.id });
    const groupId = backfillGroup(this.deps.options.groupId, v.name, v.version);
    let finished!: () => void;
    const done = new Promise<void>((resolve) => {
      finished = resolve;
    });
    const empty = Object.entries(v.handover).every(([p, h]) => (v.from[p] ?? 0) >= h);
    let processor: StreamProcessor | undefined;
    try {
      if (!empty) {
        processor = new StreamProcessor({
          kafka: this.deps.kafka,
          schemas: this.deps.schemas,
          logger: log,
          metrics: processorMetrics(new Registry()),
          // The book for the declared event types it reads records of (the versions it computes are the one below).
          declarations: this.deps.declarations,
          options: { ...this.deps.options, groupId, backfill: { version: v, onDone: async () => finished() } },
        });
        this.running = { id: state.id, processor };
        log.info({ groupId, from: v.from, handover: v.handover }, 'backfill.started');
        await processor.start();
        // Ends when done, or when the version is dropped or this processor stops.
        await Promise.race([done, processor.stopped]);
        await processor.stop();
      }
      const now = this.deps.declarations.get(v.name, v.version);
      if (this.stopped || now?.dropped || now?.backfill) return;
      const admin = await connectAdmin(this.deps.kafka);
      try {
        await this.liveReached(admin, v);
        const ends = await admin.fetchTopicOffsets(this.deps.options.topics.rollups);
        const record: BackfillRecord = {
          at: Date.now(),
          rollupsEnd: Object.fromEntries(ends.map((o) => [String(o.partition), Number(o.high)])),
        };
        await this.deps.log.append([{ key: bookKey('backfill', v.name, v.version), value: record }]);
        await admin.deleteGroups([groupId]).catch(() => undefined); // another member may still be leaving; the group expires anyway
      } finally {
        await admin.disconnect();
      }
      log.info('backfill.done');
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'backfill.failed');
      await processor?.stop().catch(() => undefined);
      // Tried again from its last commit after a pause.
      if (!this.stopped) setTimeout(() => this.enqueue(state), 5000).unref();
    } finally {
      this.running = undefined;
    }
  }

  /**
   * Waits until the live path has emitted this version up to where the input ended when it was
   * applied: every partition's commit includes it and was processed that far. Then the rollups
   * topic's end covers the whole history of the version, backfilled and live.
   */
  private async liveReached(admin: Admin, v: VersionRecord): Promise<void> {
    const id = versionId(v.name, v.version);
    for (;;) {
      const [offsets] = await admin.fetchOffsets({ groupId: this.deps.options.groupId, topics: [v.topic] });
      const byPartition = new Map((offsets?.partitions ?? []).map((p) => [String(p.partition), p.metadata]));
      const reached = Object.entries(v.end).every(
        ([p, end]) =>
          end <= (v.handover[p] ?? 0) ||
          (includedRollups(byPartition.get(p)).has(id) && (processedPosition(byPartition.get(p)) ?? -1) >= end),
      );
      if (reached || this.stopped || this.deps.declarations.get(v.name, v.version)?.dropped) return;
      await sleep(500);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unfollow?.();
    await this.running?.processor.stop();
    await this.loop;
  }
}
