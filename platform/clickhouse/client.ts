import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { redactUrl, type Config } from '../config';
import { TributaryError } from '../errors';

export type { ClickHouseClient };

/**
 * The one ClickHouse client a process uses. Without CLICKHOUSE_URL it is built on chDB, the
 * real ClickHouse engine in-process, storing under DATA_DIR/clickhouse; with it, over HTTP.
 * Both speak the same SQL through the same `@clickhouse/client` API.
 *
 * NOTE: chDB allows one data directory per process, so only the process that hosts the sink
 * and the dashboard may open the embedded engine; close the client before opening another.
 */
export function createClickHouse(config: Config['clickhouse'], dataDir: string): ClickHouseClient {
  if (config.url) {
    return createClient({
      url: config.url,
      username: config.user,
      password: config.password,
      request_timeout: 60_000,
      clickhouse_settings: { date_time_input_format: 'best_effort' },
    });
  }
  const { createChdbConnection } = loadChdb();
  const dir = path.join(dataDir, 'clickhouse');
  mkdirSync(dir, { recursive: true });
  // TRICKY: chdb declares the Connection interface from @clickhouse/client-common while
  // @clickhouse/client 1.23 bundles its own copy; the shapes agree, the declarations differ.
  const connection = createChdbConnection({ path: dir }) as unknown as NonNullable<
    Parameters<typeof createClient>[0]
  >['connection'];
  return createClient({ connection });
}

/** True when `client` runs the embedded engine rather than a server. */
export function describeClickHouse(config: Config['clickhouse'], dataDir: string): string {
  return config.url ? redactUrl(config.url) : `embedded chDB in ${path.join(dataDir, 'clickhouse')}`;
}

/**
 * chDB is an optional dependency (its native library is ~540 MB): the production image leaves it
 * out and talks to a ClickHouse server. Loaded only when the embedded engine is asked for.
 */
function loadChdb(): { createChdbConnection: (options: { path: string }) => unknown } {
  try {
    // Typed here rather than by `import type`, so the build needs no chdb either.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('chdb/connection') as { createChdbConnection: (options: { path: string }) => unknown };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
    throw new TributaryError(
      'prerequisite',
      'the embedded ClickHouse engine (the optional chdb package) is not installed here: set CLICKHOUSE_URL to a ClickHouse server, or install with optional dependencies (npm ci)',
    );
  }
}
