import { InvalidArgumentError } from 'commander';

/** A commander option parser for an ISO-8601 time (epoch milliseconds), with a message naming the option. */
export function isoTimeOption(name: string) {
  return (value: string): number => {
    const ms = Date.parse(value);
    if (Number.isNaN(ms)) throw new InvalidArgumentError(`${name} must be an ISO-8601 time, e.g. 2026-11-27T20:00:00Z`);
    return ms;
  };
}

/** A commander option parser for an integer in [min, max], with a message naming the option. */
export function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}
