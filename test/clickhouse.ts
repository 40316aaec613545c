import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse } from '../platform/clickhouse/client';
import type { Config } from '../platform/config';

export { faultyClickHouse } from './faulty-clickhouse';

/** The engine under test: a ClickHouse server when CLICKHOUSE_URL is set, else chDB in the test's DATA_DIR. */
export function testClickHouse(config: Config): ClickHouseClient {
  return createClickHouse(config.clickhouse, config.dataDir);
}

export const clickhouseTarget = process.env.CLICKHOUSE_URL
  ? `ClickHouse server ${process.env.CLICKHOUSE_URL}`
  : 'embedded chDB';
