import { z } from 'zod';
import { optional, positiveInt, section } from '../platform/config';

/** The ClickHouse sink's settings. */
export const consumersSection = section(
  {
    SINK_GROUP_ID: optional(z.string().min(1)).default('tributary-clickhouse-sink'),
    SINK_BATCH_ROWS: optional(positiveInt).default(20_000),
    SINK_BATCH_DELAY_MS: optional(positiveInt).default(500),
    /** Port of the standalone sink's /healthz, /readyz and /metrics (0: any free port). */
    SINK_PORT: optional(z.coerce.number().int().min(0).max(65535)).default(8093),
    /** How long a dropped or superseded declared rollup's tables stay before the sink drops them (docs/rollups.md). */
    ROLLUPS_DROP_GRACE_MS: optional(z.coerce.number().int().min(0)).default(3_600_000),
  },
  (e) => ({
    sink: {
      groupId: e.SINK_GROUP_ID,
      batchRows: e.SINK_BATCH_ROWS,
      batchDelayMs: e.SINK_BATCH_DELAY_MS,
      port: e.SINK_PORT,
    },
    /** Declared rollups: how long a dropped version's tables stay. */
    rollups: { dropGraceMs: e.ROLLUPS_DROP_GRACE_MS },
  }),
);

declare module '../platform/config' {
  interface Config extends ReturnType<typeof consumersSection.build> {}
}
