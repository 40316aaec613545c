import type { RollupRow } from '../schemas/rollup';
import { INSERT_COLUMNS, toTableRow } from './rows';

const base = {
  topic: 'events.orders',
  partition: 3,
  segment: 7,
  chunk: 1,
  windowStart: Date.UTC(2026, 10, 28, 12, 5),
  count: 4,
  amountCents: 12_345,
  quantity: 9,
  version: 140_123,
  users: [],
  maxReceivedAt: Date.UTC(2026, 10, 28, 12, 5, 30, 250),
};

/** A row's values zipped with its table's columns: what ClickHouse stores in each column. */
function asColumns(row: RollupRow): Record<string, unknown> {
  const { table, values } = toTableRow(row);
  expect(values).toHaveLength(INSERT_COLUMNS[table].length);
  return Object.fromEntries(INSERT_COLUMNS[table].map((c, i) => [c, values[i]]));
}

describe("toTableRow (the sink's JSONCompactEachRow lines)", () => {
  it('puts every value under its column, dimensions by name whatever the dims order', () => {
    const row: RollupRow = { ...base, kind: 'products', dims: { currency: 'EUR', sku: 'SKU-9', category: 'books' } };
    expect(asColumns(row)).toEqual({
      topic: 'events.orders',
      partition: 3,
      segment: 7,
      chunk: 1,
      window_start: '2026-11-28 12:05:00.000',
      count: 4,
      amount_cents: 12_345,
      quantity: 9,
      version: 140_123,
      max_received_at: '2026-11-28 12:05:30.250',
      sku: 'SKU-9',
      category: 'books',
      currency: 'EUR',
    });
  });

  it("takes only the table's dimensions from dims (a crafted dim never lands in a metric column) and blanks missing ones", () => {
    const row: RollupRow = {
      ...base,
      kind: 'orders',
      dims: { type: 'order_paid', count: '999999', amount_cents: '1' },
      maxReceivedAt: null,
    };
    const stored = asColumns(row);
    expect(stored).toMatchObject({
      type: 'order_paid',
      country: '',
      currency: '',
      count: 4,
      amount_cents: 12_345,
      max_received_at: null,
    });
  });

  it('sends set deltas, and older per-user rows as sets of one, to the Null table', () => {
    expect(toTableRow({ ...base, kind: 'active_users', dims: {}, users: ['a', 'b'] })).toEqual({
      table: 'active_users_input',
      values: ['2026-11-28 12:05:00.000', ['a', 'b']],
    });
    expect(toTableRow({ ...base, kind: 'active_user', dims: { userId: 'u-1' } })).toEqual({
      table: 'active_users_input',
      values: ['2026-11-28 12:05:00.000', ['u-1']],
    });
  });
});
