import { batchDue, QUIET_MS, type BufferTimes } from './batching';

const DELAY = 500;
const at = (b: Partial<BufferTimes>): BufferTimes => ({ rows: 10, since: 1000, latest: 1000, lastInsertAt: 0, ...b });

describe('batchDue: when the sink inserts what it buffered', () => {
  it('never with nothing buffered', () => {
    expect(batchDue(at({ rows: 0 }), 10_000, DELAY)).toBe(false);
  });

  it('once rows stopped arriving for QUIET_MS, long before the delay', () => {
    expect(batchDue(at({}), 1000 + QUIET_MS - 1, DELAY)).toBe(false);
    expect(batchDue(at({}), 1000 + QUIET_MS, DELAY)).toBe(true);
  });

  it('while rows keep arriving, when the oldest is batchDelayMs old', () => {
    expect(batchDue(at({ latest: 1490 }), 1499, DELAY)).toBe(false);
    expect(batchDue(at({ latest: 1499 }), 1500, DELAY)).toBe(true);
  });

  it('never sooner than half the delay after the previous insert began, however quiet', () => {
    expect(batchDue(at({ lastInsertAt: 900 }), 1149, DELAY)).toBe(false);
    expect(batchDue(at({ lastInsertAt: 900 }), 1150, DELAY)).toBe(true);
  });

  /** The sink's timer ticking every `tick` ms over bursts arriving every `period` ms (a little jitter): each burst's wait. */
  function waits(period: number, tick: number, bursts: number): number[] {
    const arrivals = Array.from({ length: bursts }, (_, i) => 1000 + i * period + (i % 3) * 7);
    const result: number[] = [];
    let lastInsertAt = 0;
    let since: number | undefined;
    let latest = 0;
    let next = 0;
    for (let now = 0; next < arrivals.length || since !== undefined; now += tick) {
      while (next < arrivals.length && arrivals[next]! <= now) {
        latest = arrivals[next++]!;
        since ??= latest;
      }
      if (since !== undefined && batchDue({ rows: 1, since, latest, lastInsertAt }, now, DELAY)) {
        result.push(now - since);
        lastInsertAt = now + 2; // the insert begins a moment after the timer decided
        since = undefined;
      }
    }
    return result;
  }

  it('a processor flushing every batchDelayMs gets each burst inserted within QUIET_MS and a tick, not ratcheting up to the delay', () => {
    const w = waits(DELAY, 20, 50);
    expect(w).toHaveLength(50);
    expect(Math.max(...w)).toBeLessThanOrEqual(QUIET_MS + 20);
  });

  it('bursts faster than half the delay are batched: at most two inserts per batchDelayMs', () => {
    const w = waits(50, 10, 100); // 100 bursts in 5 s
    expect(w.length).toBeLessThanOrEqual(Math.ceil((100 * 50) / (DELAY / 2)));
    expect(Math.max(...w)).toBeLessThanOrEqual(DELAY);
  });
});
