import { portOutsideEphemeralRange } from './ports';

describe('portOutsideEphemeralRange', () => {
  const linux = { low: 32768, high: 60999 };

  it('keeps every port of the span out of the ephemeral range, at both ends of the random draw', () => {
    for (const draw of [0, 0.25, 0.5, 0.999999]) {
      const base = portOutsideEphemeralRange(4, linux, () => draw)!;
      for (const port of [base, base + 3]) {
        expect(port >= 20_000 && (port < linux.low || port > linux.high) && port <= 65_535).toBe(true);
      }
    }
  });

  it('uses the room above the range when there is none below it', () => {
    const base = portOutsideEphemeralRange(2, { low: 1024, high: 60999 }, () => 0.5)!;
    expect(base).toBeGreaterThan(60999);
    expect(base + 1).toBeLessThanOrEqual(65_535);
  });

  it('gives up when the range covers every port it could pick', () => {
    expect(portOutsideEphemeralRange(2, { low: 1024, high: 65535 })).toBeUndefined();
  });

  it('spreads its picks (two test runs rarely draw the same base)', () => {
    const picks = new Set(Array.from({ length: 200 }, () => portOutsideEphemeralRange(2, linux)));
    expect(picks.size).toBeGreaterThan(190);
  });
});
