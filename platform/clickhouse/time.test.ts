import { chTime } from './time';

const viaIso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

describe('chTime', () => {
  it('writes DateTime64(3) text in UTC', () => {
    expect(chTime(Date.UTC(2026, 10, 27, 20, 0, 0, 0))).toBe('2026-11-27 20:00:00.000');
    expect(chTime(Date.UTC(2024, 1, 29, 23, 59, 59, 7))).toBe('2024-02-29 23:59:59.007');
  });

  it('agrees with Date#toISOString on edges (leap days, centuries, ends of years) and on random instants', () => {
    const edges = [
      0,
      -1,
      Date.UTC(2000, 1, 29),
      Date.UTC(1900, 2, 1) - 1,
      Date.UTC(2100, 1, 28, 23, 59, 59, 999),
      Date.UTC(1000, 0, 1),
      Date.UTC(999, 11, 31),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      Date.UTC(10000, 0, 1),
      8.64e15,
      -8.64e15,
      1.5,
    ];
    for (const ms of edges) expect(chTime(ms)).toBe(viaIso(ms));
    let seed = 17;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 5000; i++) {
      const ms = Math.floor(random() * 2 * 253_402_300_800_000) - 253_402_300_800_000;
      expect(chTime(ms)).toBe(viaIso(ms));
    }
  });
});
