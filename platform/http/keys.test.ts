import { keyMatches } from './keys';

describe('keyMatches', () => {
  it('matches a key of any length among keys of other lengths, and nothing else', () => {
    const keys = ['short', 'a-much-longer-key-of-forty-characters-xx', 'k'.repeat(300)];
    for (const k of keys) expect(keyMatches(k, keys)).toBe(true);
    for (const wrong of ['', 'shor', 'shortx', 'k'.repeat(299), 'SHORT']) expect(keyMatches(wrong, keys)).toBe(false);
    expect(keyMatches('short', [])).toBe(false);
  });
});
