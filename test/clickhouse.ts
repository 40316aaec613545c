import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse } from '../platform/clickhouse/client';
import type { Config } from '../platform/config';

/**
 * A fault-injecting wrapper around the real client: while `down` is set, inserts and queries
 * fail as they would against an unreachable server (ECONNREFUSED). Everything else passes
 * through to the real engine.
 */
export function faultyClickHouse(real: ClickHouseClient): ClickHouseClient & { down: boolean; failedInserts: number } {
  const state = { down: false, failedInserts: 0 };
  const refuse = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123 (injected)'), { code: 'ECONNREFUSED' });
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'down') return state.down;
      if (prop === 'failedInserts') return state.failedInserts;
      const value = Reflect.get(target, prop, receiver);
      if ((prop === 'insert' || prop === 'query' || prop === 'command') && typeof value === 'function') {
        return (...args: unknown[]) => {
          if (state.down) {
            if (prop === 'insert') state.failedInserts += 1;
            return Promise.reject(refuse());
          }
          return value.apply(target, args);
        };
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
    set(_target, prop, value) {
      if (prop === 'down') { state.down = Boolean(value); return true; }
      return false;
    },
  }) as ClickHouseClient & { down: boolean; failedInserts: number };
}

/** The engine under test: a ClickHouse server when CLICKHOUSE_URL is set, else chDB in the test's DATA_DIR. */
export function testClickHouse(config: Config): ClickHouseClient {
  return createClickHouse(config.clickhouse, config.dataDir);
}

export const clickhouseTarget = process.env.CLICKHOUSE_URL ? `ClickHouse server ${process.env.CLICKHOUSE_URL}` : 'embedded chDB';
