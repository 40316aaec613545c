import { AdvancedRows } from './advanced';

describe('AdvancedRows', () => {
  it("a key's first version and every higher one advance; the same or a lower one does not", () => {
    const rows = new AdvancedRows();
    expect(rows.advanced('a', 5)).toBe(true);
    expect(rows.advanced('a', 5)).toBe(false);
    expect(rows.advanced('a', 3)).toBe(false);
    expect(rows.advanced('b', 5)).toBe(true);
    expect(rows.advanced('a', 6)).toBe(true);
    expect(rows.advanced('a', 6)).toBe(false);
  });

  it('forgets the least recently advanced key past its capacity', () => {
    const rows = new AdvancedRows(2);
    rows.advanced('a', 1);
    rows.advanced('b', 1);
    rows.advanced('a', 2); // a is now the most recent
    rows.advanced('c', 1); // b goes
    expect(rows.size).toBe(2);
    expect(rows.advanced('a', 2)).toBe(false);
    expect(rows.advanced('b', 1)).toBe(true);
  });
});
