import { isDataError, isTooLarge } from './insert-faults';

/** What the sink does with a failed insert: split it (too large), isolate a row (data), or wait (anything else). */
describe('insert faults', () => {
  // Shaped like @clickhouse/client's ClickHouseError (code, type, message) and chDB's.
  const clickhouse = (type: string, code: string, message: string) => Object.assign(new Error(message), { type, code });

  it('tells a batch refused for its size from an outage', () => {
    expect(isTooLarge(clickhouse('MEMORY_LIMIT_EXCEEDED', '241', 'Memory limit (total) exceeded'))).toBe(true);
    expect(isTooLarge(new Error('Request failed with status 413 Payload Too Large'))).toBe(true);
    expect(isTooLarge(clickhouse('', '', 'Max query size exceeded: 262144'))).toBe(true);
    expect(isTooLarge(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), { code: 'ECONNREFUSED' }))).toBe(
      false,
    );
    expect(isTooLarge(clickhouse('TIMEOUT_EXCEEDED', '159', 'Timeout exceeded: elapsed 30 seconds'))).toBe(false);
  });

  it('tells a row ClickHouse cannot store (and our own bugs) from an outage', () => {
    expect(isDataError(clickhouse('CANNOT_PARSE_TEXT', '6', 'Cannot parse string'))).toBe(true);
    expect(isDataError(clickhouse('DECIMAL_OVERFLOW', '407', 'Decimal math overflow'))).toBe(true);
    expect(isDataError(new TypeError('row.values is undefined'))).toBe(true);
    expect(isDataError(clickhouse('NETWORK_ERROR', '210', 'Connection reset by peer'))).toBe(false);
    expect(isDataError(clickhouse('MEMORY_LIMIT_EXCEEDED', '241', 'Memory limit (total) exceeded'))).toBe(false);
  });
});
