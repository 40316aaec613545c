import { backoffDelay, retry } from './retry';

describe('retry', () => {
  const fast = { initialMs: 1, maxMs: 4 };

  it('retries a failure until the work succeeds, with doubling waits capped at maxMs', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await retry(
      async () => {
        calls += 1;
        if (calls < 5) throw new Error('broker not available');
        return 'sent';
      },
      { ...fast, onRetry: (_err, _attempt, delay) => waits.push(delay) },
    );
    expect(result).toBe('sent');
    expect(waits).toEqual([1, 2, 4, 4]);
  });

  it('never retries a programmer error', async () => {
    let calls = 0;
    await expect(
      retry(async () => {
        calls += 1;
        throw new TypeError('x is undefined');
      }, fast),
    ).rejects.toThrow(TypeError);
    expect(calls).toBe(1);
  });

  it('rethrows when giveUp says so, and after the last of `attempts`', async () => {
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls += 1;
          throw new Error('stopping');
        },
        { ...fast, giveUp: () => calls >= 2 },
      ),
    ).rejects.toThrow('stopping');
    expect(calls).toBe(2);
    calls = 0;
    await expect(
      retry(
        async () => {
          calls += 1;
          throw new Error('down');
        },
        { ...fast, attempts: 3 },
      ),
    ).rejects.toThrow('down');
    expect(calls).toBe(3);
  });

  it('computes the backoff without overflow for large attempt numbers', () => {
    expect(backoffDelay(0, { initialMs: 100, maxMs: 5000 })).toBe(100);
    expect(backoffDelay(5, { initialMs: 100, maxMs: 5000 })).toBe(3200);
    expect(backoffDelay(10_000, { initialMs: 100, maxMs: 5000 })).toBe(5000);
  });
});
