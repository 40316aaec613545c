import { TributaryError } from './errors';
import { StallClock } from './stall';

describe('StallClock', () => {
  let t = 0;
  const clock = () => new StallClock(30_000, 'no insert into ClickHouse succeeded', () => t);

  it('runs from the first failure, stalls past the bound, and stops on a success', () => {
    t = 1_000;
    const c = clock();
    expect([c.failingForMs, c.stalled]).toEqual([0, false]);
    expect(c.failed('ECONNREFUSED')).toBe(true);
    t = 20_000;
    expect(c.failed('ECONNREFUSED')).toBe(false); // the same error again: not news
    expect(c.failed('timeout')).toBe(true);
    expect([c.failingForMs, c.stalled]).toEqual([19_000, false]);
    expect(() => c.check()).not.toThrow();
    t = 31_001;
    expect(c.stalled).toBe(true);
    expect(() => c.check()).toThrow(
      new TributaryError('unavailable', 'no insert into ClickHouse succeeded for 30 s: timeout'),
    );
    t = 40_000;
    expect(c.succeeded()).toBe(39_000);
    expect([c.failingForMs, c.stalled, c.succeeded()]).toEqual([0, false, undefined]);
  });

  it('starts the clock when the attempt began, if given, but never moves it', () => {
    t = 50_000;
    const c = clock();
    c.failed('slow', 10_000);
    expect(c.failingForMs).toBe(40_000);
    c.failed('slow', 45_000);
    expect(c.failingForMs).toBe(40_000);
  });
});
