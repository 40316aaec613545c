import { inSends, isRecordAtFault } from './emission';

/** What the processor does with a failed send: isolate a record (its own fault) or wait (the infrastructure's). */
describe('isRecordAtFault', () => {
  const kafka = (type: string) => Object.assign(new Error(type), { type });

  it('blames the record for what no retry or broker changes, however deeply kafkajs wrapped it', () => {
    expect(isRecordAtFault(kafka('MESSAGE_TOO_LARGE'))).toBe(true);
    expect(isRecordAtFault(kafka('INVALID_RECORD'))).toBe(true);
    expect(
      isRecordAtFault(
        new Error('retries exceeded', { cause: new Error('wrapped', { cause: kafka('CORRUPT_MESSAGE') }) }),
      ),
    ).toBe(true);
    expect(isRecordAtFault(new TypeError('cannot encode row'))).toBe(true);
  });

  it('waits out the infrastructure: no leader, a broker down, an ACL not yet granted', () => {
    for (const type of [
      'LEADER_NOT_AVAILABLE',
      'NOT_LEADER_FOR_PARTITION',
      'TOPIC_AUTHORIZATION_FAILED',
      'REQUEST_TIMED_OUT',
    ])
      expect(isRecordAtFault(kafka(type))).toBe(false);
    expect(isRecordAtFault(new Error('Connection error: connect ECONNREFUSED'))).toBe(false);
  });
});

describe('inSends', () => {
  const sizes = (sends: number[][]) => sends.map((s) => s.reduce((a, b) => a + b, 0));

  it('ends a send before the record that would pass the record count or the bytes, keeping the order', () => {
    const records = [40, 40, 40, 10, 10, 10, 10, 90, 5];
    const sends = [...inSends(records, (r) => r, { maxRecords: 3, maxBytes: 100 })];
    expect(sends).toEqual([
      [40, 40],
      [40, 10, 10],
      [10, 10],
      [90, 5],
    ]);
    expect(sends.flat()).toEqual(records);
    expect(Math.max(...sizes(sends))).toBeLessThanOrEqual(100);
  });

  it('sends a record over the byte bound alone, and nothing for no records', () => {
    expect([...inSends([10, 500, 10], (r) => r, { maxRecords: 10, maxBytes: 100 })]).toEqual([[10], [500], [10]]);
    expect([...inSends([], (r: number) => r, { maxRecords: 10, maxBytes: 100 })]).toEqual([]);
  });

  it('reads its input lazily: a send is out before the next record is made', () => {
    const made: number[] = [];
    function* records() {
      for (let i = 0; i < 6; i++) {
        made.push(i);
        yield i;
      }
    }
    const sends = inSends(records(), () => 1, { maxRecords: 2, maxBytes: 100 });
    expect(sends.next().value).toEqual([0, 1]);
    expect(made).toEqual([0, 1, 2]); // the third record ended the first send
  });
});
