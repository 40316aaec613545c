import { z } from 'zod';
import { optional, positiveInt, section } from '../platform/config';

/** The stream processor's settings. */
export const streamsSection = section(
  {
    /** Consumer group of the stream processor. */
    PROCESS_GROUP_ID: optional(z.string().min(1)).default('tributary-rollups'),
    /** Offsets per segment (S in docs/processing.md): a restart recomputes at most two segments per partition. */
    SEGMENT_SIZE: optional(positiveInt).default(20_000),
    /** How often the processor emits changed rollup rows (dashboards are this live). */
    FLUSH_INTERVAL_MS: optional(positiveInt).default(500),
    /** Distinct rollup rows one partition's open chunk holds before the next chunk starts (bounded memory, docs/processing.md). */
    PROCESS_MAX_ROWS: optional(positiveInt).default(10_000),
    /**
     * Rows waiting to be emitted, across partitions, above which the processor stops reading until a
     * flush sent them. Rows travel in blocks, so a flush is cheap, and a lower bound keeps the peak
     * of the high-cardinality bench lower (figures in docs/benchmarks.md).
     */
    PROCESS_MAX_PENDING_ROWS: optional(positiveInt).default(10_000),
    /**
     * Bytes a declared rollup's backfill fetches per partition at a time (one partition at a time):
     * smaller keeps the live path fresher while a backfill runs, larger backfills faster (docs/rollups.md).
     */
    PROCESS_BACKFILL_FETCH_BYTES: optional(z.coerce.number().int().min(1024)).default(64 * 1024),
    /** Port of the processor's /healthz, /readyz and /metrics (0: any free port). */
    PROCESS_PORT: optional(z.coerce.number().int().min(0).max(65535)).default(8092),
  },
  (e) => ({
    processor: {
      groupId: e.PROCESS_GROUP_ID,
      segmentSize: e.SEGMENT_SIZE,
      flushIntervalMs: e.FLUSH_INTERVAL_MS,
      maxRowsPerPartition: e.PROCESS_MAX_ROWS,
      maxPendingRows: e.PROCESS_MAX_PENDING_ROWS,
      backfillFetchBytes: e.PROCESS_BACKFILL_FETCH_BYTES,
      port: e.PROCESS_PORT,
    },
  }),
);

declare module '../platform/config' {
  interface Config extends ReturnType<typeof streamsSection.build> {}
}
