import type { Admin } from '../../platform/kafka/client';
import { Observer, type Sample } from './observer';

/** The figures docs/operations.md quotes come from Observer.window: checked here on made-up timelines. */
describe('Observer.window', () => {
  const observer = (samples: Sample[]) => {
    const o = new Observer({} as Admin, () => [], {
      process: { group: 'g', topics: [] },
      sink: { group: 's', topics: [] },
    });
    o.samples.push(...samples);
    return o;
  };
  const at = (s: number, notReady: string[], processLag: number | undefined, sinkLag = 0): Sample => ({
    at: s * 1000,
    notReady,
    processLag,
    sinkLag,
  });

  it('reads detection, failover, the lag at the heal and recovery from the samples', () => {
    const w = observer([
      at(9, [], 5), // before the fault: not counted
      at(10, [], 10),
      at(10.5, ['p1: no answer'], 300),
      at(20, ['p1: no answer'], 900),
      at(23, ['p1: no answer'], 150), // the other member took over
      at(25, ['p1: no answer'], 20),
      at(26, ['p1: 503 progress'], 30), // healed at 25.5, not ready yet
      at(27, [], 250), // ready, lag still over 1 s of load
      at(28, [], 40),
    ]).window(10_000, 25_500, 30_000, 200);
    expect(w.detect).toEqual({ afterS: 0.5, stages: ['p1: no answer'] });
    expect(w.processLagPeak).toBe(900);
    expect(w.failoverS).toBe(13);
    expect(w.processLagAtHeal).toBe(20);
    expect(w.recoverS).toBe(2.5);
  });

  it('says nothing it did not see: no failure, no takeover, unanswered lags skipped', () => {
    const w = observer([at(10, [], undefined), at(11, [], 100), at(12, [], undefined)]).window(
      10_000,
      11_500,
      13_000,
      200,
    );
    expect(w.detect).toBeUndefined();
    expect(w.failoverS).toBeUndefined();
    expect(w.processLagAtHeal).toBe(100);
    expect(w.recoverS).toBeUndefined(); // the only sample after the heal had no lag figure
  });
});
