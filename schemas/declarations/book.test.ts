import { DeclarationBook, bookKey, type VersionRecord } from './book';
import { checkDeclaration } from './format';

const declared = (window: string) => {
  const c = checkDeclaration({ name: 'r', source: 'orders', measures: ['count'], window });
  if (!c.ok) throw new Error('valid');
  return c.declaration;
};
const record = (version: number, window = '1h'): VersionRecord => ({
  name: 'r',
  version,
  declaration: declared(window),
  appliedAt: 0,
  topic: 'o',
  segmentSize: 10,
  from: { 0: 0 },
  handover: { 0: 10 },
  end: { 0: 12 },
  fromTime: null,
});

describe('DeclarationBook', () => {
  it('serves the newest complete version, never one still backfilling', () => {
    const book = new DeclarationBook([]);
    book.apply(bookKey('version', 'r', 1), record(1));
    expect(book.served('r')).toBeUndefined();
    book.apply(bookKey('complete', 'r', 1), { at: 1 });
    expect(book.served('r')?.id).toBe('r@1');
    book.apply(bookKey('version', 'r', 2), record(2, '1d'));
    book.apply(bookKey('backfill', 'r', 2), { at: 2, rollupsEnd: {} });
    expect(book.served('r')?.id).toBe('r@1');
    book.apply(bookKey('complete', 'r', 2), { at: 3 });
    book.apply(bookKey('drop', 'r', 1), { at: 3, reason: 'superseded' });
    expect(book.served('r')?.id).toBe('r@2');
    expect(book.live().map((s) => s.id)).toEqual(['r@2']);
  });

  it('plans unchanged for the same meaning, the next number otherwise; a version never changes', () => {
    const book = new DeclarationBook([]);
    book.apply(bookKey('version', 'r', 1), record(1));
    expect(book.plan(declared('1h'))).toEqual({ existing: book.get('r', 1) });
    expect(book.plan(declared('1d'))).toEqual({ version: 2 });
    book.apply(bookKey('version', 'r', 1), record(1, '1d'));
    expect(book.get('r', 1)?.record.declaration.window).toBe('1h');
    book.apply('something/else', { x: 1 });
    expect(book.all()).toHaveLength(1);
  });
});

describe('DeclarationBook and the built-in rollups', () => {
  it('holds them complete from the start, never replaced or dropped by a record of the topic', () => {
    const book = new DeclarationBook();
    expect(book.served('orders')?.record.builtin).toBe(true);
    expect(
      book
        .all()
        .filter((s) => s.record.builtin)
        .map((s) => s.id),
    ).toEqual(['active_users@1', 'orders@1', 'products@1', 'users@1']);
    book.apply('version/orders/2', { name: 'orders', version: 2 });
    book.apply('drop/orders/1', { at: 1, reason: 'dropped' });
    expect(book.versionsOf('orders').map((s) => [s.id, s.dropped])).toEqual([['orders@1', undefined]]);
  });

  it('keeps where upgraded partitions took over, and whether their old rows were copied', () => {
    const book = new DeclarationBook([]);
    book.apply('migrated/x.orders/0', { at: 1 }); // before its record: ignored
    book.apply('legacy/x.orders/0', { topic: 'x.orders', partition: 0, segment: 3, rollupsEnd: { 0: 9 }, at: 1 });
    book.apply('legacy/x.users/2', { topic: 'x.users', partition: 2, segment: 0, rollupsEnd: {}, at: 1 });
    expect(book.legacy().map((l) => [l.record.topic, l.record.partition, l.migrated])).toEqual([
      ['x.orders', 0, undefined],
      ['x.users', 2, undefined],
    ]);
    expect(book.upgrade()).toEqual({ partitions: 2, copied: 0, waiting: ['x.orders/0', 'x.users/2'] });
    book.apply('migrated/x.orders/0', { at: 2 });
    expect(book.legacy().map((l) => l.migrated?.at)).toEqual([2, undefined]);
    expect(book.upgrade()).toEqual({ partitions: 2, copied: 1, waiting: ['x.users/2'] });
    expect(new DeclarationBook([]).upgrade()).toBeNull();
  });
});
