import type { EventEmitter } from 'node:events';

/** What the benches read from an autocannon run. */
export interface AutocannonResult {
  '2xx': number;
  non2xx: number;
  errors: number;
  latency: { p50: number; p99: number };
}

// autocannon ships no typings: the callback form returns the running instance.
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const autocannon = require('autocannon') as (
  opts: Record<string, unknown>,
  done: (err: Error | null, result: AutocannonResult) => void,
) => EventEmitter;
