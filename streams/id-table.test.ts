import { dedupKey } from '../schemas/identity';
import { IdTable, hashId } from './id-table';

/** A small deterministic generator, so a failure repeats. */
function random(seed: number) {
  return () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

describe('IdTable', () => {
  it('agrees with a Map of dedup keys over 60,000 random ids, through growth and clears', () => {
    const next = random(7);
    const origins = [null, 'shop-key', 'bridge:rabbitmq:orders', 'ключ', '😀'];
    const pick = () => {
      const n = Math.floor(next() * 40);
      // Short ids collide often (duplicates), long ones do not; some with non-ASCII and lone surrogates.
      const alphabet = next() < 0.1 ? 'aé😀\uD800z' : 'abcdef0123456789-';
      let eventId = '';
      for (let i = 0; i < (n % 12) + (next() < 0.5 ? 0 : 24); i++)
        eventId += alphabet[Math.floor(next() * alphabet.length)];
      return { origin: origins[Math.floor(next() * origins.length)]!, eventId };
    };
    const table = new IdTable();
    for (let round = 0; round < 3; round++) {
      const oracle = new Map<string, number>();
      let duplicates = 0;
      for (let i = 0; i < 20_000; i++) {
        const { origin, eventId } = pick();
        const hash = hashId(origin, eventId);
        const expected = oracle.get(dedupKey({ origin, eventId }));
        expect(table.get(hash, origin, eventId)).toBe(expected);
        if (expected === undefined) {
          const fingerprint = Math.floor(next() * 2 ** 32);
          table.add(hash, origin, eventId, fingerprint);
          oracle.set(dedupKey({ origin, eventId }), fingerprint);
        } else duplicates += 1;
      }
      expect(table.size).toBe(oracle.size);
      expect(duplicates).toBeGreaterThan(1000); // the run did exercise duplicates
      table.clear();
      expect(table.size).toBe(0);
      expect(table.get(hashId(null, 'abc'), null, 'abc')).toBeUndefined();
    }
  });

  it('stays exact when every id has the same hash: whole ids decide, origin and eventId kept apart', () => {
    const table = new IdTable();
    // (No id holds a NUL, the separator: the event limits refuse control characters.)
    // 'é' is stored a byte a unit; 'ǩ' (U+01E9, the same low byte) and '😀' two bytes a unit.
    const ids: Array<[string | null, string]> = [
      [null, 'a'],
      [null, 'ab'],
      ['a', 'b'],
      ['ab', ''],
      [null, 'ba'],
      ['', 'ab'],
      [null, ''],
      [null, 'é'],
      [null, 'ǩ'],
      ['é', 'x'],
      ['ǩ', 'x'],
      ['😀', 'é'],
      [null, '😀\u00e9'],
    ];
    ids.forEach(([origin, eventId], i) => table.add(42, origin, eventId, i));
    // Each found with its own fingerprint, though all share one hash (one long probe chain).
    ids.forEach(([origin, eventId], i) => expect(table.get(42, origin, eventId)).toBe(i));
    expect(table.get(42, null, 'b')).toBeUndefined();
    expect(table.get(42, 'a', 'ab')).toBeUndefined();
    for (let i = 0; i < 3000; i++) table.add(42, 'k', `id-${i}`, i); // growing slots while colliding
    expect(table.get(42, 'k', 'id-2999')).toBe(2999);
    expect(table.get(42, null, 'ba')).toBe(4);
  });

  it('hashes the same id alike and keeps origin and eventId apart', () => {
    expect(hashId('shop', 'e-1')).toBe(hashId('shop', 'e-1'));
    expect(hashId('shop', 'e-1')).not.toBe(hashId('shope', '-1'));
    expect(hashId(null, 'e-1')).not.toBe(hashId('', 'e-1'));
  });
});
