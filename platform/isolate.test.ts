import { sendIsolating } from './isolate';

describe('sendIsolating', () => {
  const refused = Object.assign(new Error('refused'), { atFault: true });

  it('sends every good item once, in sends that succeeded, and hands each bad one alone to `alone`', async () => {
    const items = Array.from({ length: 13 }, (_, i) => i);
    const bad = new Set([3, 4, 11]);
    const sent: number[][] = [];
    const alone: number[] = [];
    let splits = 0;
    await sendIsolating(
      items,
      async (part) => {
        if (part.some((i) => bad.has(i))) throw refused;
        sent.push(part);
      },
      {
        atFault: (err) => (err as { atFault?: boolean }).atFault === true,
        alone: async (item) => {
          alone.push(item);
        },
        split: () => (splits += 1),
      },
    );
    expect(sent.flat().sort((a, b) => a - b)).toEqual(items.filter((i) => !bad.has(i)));
    expect(alone).toEqual([3, 4, 11]);
    expect(splits).toBeGreaterThanOrEqual(3);
    expect(splits).toBeLessThan(items.length); // halving, not one by one
  });

  it('throws a failure the items did not cause, without splitting', async () => {
    const outage = new Error('broker down');
    let sends = 0;
    await expect(
      sendIsolating(
        [1, 2, 3, 4],
        async () => {
          sends += 1;
          throw outage;
        },
        { atFault: () => false, alone: async () => undefined },
      ),
    ).rejects.toBe(outage);
    expect(sends).toBe(1);
  });

  it('lets `alone` replace an item: what it sends goes through the same isolation', async () => {
    const sent: string[] = [];
    const send = async (part: string[]) => {
      if (part.includes('block')) throw refused;
      sent.push(...part);
    };
    const handlers = {
      atFault: () => true,
      alone: (item: string) => sendIsolating([`${item}-row1`, `${item}-row2`], send, handlers),
    };
    await sendIsolating(['a', 'block', 'b'], send, handlers);
    expect(sent.sort()).toEqual(['a', 'b', 'block-row1', 'block-row2']);
  });
});
