import { commaSeparated, optional, port, positiveInt, refusePlaceholder, section } from '../platform/config';

/** The dashboard's settings. */
export const dashboardsSection = section(
  {
    DASHBOARD_PORT: optional(port).default(3000),
    /** Comma-separated read keys for the dashboard API; unset: the dashboard is open. */
    READ_KEYS: optional(commaSeparated),
    /** Live-stream (/api/stream) connections the dashboard holds at most, in all and per client address. */
    DASHBOARD_MAX_STREAMS: optional(positiveInt).default(200),
    DASHBOARD_MAX_STREAMS_PER_CLIENT: optional(positiveInt).default(8),
    /** Longest a dashboard query runs in ClickHouse (max_execution_time) before it is cancelled. */
    DASHBOARD_QUERY_TIMEOUT_MS: optional(positiveInt).default(10_000),
    /** Memory one dashboard query may use in ClickHouse (max_memory_usage); past it the answer is 422. */
    DASHBOARD_QUERY_MAX_MEMORY_BYTES: optional(positiveInt).default(256 * 1024 * 1024),
  },
  (e) => {
    refusePlaceholder('READ_KEYS', e.READ_KEYS);
    return {
      dashboardPort: e.DASHBOARD_PORT,
      readKeys: e.READ_KEYS ?? [],
      dashboard: {
        maxStreams: e.DASHBOARD_MAX_STREAMS,
        maxStreamsPerClient: e.DASHBOARD_MAX_STREAMS_PER_CLIENT,
        queryTimeoutMs: e.DASHBOARD_QUERY_TIMEOUT_MS,
        queryMaxMemoryBytes: e.DASHBOARD_QUERY_MAX_MEMORY_BYTES,
      },
    };
  },
);

declare module '../platform/config' {
  interface Config extends ReturnType<typeof dashboardsSection.build> {}
}
