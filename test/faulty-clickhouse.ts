import type { ClickHouseClient } from '@clickhouse/client';

export type FaultyClickHouse = ClickHouseClient & { down: boolean; failedInserts: number };

/**
 * A fault-injecting wrapper around a real client: while `down` is set, inserts, queries and
 * commands fail as they would against an unreachable server (ECONNREFUSED). Everything else
 * passes through to the real engine. Used by the sink's tests, and by the fault
 * suite's sink (test/faults/faulty-sink.ts: SIGUSR2 toggles it).
 */
export function faultyClickHouse(real: ClickHouseClient): FaultyClickHouse {
  const state = { down: false, failedInserts: 0 };
  const refuse = () =>
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123 (injected)'), { code: 'ECONNREFUSED' });
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
      if (prop === 'down') {
        state.down = Boolean(value);
        return true;
      }
      return false;
    },
  }) as FaultyClickHouse;
}
